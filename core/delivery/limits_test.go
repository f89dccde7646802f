package delivery

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// errorObserver keeps the errors the observer was given.
type errorObserver struct {
	NopObserver
	mu   sync.Mutex
	errs []*sdk.DeliveryError
}

func (o *errorObserver) Retried(_ *outbox.Entry, _ string, err *sdk.DeliveryError, _ time.Time) {
	o.mu.Lock()
	o.errs = append(o.errs, err)
	o.mu.Unlock()
}

func (o *errorObserver) DeadLettered(_ *outbox.Entry, err *sdk.DeliveryError) {
	o.mu.Lock()
	o.errs = append(o.errs, err)
	o.mu.Unlock()
}

func (o *errorObserver) all() []*sdk.DeliveryError {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*sdk.DeliveryError(nil), o.errs...)
}

// TestDispatcher_Run_hugeReply: a transport that answers with a 50 MB
// reply, error text and remedy leaves a small attempt in the outbox and
// gives the observer (which logs) a small error, each cut with a marker.
func TestDispatcher_Run_hugeReply(t *testing.T) {
	const huge = 50 << 20
	big := strings.Repeat("451 4.3.0 the server says a lot ", huge/32)
	tests := []struct {
		name string
		err  error
	}{
		{name: "reply, cause and remedy", err: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451 4.3.0", Reply: big, Remedy: big, Err: errors.New(big)}},
		{name: "reply only", err: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451", Reply: big}},
		{name: "an unclassified error", err: errors.New(big)},
		{name: "a permanent error", err: &sdk.DeliveryError{Kind: sdk.Permanent, Code: strings.Repeat("5", huge/8), Reply: big, Remedy: big}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
			ft := newTransports().add("smtp", true, fail(tt.err))
			obs := &errorObserver{}
			d := start(t, q, ft, fixed, obs, WithClock(clk.Now))
			eventually(t, "the attempt to be saved", func() bool { return q.get("a@tocsin.test").TotalAttempts == 1 })
			settle(t, d.Dispatcher, ft)
			last := q.get("a@tocsin.test").Last
			if last == nil {
				t.Fatal("no attempt recorded")
			}
			for _, f := range []struct {
				name  string
				value string
				max   int
			}{
				{"reply", last.Reply, MaxReplyBytes},
				{"error", last.Error, MaxErrorBytes + 200},
				{"remedy", last.Remedy, MaxRemedyBytes},
				{"code", last.Code, MaxCodeBytes},
			} {
				if len(f.value) > f.max {
					t.Errorf("stored %s is %d bytes, want at most %d, marker included", f.name, len(f.value), f.max)
				}
			}
			if !strings.Contains(last.Error, "[cut by tocsin:") {
				t.Errorf("stored error %q... says nothing of the cut", last.Error[:min(len(last.Error), 100)])
			}
			errs := obs.all()
			if len(errs) != 1 {
				t.Fatalf("%d observer events, want 1", len(errs))
			}
			de := errs[0]
			total := len(de.Error()) + len(de.Reply) + len(de.Remedy) + len(de.Code)
			if total > 16<<10 {
				t.Errorf("the observer got %d bytes of error, reply, remedy and code; want at most 16 KiB", total)
			}
			if de.Temporary() != sdk.IsTemporary(tt.err) {
				t.Errorf("kind %v changed by the cut", de.Kind)
			}
		})
	}
}
