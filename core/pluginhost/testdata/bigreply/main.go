// Command bigreply is a transport plugin whose Send fails with a 50 MB
// reply, error text and remedy, and whose Check fails the same way, to
// test that neither the SDK nor the agent carries that much.
package main

import (
	"context"
	"errors"
	"strings"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

const size = 50 << 20

type bigreply struct{ sdk.Transport }

func huge() *sdk.DeliveryError {
	s := strings.Repeat("x", size)
	return &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451", Reply: s, Remedy: s, Err: errors.New(s)}
}

func (bigreply) Check(context.Context) error { return huge() }

func (bigreply) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	if len(msgs) > 1 {
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Receipt: strings.Repeat("r", size/len(msgs))}
		}
		return out, nil
	}
	return nil, huge()
}

func main() { sdk.Serve(bigreply{basic.New("bigreply")}) }
