package sdk_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// callCounter fails the calls whose number (from 1) is in fail.
type callCounter struct {
	fakeTransport
	calls [][]string
	fail  map[int]bool
}

func (c *callCounter) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	var ids []string
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		ids = append(ids, m.ID)
		out[i] = sdk.Result{MessageID: m.ID, Receipt: "250 ok"}
	}
	c.calls = append(c.calls, ids)
	if c.fail[len(c.calls)] {
		return nil, sdk.TemporaryError(errors.New("connection refused"), "", "Check the server.")
	}
	return out, nil
}

func big(id string, n int) *sdk.Message {
	return &sdk.Message{ID: id, Attachments: []sdk.Attachment{{Filename: "f", Data: bytes.Repeat([]byte("x"), n)}}}
}

// TestGRPC_SendSplitsToTheLimit: a server made without Serve reports no
// limit, so the client assumes gRPC's 4 MiB and splits a larger batch.
func TestGRPC_SendSplitsToTheLimit(t *testing.T) {
	msgs := []*sdk.Message{big("a", 3<<20), big("b", 3<<20), big("c", 5<<20), big("d", 512<<10)}

	t.Run("second call fails", func(t *testing.T) {
		impl := &callCounter{fail: map[int]bool{2: true}}
		res, err := connect(t, impl).Send(context.Background(), msgs)
		if err != nil {
			t.Fatal(err)
		}
		if len(impl.calls) != 2 || len(impl.calls[0]) != 1 || len(impl.calls[1]) != 2 {
			t.Fatalf("calls = %v; want [a] [b d]", impl.calls)
		}
		if res[0].Err != nil || res[0].Receipt == "" {
			t.Errorf("a: %+v", res[0])
		}
		if !sdk.IsTemporary(res[1].Err) || !sdk.IsTemporary(res[3].Err) {
			t.Errorf("b, d: %v, %v; want the second call's temporary error", res[1].Err, res[3].Err)
		}
		if sdk.IsTemporary(res[2].Err) || res[2].MessageID != "c" {
			t.Errorf("c (5 MiB): %+v; want a permanent error", res[2])
		}
	})

	t.Run("first call fails", func(t *testing.T) {
		impl := &callCounter{fail: map[int]bool{1: true}}
		_, err := connect(t, impl).Send(context.Background(), []*sdk.Message{msgs[0], msgs[1]})
		if !sdk.IsTemporary(err) || len(impl.calls) != 1 {
			t.Errorf("err = %v after %d calls; want the first call's error for the whole batch, and no second call", err, len(impl.calls))
		}
	})
}
