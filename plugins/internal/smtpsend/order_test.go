package smtpsend

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestSender_pool_sendsInArrivalOrder: two Sends that arrive together
// (as the agent's two batches in flight do) go out one after the other,
// the first over every connection and the second as the first runs out
// of messages, rather than half and half, which makes them end together
// and leaves every connection idle until the agent sends the next two.
// Of the second Send's messages, at most max_connections-1 (those on the
// connections the first has finished with while its last messages are
// still going out) may reach the server before the first Send's last.
func TestSender_pool_sendsInArrivalOrder(t *testing.T) {
	t.Parallel()
	const maxConns, per = 4, 40
	for _, warmed := range []bool{false, true} {
		t.Run(fmt.Sprintf("warm=%v", warmed), func(t *testing.T) {
			t.Parallel()
			srv, s := poolSender(t, testserver.Options{}, maxConns, time.Minute)
			if warmed {
				warm(t, srv, s, maxConns)
			}
			// The server takes a moment for each message, as a real one
			// does to queue it, so that the Sends overlap.
			srv.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
				if stage == testserver.StageData {
					time.Sleep(time.Millisecond)
				}
				return nil
			})
			for round := range 10 {
				srv.Reset()
				start := make(chan struct{})
				var wg sync.WaitGroup
				for _, name := range []string{"x", "y"} {
					msgs := messages(fmt.Sprintf("r%d%s-", round, name), per)
					wg.Go(func() {
						<-start
						results, err := s.Send(t.Context(), msgs)
						if err != nil {
							t.Errorf("Send: %v", err)
							return
						}
						for i, r := range results {
							if r.Err != nil {
								t.Errorf("result %d: %v", i, r.Err)
							}
						}
					})
				}
				close(start)
				wg.Wait()
				got := srv.Messages()
				if len(got) != 2*per {
					t.Fatalf("round %d: server received %d messages, want %d", round, len(got), 2*per)
				}
				send := func(i int) string {
					if bytes.Contains(got[i].Data, fmt.Appendf(nil, "r%dx-", round)) {
						return "x"
					}
					return "y"
				}
				// The Send whose last message came first, and where.
				lastOf := map[string]int{}
				for i := range got {
					lastOf[send(i)] = i
				}
				first, last := "x", lastOf["x"]
				if lastOf["y"] < last {
					first, last = "y", lastOf["y"]
				}
				early := 0 // the second Send's messages before it
				for i := range last {
					if send(i) != first {
						early++
					}
				}
				if early > 2*maxConns {
					t.Errorf("round %d: %d messages of the second Send reached the server before the first Send's last, want at most %d: the Sends shared the connections", round, early, 2*maxConns)
				}
				if n := srv.Connections(); n > maxConns && !warmed {
					t.Errorf("round %d: %d connections, want at most %d", round, n, maxConns)
				}
			}
		})
	}
}

// TestPool_grantsInRequestOrder: slots are granted in the order they were
// asked for, a Send's several at once; a request withdrawn when its
// context ends is skipped, and one granted meanwhile is given back.
func TestPool_grantsInRequestOrder(t *testing.T) {
	t.Parallel()
	p := newPool(2, time.Minute, time.Second)
	granted := func(g *grant) bool {
		select {
		case <-g.ready:
			return true
		default:
			return false
		}
	}
	a := p.request(2)
	b := p.request(2)
	c := p.request(1)
	if !granted(a[0]) || !granted(a[1]) || granted(b[0]) || granted(b[1]) || granted(c[0]) {
		t.Fatal("want the first two slots granted to the first request, the others waiting")
	}
	// One of b's requests is withdrawn.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.wait(ctx, b[1]); err == nil {
		t.Fatal("wait with an ended context took a slot that was not free")
	}
	p.release() // a's first
	if !granted(b[0]) || granted(c[0]) {
		t.Fatal("a released slot went past the first request waiting")
	}
	p.release() // a's second: b[1] was withdrawn, so c
	if !granted(c[0]) {
		t.Fatal("the withdrawn request held its place")
	}
	// A slot granted at once is taken even with an ended context.
	p.release()
	p.release()
	d := p.request(1)
	if err := p.wait(ctx, d[0]); err != nil {
		t.Fatalf("wait on a slot granted at once: %v", err)
	}
	p.release()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used != 0 || len(p.waiting) != 0 {
		t.Errorf("%d slots used, %d waiting after all were given back", p.used, len(p.waiting))
	}
}
