package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestAgent_enqueueWarmsTransports: storing notifications asks the plugin
// of each transport that is up to get ready for them, with an empty Send
// per 4 messages (at most 4), which sends nothing; a transport that is
// not up is not asked. The notifications then go out as always.
func TestAgent_enqueueWarmsTransports(t *testing.T) {
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "agent.hcl"), "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	fs.setBroken("broken", true)
	var (
		mu     sync.Mutex
		empty  int
		normal int
	)
	fs.plugins["good"] = &fakeTransport{send: func(msgs []*sdk.Message) ([]sdk.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if len(msgs) == 0 {
			empty++
			return []sdk.Result{}, nil
		}
		normal += len(msgs)
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Receipt: "250 ok"}
		}
		return out, nil
	}}
	a, diags := startFake(t, cfg, fs, ft)
	if a == nil {
		t.Fatalf("the agent did not start: %s", diags.Error())
	}
	tests := []struct {
		good, bad  int
		wantWarmup int
	}{
		{1, 0, 1},
		{9, 2, 3},
		{40, 0, 4},
		{0, 3, 0},
	}
	sent := 0
	for _, tt := range tests {
		t.Run(fmt.Sprintf("good=%d,bad=%d", tt.good, tt.bad), func(t *testing.T) {
			mu.Lock()
			empty = 0
			mu.Unlock()
			var es []*outbox.Entry
			for range tt.good {
				es = append(es, contactEntry(t, a, "good", outbox.Mail{Subject: "s"}))
			}
			for range tt.bad {
				es = append(es, contactEntry(t, a, "bad", outbox.Mail{Subject: "s"}))
			}
			if err := a.enqueue(context.Background(), nil, es); err != nil {
				t.Fatalf("enqueue: %v", err)
			}
			sent += tt.good
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				e, n := empty, normal
				mu.Unlock()
				if e == tt.wantWarmup && n == sent {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d empty Sends and %d messages sent, want %d and %d", e, n, tt.wantWarmup, sent)
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond) // no more warm-ups come
			mu.Lock()
			defer mu.Unlock()
			if empty != tt.wantWarmup {
				t.Errorf("%d empty Sends, want %d", empty, tt.wantWarmup)
			}
		})
	}
}
