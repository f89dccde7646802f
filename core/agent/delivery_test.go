package agent

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// hugeTransports fails every message with err.
type hugeTransports struct{ err error }

func (h hugeTransports) From(string) (sdk.Address, error) {
	return sdk.Address{Address: "a@example.com"}, nil
}

func (h hugeTransports) Send(_ context.Context, _ string, msgs []*sdk.Message) ([]sdk.Result, error) {
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		out[i] = sdk.Result{MessageID: m.ID, Err: h.err}
	}
	return out, nil
}

func (hugeTransports) Batch(string) bool                { return true }
func (hugeTransports) Rate(string) delivery.Rate        { return delivery.Rate{} }
func (hugeTransports) MaxBatchBytes(string) int         { return 0 }
func (hugeTransports) SendTimeout(string) time.Duration { return 0 }

// lockedBuffer is a bytes.Buffer a logger and a test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// TestDelivery_hugeReply: a plugin answering with a 50 MB reply, cause and
// remedy leaves a small attempt in the outbox and a small WARN line.
func TestDelivery_hugeReply(t *testing.T) {
	big := strings.Repeat("451-4.3.0 so much to say ", (50<<20)/25)
	ob, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	e := &outbox.Entry{ID: "huge@tocsin.test", Rule: "disk", Event: "fire", Contact: "ops", Via: []string{"relay"},
		Mail: outbox.Mail{To: []sdk.Address{{Address: "ops@example.com"}}, Subject: "disk", Text: "full"}}
	if err := ob.Enqueue(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	obs := &deliveryLog{logger: logger}
	tr := hugeTransports{err: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451 4.3.0", Reply: big, Remedy: big, Err: errors.New(big)}}
	d := delivery.New(ob, tr, delivery.DefaultPolicy(), obs, logger)
	go func() { _ = d.Run(context.Background()) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	var got *outbox.Entry
	for {
		got, err = ob.Get(e.ID)
		if err == nil && got.Last != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attempt recorded: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(got.Last.Reply) + len(got.Last.Error) + len(got.Last.Remedy); n > 12<<10 {
		t.Errorf("the stored attempt holds %d bytes of reply, error and remedy; want at most 12 KiB", n)
	}
	if !strings.Contains(got.Last.Reply, "[cut by tocsin:") {
		t.Errorf("the stored reply does not say it was cut")
	}
	for logs.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.Len(); n == 0 || n > 16<<10 {
		t.Errorf("the log holds %d bytes; want one WARN line of at most 16 KiB", n)
	}
}
