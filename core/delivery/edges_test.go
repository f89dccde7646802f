package delivery

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestPolicy_withDefaultsEdges: the values at the edge of each valid range
// are kept as configured.
func TestPolicy_withDefaultsEdges(t *testing.T) {
	base := Policy{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.5, MaxAge: time.Hour, BatchSize: 5, Concurrency: 2}
	tests := []struct {
		name   string
		mutate func(*Policy)
		check  func(Policy) bool
	}{
		{name: "multiplier 1 stays 1 (a constant delay)", mutate: func(p *Policy) { p.Multiplier = 1 }, check: func(p Policy) bool { return p.Multiplier == 1 }},
		{name: "multiplier just below 1 takes the default", mutate: func(p *Policy) { p.Multiplier = 0.999 }, check: func(p Policy) bool { return p.Multiplier == 2 }},
		{name: "max equal to initial stays", mutate: func(p *Policy) { p.Max = p.Initial }, check: func(p Policy) bool { return p.Max == time.Second }},
		{name: "max one below initial is raised to it", mutate: func(p *Policy) { p.Max = p.Initial - 1 }, check: func(p Policy) bool { return p.Max == time.Second }},
		{name: "jitter 0 stays 0", mutate: func(p *Policy) { p.Jitter = 0 }, check: func(p Policy) bool { return p.Jitter == 0 }},
		{name: "jitter 1 stays 1", mutate: func(p *Policy) { p.Jitter = 1 }, check: func(p Policy) bool { return p.Jitter == 1 }},
		{name: "NaN jitter is none", mutate: func(p *Policy) { p.Jitter = math.NaN() }, check: func(p Policy) bool { return p.Jitter == 0 }},
		{name: "infinite jitter is 1", mutate: func(p *Policy) { p.Jitter = math.Inf(1) }, check: func(p Policy) bool { return p.Jitter == 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.mutate(&p)
			if got := p.withDefaults(); !tt.check(got) {
				t.Errorf("withDefaults() = %+v", got)
			}
		})
	}
}

// TestPolicy_backoffEdges: a delay exactly at Max is Max; the jitter
// never makes a delay negative.
func TestPolicy_backoffEdges(t *testing.T) {
	p := Policy{Initial: 10 * time.Second, Max: 40 * time.Second, Multiplier: 2}
	if got := p.backoff(3, 0.5); got != 40*time.Second {
		t.Errorf("backoff(3) = %v, want 40s: exactly the max", got)
	}
	p.Jitter = 1
	if got := p.backoff(1, 0); got != 0 {
		t.Errorf("backoff with full jitter at r=0 = %v, want 0", got)
	}
}

// TestCapped_edges: each part of a delivery error is kept whole at exactly
// its limit and cut, with a marker, one byte over it, whatever the other
// parts are; a cut cause still unwraps to the original.
func TestCapped_edges(t *testing.T) {
	cause := func(n int) error { return errors.New(strings.Repeat("e", n)) }
	tests := []struct {
		name  string
		de    sdk.DeliveryError
		field func(*sdk.DeliveryError) string
		max   int
	}{
		{name: "code", de: sdk.DeliveryError{Code: strings.Repeat("5", MaxCodeBytes)}, field: func(d *sdk.DeliveryError) string { return d.Code }, max: MaxCodeBytes},
		{name: "reply", de: sdk.DeliveryError{Reply: strings.Repeat("r", MaxReplyBytes)}, field: func(d *sdk.DeliveryError) string { return d.Reply }, max: MaxReplyBytes},
		{name: "remedy", de: sdk.DeliveryError{Remedy: strings.Repeat("m", MaxRemedyBytes)}, field: func(d *sdk.DeliveryError) string { return d.Remedy }, max: MaxRemedyBytes},
		{name: "cause", de: sdk.DeliveryError{Err: cause(MaxErrorBytes)}, field: func(d *sdk.DeliveryError) string { return d.Err.Error() }, max: MaxErrorBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.de
			at.Kind = sdk.Temporary
			got := capped(&at)
			if s := tt.field(got); s != tt.field(&at) {
				t.Errorf("%s of exactly %d bytes became %d bytes: %q...", tt.name, tt.max, len(s), s[max(0, len(s)-50):])
			}

			over := at
			switch tt.name {
			case "code":
				over.Code += "5"
			case "reply":
				over.Reply += "r"
			case "remedy":
				over.Remedy += "m"
			case "cause":
				over.Err = cause(MaxErrorBytes + 1)
			}
			got = capped(&over)
			s := tt.field(got)
			if len(s) > tt.max || !strings.Contains(s, "[cut by tocsin:") {
				t.Errorf("%s of %d bytes kept as %d bytes, want at most %d with the marker", tt.name, tt.max+1, len(s), tt.max)
			}
			if got.Kind != sdk.Temporary {
				t.Errorf("kind %v changed by the cut", got.Kind)
			}
			if over.Err != nil && !errors.Is(got, over.Err) {
				t.Error("the cut cause does not unwrap to the original")
			}
		})
	}
}

// TestEntrySize_coversSenderAndDate: the size the dispatcher plans a batch
// with is never below the message a transport builds from the entry, which
// adds a sender and a date, and is at most 256 bytes above it.
func TestEntrySize_coversSenderAndDate(t *testing.T) {
	ft := newTransports().add("smtp", true, nil)
	for _, e := range []*outbox.Entry{
		entry("small@tocsin.test", "smtp"),
		withAttachment(entry("large@tocsin.test", "smtp"), 300<<10),
	} {
		m, err := ft.build("smtp", e)
		if err != nil {
			t.Fatal(err)
		}
		built, planned := sdk.MessageSize(m), entrySize(e)
		if planned < built || planned > built+256 {
			t.Errorf("%s: planned %d bytes for a message of %d", e.ID, planned, built)
		}
	}
}

// TestEarliest: the earlier of two times, a zero time meaning none.
func TestEarliest(t *testing.T) {
	a, b := t0, t0.Add(time.Second)
	var zero time.Time
	tests := []struct{ x, y, want time.Time }{
		{zero, zero, zero},
		{a, zero, a},
		{zero, a, a},
		{a, b, a},
		{b, a, a},
	}
	for _, tt := range tests {
		if got := earliest(tt.x, tt.y); !got.Equal(tt.want) {
			t.Errorf("earliest(%v, %v) = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
}

// TestDispatcher_Run_longestErrorKept: the longest error a plugin can make
// the dispatcher keep (a code and a cause each at its limit) is stored
// whole in the entry's last attempt, not cut a second time.
func TestDispatcher_Run_longestErrorKept(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now, entry("a@tocsin.test", "smtp"))
	de := &sdk.DeliveryError{Kind: sdk.Temporary, Code: strings.Repeat("4", MaxCodeBytes), Err: errors.New(strings.Repeat("x", MaxErrorBytes))}
	ft := newTransports().add("smtp", true, fail(de))
	d := start(t, q, ft, fixed, nil, WithClock(clk.Now))
	eventually(t, "the attempt to be saved", func() bool { return q.get("a@tocsin.test").Attempts == 1 })
	settle(t, d.Dispatcher, ft)
	if got, want := q.get("a@tocsin.test").Last.Error, de.Error(); got != want {
		t.Errorf("stored error of %d bytes, want the whole %d", len(got), len(want))
	}
}
