package smtpsend

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// messages returns n messages with IDs prefix0@node, prefix1@node, ...
func messages(prefix string, n int) []*sdk.Message {
	out := make([]*sdk.Message, n)
	for i := range out {
		out[i] = message(fmt.Sprintf("%s%d@node", prefix, i))
	}
	return out
}

// burst sends n messages as sends Send calls at once and fails the test
// unless every message is delivered with a result of its own, in order.
func burst(t *testing.T, s *Sender, prefix string, n, sends int) {
	t.Helper()
	var wg sync.WaitGroup
	per := n / sends
	for k := range sends {
		msgs := messages(fmt.Sprintf("%s%d-", prefix, k), per)
		wg.Go(func() {
			results, err := s.Send(t.Context(), msgs)
			if err != nil {
				t.Errorf("Send: %v", err)
				return
			}
			for i, r := range results {
				if r.MessageID != msgs[i].ID || r.Err != nil || r.Receipt == "" {
					t.Errorf("result %d: %+v, want a receipt for %s", i, r, msgs[i].ID)
				}
			}
		})
	}
	wg.Wait()
}

// eventually waits until cond holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// warm fills the pool of s with n connections: n one-message Sends at
// once, each held at MAIL until the server has n connections open.
func warm(t *testing.T, srv *testserver.Server, s *Sender, n int) {
	t.Helper()
	srv.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		deadline := time.Now().Add(10 * time.Second)
		for stage == testserver.StageMail && srv.Open() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	defer srv.SetFault(nil)
	burst(t, s, "warm", n, n)
	if _, idle, _ := s.pool.counts(); idle != n {
		t.Fatalf("%d idle connections after warming, want %d", idle, n)
	}
	srv.Reset()
}

// poolSender starts a plain test server and a Sender with a pool of max
// connections.
func poolSender(t *testing.T, opts testserver.Options, maxConns int, idle time.Duration) (*testserver.Server, *Sender) {
	t.Helper()
	srv := testserver.StartT(t, opts)
	s := newSender(t, Options{
		Host: srv.Host(), Port: srv.Port(), Security: SecurityNone,
		MaxConnections: maxConns, IdleTimeout: idle,
	})
	t.Cleanup(func() { _ = s.Close() })
	return srv, s
}

func TestSender_pool_bound(t *testing.T) {
	t.Parallel()
	for _, maxConns := range []int{1, 3, 4} {
		t.Run(fmt.Sprint(maxConns), func(t *testing.T) {
			t.Parallel()
			srv, s := poolSender(t, testserver.Options{}, maxConns, time.Minute)
			// 200 messages in 8 Sends at once, then 200 more as 4.
			burst(t, s, "a", 200, 8)
			burst(t, s, "b", 200, 4)
			if n := len(srv.Messages()); n != 400 {
				t.Errorf("server received %d messages, want 400", n)
			}
			if n := srv.Connections(); n > maxConns {
				t.Errorf("%d connections opened, want at most %d", n, maxConns)
			}
			if n := srv.PeakOpen(); n > maxConns {
				t.Errorf("%d connections open at once, want at most %d", n, maxConns)
			}
			if maxConns > 1 && srv.PeakOpen() < 2 {
				t.Errorf("at most %d connection open at once: the burst was not sent in parallel", srv.PeakOpen())
			}
		})
	}
}

func TestSender_pool_reuse(t *testing.T) {
	t.Parallel()
	srv, s := poolSender(t, testserver.Options{}, 4, time.Minute)
	burst(t, s, "a", 200, 4)
	first := srv.Connections()
	if first == 0 || first > 4 {
		t.Fatalf("%d connections for the first burst, want 1 to 4", first)
	}
	burst(t, s, "b", 200, 4)
	burst(t, s, "c", 8, 8) // one-message Sends reuse them too
	if n := srv.Connections(); n != first {
		t.Errorf("%d connections after three bursts, want the first burst's %d reused", n, first)
	}
	if n := srv.Open(); n != first {
		t.Errorf("%d connections open between bursts, want %d kept", n, first)
	}
}

func TestSender_pool_idleClose(t *testing.T) {
	t.Parallel()
	srv, s := poolSender(t, testserver.Options{}, 4, 30*time.Millisecond)
	burst(t, s, "a", 40, 4)
	if srv.Connections() == 0 {
		t.Fatal("no connection")
	}
	// The server sees every session end (QUIT, then close), and the
	// pool holds nothing.
	eventually(t, "the server sees the idle connections closed", func() bool { return srv.Open() == 0 })
	if open, idle, _ := s.pool.counts(); open != 0 || idle != 0 {
		t.Errorf("pool holds %d connections (%d idle) after the idle timeout", open, idle)
	}
	// The next Send dials again.
	before := srv.Connections()
	burst(t, s, "b", 4, 1)
	if srv.Connections() != before+1 {
		t.Errorf("%d new connections after the idle close, want 1", srv.Connections()-before)
	}
}

func TestSender_pool_droppedConnection(t *testing.T) {
	t.Parallel()
	srv, s := poolSender(t, testserver.Options{}, 3, time.Minute)
	burst(t, s, "a", 60, 3)
	first := srv.Connections()
	eventually(t, "the server drops the connections", func() bool { srv.DropConnections(); return srv.Open() == 0 })
	// The pool still holds the dead connections: the next messages fail
	// on them before DATA, and go out on new ones.
	burst(t, s, "b", 60, 3)
	if n := len(srv.Messages()); n != 120 {
		t.Errorf("server received %d messages, want 120", n)
	}
	if n := srv.Connections() - first; n < 1 {
		t.Errorf("%d new connections replaced the dropped ones", n)
	}
	if n := srv.PeakOpen(); n > 3 {
		t.Errorf("%d connections open at once, want at most 3", n)
	}
}

func TestSender_pool_421Retried(t *testing.T) {
	t.Parallel()
	// A server that times a session out answers the next command with
	// 421 and hangs up: the message goes out on a new connection.
	srv, s := poolSender(t, testserver.Options{Fault: func(stage testserver.Stage, conn, _ int) *smtp.SMTPError {
		if stage == testserver.StageMail && conn == 1 {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Error: timeout exceeded"}
		}
		return nil
	}}, 1, time.Minute)
	results, err := s.Send(t.Context(), messages("m", 2))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for i, r := range results {
		if r.Err != nil || r.Receipt == "" {
			t.Errorf("result %d: %+v, want delivered on the second connection", i, r)
		}
	}
	for _, m := range srv.Messages() {
		if m.Conn != 2 {
			t.Errorf("message on connection %d, want 2", m.Conn)
		}
	}
}

func TestSender_pool_parallelResultsInOrder(t *testing.T) {
	t.Parallel()
	reject := func(to string) *smtp.SMTPError {
		if strings.HasPrefix(to, "nobody") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	}
	srv, s := poolSender(t, testserver.Options{RejectRcpt: reject}, 4, time.Minute)
	// A fresh transport spreads a batch over as many connections as the
	// pool allows; the next batch reuses them.
	results, err := s.Send(t.Context(), messages("first", 40))
	if err != nil || results[39].Err != nil {
		t.Fatalf("Send: %v %+v", err, results)
	}
	if n := srv.Connections(); n != 4 {
		t.Fatalf("a batch of 40 on a fresh transport used %d connections, want 4 (max_connections)", n)
	}
	srv.Reset()
	msgs := messages("m", 201)
	const bad = 100
	msgs[bad].To = []sdk.Address{{Address: "nobody@example.test"}}
	results, err = s.Send(t.Context(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(results) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(results), len(msgs))
	}
	for i, r := range results {
		if r.MessageID != msgs[i].ID {
			t.Errorf("result %d is for %s, want %s", i, r.MessageID, msgs[i].ID)
		}
		if i == bad {
			checkDeliveryError(t, r.Err, &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 5.1.1 No such user", Remedy: genericRemedy(t, "", "5.1.", "")})
			continue
		}
		if r.Err != nil || r.Receipt != "250 2.0.0 OK: queued" {
			t.Errorf("result %d: receipt %q, error %v", i, r.Receipt, r.Err)
		}
	}
	if n := len(srv.Messages()); n != 200 {
		t.Errorf("server received %d messages, want 200", n)
	}
	if n := len(conns(srv)); n != 4 {
		t.Errorf("one Send of 201 went over %d connections, want the 4 of the pool", n)
	}
	// The connection of the refused recipient was reset and reused: no
	// more connections than the pool's.
	if n := srv.Connections(); n > 4 {
		t.Errorf("%d connections, want at most 4", n)
	}
}

// conns returns the connections that carried the server's messages.
func conns(srv *testserver.Server) map[int]bool {
	out := map[int]bool{}
	for _, m := range srv.Messages() {
		out[m.Conn] = true
	}
	return out
}

func TestSender_pool_dataRefusedResets(t *testing.T) {
	t.Parallel()
	// A DATA refused with a reply leaves the transaction open: it is
	// reset, and the connection carries the next message.
	srv := startRawServer(t, func(cmd string) (string, bool) {
		if cmd == "DATA" {
			return "554 5.7.1 No DATA for you", false
		}
		return "250 2.0.0 OK", false
	})
	s := newSender(t, Options{Host: "127.0.0.1", Port: srv.port(), Security: SecurityNone, MaxConnections: 1})
	t.Cleanup(func() { _ = s.Close() })
	results, err := s.Send(t.Context(), messages("m", 2))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for i, r := range results {
		checkDeliveryError(t, r.Err, &sdk.DeliveryError{Kind: sdk.Permanent, Code: "554 5.7.1", Reply: "554 5.7.1 No DATA for you", Remedy: genericRemedy(t, "554", "", "")})
		if r.Receipt != "" {
			t.Errorf("result %d has receipt %q", i, r.Receipt)
		}
	}
	want := []string{"MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA", "RSET"}
	var got []string
	for _, c := range srv.commands()[1:] { // after EHLO
		got = append(got, strings.Fields(c)[0])
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestSender_pool_close(t *testing.T) {
	t.Parallel()
	srv, s := poolSender(t, testserver.Options{}, 4, time.Minute)
	burst(t, s, "a", 40, 4)
	if srv.Open() == 0 {
		t.Fatal("no connection kept")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	eventually(t, "the server sees the pool closed", func() bool { return srv.Open() == 0 })
	// A Sender still sends after Close, but keeps nothing.
	burst(t, s, "b", 4, 1)
	eventually(t, "the server sees the connection closed", func() bool { return srv.Open() == 0 })
}

func TestSender_Check_countsAgainstBound(t *testing.T) {
	t.Parallel()
	srv, s := poolSender(t, testserver.Options{}, 2, time.Minute)
	warm(t, srv, s, 2)
	// The pool is full: Check closes an idle connection to make room
	// for its own, which it closes when done.
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if open, idle, peak := s.pool.counts(); open != 1 || idle != 1 || peak != 2 {
		t.Errorf("after Check: %d open, %d idle, at most %d at once; want 1, 1, 2", open, idle, peak)
	}
	eventually(t, "the server sees one connection left", func() bool { return srv.Open() == 1 })
	burst(t, s, "b", 40, 2)
	if _, _, peak := s.pool.counts(); peak != 2 {
		t.Errorf("%d connections open at once, want at most 2", peak)
	}
}

func TestSender_pool_cancelWhileWaiting(t *testing.T) {
	t.Parallel()
	// A Send that waits for a connection of a full pool gives up when
	// its context ends, with a temporary batch error.
	block := make(chan struct{})
	_, s := poolSender(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageMail {
			<-block
		}
		return nil
	}}, 1, time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.Send(t.Context(), messages("slow", 1))
	}()
	eventually(t, "the first Send holds the connection", func() bool { o, _, _ := s.pool.counts(); return o == 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := s.Send(ctx, messages("waiting", 1))
	close(block)
	<-done
	if !sdk.IsTemporary(err) {
		t.Errorf("error %v, want a temporary batch error", err)
	}
}

// TestSender_pool_coldDialsAtOnce: on an empty pool, the workers of one
// Send dial their connections at once rather than after the first login,
// as separate senders would: each login here waits until all four
// connections are open, and a worker that waited for the first login
// would leave it waiting.
func TestSender_pool_coldDialsAtOnce(t *testing.T) {
	t.Parallel()
	srv := testserver.StartT(t, testserver.Options{Users: map[string]string{"u": "p"}, AllowInsecureAuth: true})
	s := newSender(t, Options{
		Host: srv.Host(), Port: srv.Port(), Security: SecurityNone,
		Auth: gomail.SMTPAuthPlain, Username: "u", Secret: secret("p"),
		MaxConnections: 4, IdleTimeout: time.Minute,
	})
	var alone atomic.Int32 // logins that found fewer than 4 connections open
	srv.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage != testserver.StageAuth {
			return nil
		}
		deadline := time.Now().Add(5 * time.Second)
		for srv.Open() < 4 {
			if time.Now().After(deadline) {
				alone.Add(1)
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	burst(t, s, "cold", 16, 1) // 16 messages: a worker for every 4
	if n := alone.Load(); n > 0 {
		t.Errorf("%d logins waited in vain for 4 connections: the workers did not dial at once", n)
	}
	if n := srv.Connections(); n != 4 {
		t.Errorf("%d connections, want 4", n)
	}
}
