// Command rotator is a transport plugin that behaves as one whose
// provider issues a new refresh token with each access token: every Check
// replaces its credential rt-N with rt-N+1 and hands the new one to the
// agent through SaveCredential. Every Send accepts its messages with the
// receipt "configured with CREDENTIAL", naming the credential its last
// Configure gave it, so a test can tell which one a restarted plugin got.
// Describe is smtp-basic's.
package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

type rotator struct {
	sdk.Transport

	mu         sync.Mutex
	save       func(string)
	configured string // the credential Configure gave
	current    string // the newest, after rotations
}

func (r *rotator) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.save, r.configured, r.current = cfg.SaveCredential, cfg.Credential, cfg.Credential
	return nil, nil
}

func (r *rotator) Check(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := strconv.Atoi(strings.TrimPrefix(r.current, "rt-"))
	if err != nil || !strings.HasPrefix(r.current, "rt-") {
		return sdk.PermanentError(fmt.Errorf("credential %q is not rt-N", r.current), "", "")
	}
	r.current = "rt-" + strconv.Itoa(n+1)
	r.save(r.current)
	return nil
}

func (r *rotator) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		out[i] = sdk.Result{MessageID: m.ID, Receipt: "configured with " + r.configured}
	}
	return out, nil
}

func main() { sdk.Serve(&rotator{Transport: basic.New("rotator")}) }
