package smtpsend

import (
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// emptySends makes n Sends of no messages at once (the agent's warm-up),
// each of which must return no results and no error.
func emptySends(t *testing.T, s *Sender, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			results, err := s.Send(t.Context(), nil)
			if err != nil || results == nil || len(results) != 0 {
				t.Errorf("empty Send: %v, %d results; want no results and no error", err, len(results))
			}
		})
	}
	wg.Wait()
}

// TestSender_warm: a Send of no messages dials a logged-in connection when
// the pool has none idle and leaves it idle for the Send that follows;
// several at once dial one each, never more than max_connections, and
// nothing is sent.
func TestSender_warm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		maxConns int
		before   int // idle connections before
		warmups  int
		want     int // connections open after
	}{
		{"empty pool, one", 4, 0, 1, 1},
		{"empty pool, four at once", 4, 0, 4, 4},
		{"bound", 2, 0, 4, 2},
		{"one idle already", 4, 1, 1, 1},
		{"full pool", 2, 2, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.StartT(t, testserver.Options{Users: map[string]string{"u": "p"}, AllowInsecureAuth: true})
			s := newSender(t, Options{
				Host: srv.Host(), Port: srv.Port(), Security: SecurityNone,
				Auth: gomail.SMTPAuthPlain, Username: "u", Secret: secret("p"),
				MaxConnections: tt.maxConns, IdleTimeout: time.Minute,
			})
			t.Cleanup(func() { _ = s.Close() })
			if tt.before > 0 {
				warm(t, srv, s, tt.before)
			}
			logins := 0
			var mu sync.Mutex
			// Each login waits until every login the warm-ups should
			// make has begun: a warm-up that found a connection already
			// idle would dial none, so warm-ups that start one after the
			// other (a slow machine) would dial fewer than at once.
			srv.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
				if stage != testserver.StageAuth {
					return nil
				}
				mu.Lock()
				logins++
				mu.Unlock()
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
					mu.Lock()
					n := logins
					mu.Unlock()
					if n >= tt.want-tt.before {
						break
					}
				}
				return nil
			})
			emptySends(t, s, tt.warmups)
			if n := len(srv.Messages()); n != 0 {
				t.Fatalf("the warm-up sent %d messages", n)
			}
			if open, idle, peak := s.pool.counts(); open != tt.want || idle != tt.want || peak > tt.maxConns {
				t.Errorf("after the warm-up: %d open, %d idle, at most %d at once; want %d, %d, at most %d", open, idle, peak, tt.want, tt.want, tt.maxConns)
			}
			if n := srv.Open(); n != tt.want {
				t.Errorf("the server has %d connections open, want %d", n, tt.want)
			}
			mu.Lock()
			if want := tt.want - tt.before; logins != want {
				t.Errorf("%d logins during the warm-up, want %d: its connections are logged in", logins, want)
			}
			mu.Unlock()
			// The next Send uses them: a batch small enough for the
			// connections warmed dials none.
			dialled := srv.Connections()
			burst(t, s, "after", 4*tt.want, 1)
			if n := srv.Connections() - dialled; n != 0 {
				t.Errorf("the Send after the warm-up dialled %d connections, want the warmed ones used", n)
			}
		})
	}
}

// TestSender_warm_dialFails: a warm-up whose dial fails returns no error
// (the Send that follows reports it) and leaves the pool as it was.
func TestSender_warm_dialFails(t *testing.T) {
	t.Parallel()
	s := newSender(t, Options{Host: "127.0.0.1", Port: closedPort(t), Security: SecurityNone, MaxConnections: 2})
	t.Cleanup(func() { _ = s.Close() })
	emptySends(t, s, 2)
	if open, idle, _ := s.pool.counts(); open != 0 || idle != 0 {
		t.Errorf("after failed warm-ups: %d open, %d idle; want none", open, idle)
	}
	if _, err := s.Send(t.Context(), messages("m", 1)); err == nil {
		t.Error("Send to a closed port succeeded")
	}
}
