package xoauth2send_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/internal/smtpsend"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send/xoauth2test"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestSender_pool: XOAUTH2 connections are pooled like any other. A
// pooled connection stays logged in after its token expires, and even
// after the token is revoked (the server authenticated the session); a
// new connection logs in with a fresh token.
func TestSender_pool(t *testing.T) {
	t.Parallel()
	is := newIssuer()
	const grace = 30 * time.Second
	// Beyond the grace: long enough that the first Send's four connections
	// all log in with the first token even on a loaded machine (at 50ms a
	// CI run under -race saw a fourth connection dialled after it, and a
	// second token).
	const life = time.Second
	fetch := func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := is.fetch(ctx)
		if err == nil {
			tok.Expiry = time.Now().Add(grace + life)
		}
		return tok, err
	}
	ca, caFile := xoauth2test.NewCA(t)
	srv := xoauth2test.StartSMTP(t, ca, false, testserver.StyleMicrosoft, is.validate)
	s, err := xoauth2send.New(smtpsend.Options{
		Host: srv.Host(), Port: srv.Port(), Security: smtpsend.SecuritySTARTTLS, CAFile: caFile,
		Timeout: 20 * time.Second, Username: mailbox, MaxConnections: 4, IdleTimeout: time.Minute,
	}, fetch, grace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	send := func(prefix string, n int) {
		t.Helper()
		msgs := make([]*sdk.Message, n)
		for i := range msgs {
			msgs[i] = message(fmt.Sprintf("%s%d@node", prefix, i))
		}
		results, err := s.Send(t.Context(), msgs)
		if err != nil {
			t.Fatalf("Send %s: %v", prefix, err)
		}
		for i, r := range results {
			if r.Err != nil || r.MessageID != msgs[i].ID {
				t.Fatalf("Send %s: result %d: %+v", prefix, i, r)
			}
		}
	}

	send("a", 80)
	conns := srv.Connections()
	if conns < 1 || conns > 4 || is.auths.Load() != int32(conns) || is.fetchCount() != 1 {
		t.Fatalf("%d connections, %d logins, %d tokens; want 1 to 4 connections, a login each, one token", conns, is.auths.Load(), is.fetchCount())
	}

	// The token expires and is revoked: the pooled sessions carry on.
	time.Sleep(2 * life)
	is.revoke()
	send("b", 80)
	if srv.Connections() != conns || is.auths.Load() != int32(conns) || is.fetchCount() != 1 {
		t.Errorf("after the token expired: %d connections, %d logins, %d tokens; want the %d pooled ones reused, no login, no token", srv.Connections(), is.auths.Load(), is.fetchCount(), conns)
	}

	// The server drops them: a new connection fetches a fresh token.
	srv.DropConnections()
	send("c", 1)
	if srv.Connections() != conns+1 || is.fetchCount() != 2 {
		t.Errorf("after the drop: %d connections, %d tokens; want %d, 2", srv.Connections(), is.fetchCount(), conns+1)
	}
	msgs := srv.Messages()
	if last := msgs[len(msgs)-1]; last.Conn != conns+1 || last.User != mailbox || last.Mechanism != testserver.MechXOAUTH2 {
		t.Errorf("last message on connection %d as %q with %q, want a new XOAUTH2 login", last.Conn, last.User, last.Mechanism)
	}
}

// TestSlot_closesReplaced: a Sender replaced in the Slot, or failed, is
// closed with its connections.
func TestSlot_closesReplaced(t *testing.T) {
	t.Parallel()
	is := newIssuer()
	srv, s1 := setup(t, testserver.StyleMicrosoft, is)
	_, s2 := setup(t, testserver.StyleMicrosoft, is)
	var sl xoauth2send.Slot
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for srv.Open() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections open, want %d", srv.Open(), n)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	sl.Set(s1)
	if _, err := sl.Send(t.Context(), []*sdk.Message{message("one@node")}); err != nil {
		t.Fatal(err)
	}
	wait(1)
	sl.Set(s2)
	wait(0)
	sl.Set(s1) // a closed Sender still sends, keeping nothing
	if _, err := sl.Send(t.Context(), []*sdk.Message{message("two@node")}); err != nil {
		t.Fatal(err)
	}
	wait(0)
	if err := sl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sl.Send(t.Context(), []*sdk.Message{message("three@node")}); err != xoauth2send.ErrNotConfigured {
		t.Errorf("Send after Close: %v, want ErrNotConfigured", err)
	}
}
