package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// withAttachment returns e carrying an attachment of n bytes.
func withAttachment(e *outbox.Entry, n int) *outbox.Entry {
	e.Mail.Attachments = []sdk.Attachment{{Filename: "tail.log", ContentType: "text/plain", Data: make([]byte, n)}}
	return e
}

// TestDispatcher_Run_batchBytes: a lane never sends a batch over its
// transport's byte budget, however many messages the batch size allows,
// and always sends at least one.
func TestDispatcher_Run_batchBytes(t *testing.T) {
	const budget = 3 << 20
	clk := newClock()
	var all []*outbox.Entry
	for i := range 30 {
		all = append(all, withAttachment(entry(fmt.Sprintf("big-%02d@tocsin.test", i), "smtp"), 256<<10))
	}
	q := newQueue(clk.Now, all...)
	var sizes []int
	ft := newTransports().add("smtp", true, nil)
	ft.maxBytes["smtp"] = budget
	ft.send["smtp"] = func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		n := 0
		for _, m := range msgs {
			n += sdk.MessageSize(m)
		}
		ft.mu.Lock()
		sizes = append(sizes, n)
		ft.mu.Unlock()
		return accept(ctx, msgs)
	}
	d := start(t, q, ft, fixed, nil, WithClock(clk.Now))
	eventually(t, "the outbox to empty", func() bool { return q.len() == 0 })
	settle(t, d.Dispatcher, ft)
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(sizes) < 3 {
		t.Errorf("%d sends of %v bytes, want at least 3 for 30 messages of 256 KiB under %d bytes", len(sizes), sizes, budget)
	}
	for _, n := range sizes {
		if n > budget {
			t.Errorf("a send of %d bytes, over the budget of %d", n, budget)
		}
	}
	q.check(t)
}

// TestDispatcher_Run_tooLarge: a message over its transport's budget
// fails there permanently, with a remedy naming its size and the limit,
// and goes to the next transport of its chain, which takes it; it does not
// hold back the others.
func TestDispatcher_Run_tooLarge(t *testing.T) {
	clk := newClock()
	q := newQueue(clk.Now,
		withAttachment(entry("huge@tocsin.test", "small", "large"), 2<<20),
		entry("ok@tocsin.test", "small"),
	)
	ft := newTransports().add("small", true, nil).add("large", true, nil)
	ft.maxBytes["small"] = 1 << 20
	ft.maxBytes["large"] = 8 << 20
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now))
	eventually(t, "the outbox to empty", func() bool { return q.len() == 0 })
	settle(t, d.Dispatcher, ft)

	for _, c := range ft.callsTo("small") {
		for _, id := range c {
			if id == "huge@tocsin.test" {
				t.Errorf("the oversized message was sent through small: %v", c)
			}
		}
	}
	if got := ft.callsTo("large"); len(got) != 1 || got[0][0] != "huge@tocsin.test" {
		t.Errorf("large sent %v, want the oversized message", got)
	}
	var fell []event
	for _, ev := range rec.all() {
		if ev.kind == "fellback" {
			fell = append(fell, ev)
		}
	}
	if len(fell) != 1 || fell[0].id != "huge@tocsin.test" || fell[0].to != "large" {
		t.Errorf("fallbacks %+v, want huge from small to large", fell)
	}
	q.check(t)
}

// TestDispatcher_Run_builtLargerWaits: a message its transport built
// larger than its entry said (a footer, a signature), which no longer fits
// in the batch's byte budget beside the others, waits for the next batch,
// unchanged: it is sent then, neither dropped nor counted as sent nor as
// a failed attempt.
func TestDispatcher_Run_builtLargerWaits(t *testing.T) {
	const budget = 1 << 20
	clk := newClock()
	q := newQueue(clk.Now,
		withAttachment(entry("a@tocsin.test", "smtp"), 400<<10),
		withAttachment(entry("b@tocsin.test", "smtp"), 400<<10),
	)
	var mu sync.Mutex
	var sizes []int
	ft := newTransports().add("smtp", true, func(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
		n := 0
		for _, m := range msgs {
			n += sdk.MessageSize(m)
		}
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
		return accept(ctx, msgs)
	})
	ft.maxBytes["smtp"] = budget
	ft.pad["smtp"] = 200 << 10 // 600 KiB each as built: one per Send
	rec := &recorder{}
	d := start(t, q, ft, fixed, rec, WithClock(clk.Now))

	eventually(t, "both entries to leave the outbox", func() bool { return q.len() == 0 })
	settle(t, d.Dispatcher, ft)
	if got := ft.callsTo("smtp"); !slices.Equal(slices.Concat(got...), []string{"a@tocsin.test", "b@tocsin.test"}) || len(got) != 2 {
		t.Errorf("Sends %v, want a, then b in a Send of its own", got)
	}
	mu.Lock()
	for _, n := range sizes {
		if n > budget {
			t.Errorf("a Send of %d bytes, over the budget of %d", n, budget)
		}
	}
	mu.Unlock()
	if n := rec.count("sent"); n != 2 || len(rec.all()) != 2 {
		t.Errorf("events %+v, want two sent and nothing else", rec.all())
	}
	q.check(t)
}

func TestTooLargeError(t *testing.T) {
	de := tooLarge("small", 2<<20+123, 1<<20)
	if de.Temporary() {
		t.Error("temporary, want permanent")
	}
	if !errors.Is(de, ErrTooLarge) || !errors.Is(de, ErrBuild) {
		t.Errorf("%v is not ErrTooLarge and ErrBuild", de)
	}
	for _, want := range []string{"2097275 bytes", "1048576"} {
		if !strings.Contains(de.Error()+de.Remedy, want) {
			t.Errorf("error %q, remedy %q: no %q", de.Error(), de.Remedy, want)
		}
	}
	if !strings.Contains(de.Remedy, "2.0 MiB") || !strings.Contains(de.Remedy, "1.0 MiB") {
		t.Errorf("remedy %q names neither size in MiB", de.Remedy)
	}
}
