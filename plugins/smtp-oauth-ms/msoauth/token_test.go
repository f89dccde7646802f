package msoauth_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestTransport_tokenCaching: 50 sends within a token's lifetime make one
// token request.
func TestTransport_tokenCaching(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.MicrosoftOptions{})
	tr := configure(t, e.appSettings(), "", nil)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			results, err := tr.Send(t.Context(), []*sdk.Message{message(fmt.Sprintf("cache-%d@tocsin.test", i))})
			if err == nil {
				err = results[0].Err
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	if got := e.ms.Requests(testserver.GrantClientCredentials); got != 1 {
		t.Errorf("%d token requests for %d sends, want 1", got, n)
	}
	if got := len(e.smtp.Messages()); got != n {
		t.Errorf("server received %d messages, want %d", got, n)
	}
}

// TestTransport_tokenRefreshedBeforeExpiry: with tokens that live 2 s and
// a grace of 1 s, sending for 4 s fetches a new token before the old one
// expires, and no send fails (the SMTP server rejects expired tokens).
// Every send logs in anew: a pooled connection would need no token.
func TestTransport_tokenRefreshedBeforeExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.MicrosoftOptions{TokenLifetime: 2 * time.Second})
	m := e.appSettings()
	m["token_grace"] = "1s"
	m["idle_timeout"] = "1ms"
	tr := configure(t, m, "", nil)
	start := time.Now()
	sends := 0
	for time.Since(start) < 4*time.Second {
		sends++
		results, err := tr.Send(t.Context(), []*sdk.Message{message(fmt.Sprintf("expiry-%d@tocsin.test", sends))})
		if err == nil {
			err = results[0].Err
		}
		if err != nil {
			t.Fatalf("send %d after %v: %v", sends, time.Since(start).Round(time.Millisecond), err)
		}
		waitLoggedOut(t, e.smtp)
		time.Sleep(50 * time.Millisecond)
	}
	// A token is replaced once it is 1 s old, so about one a second.
	if got := e.ms.Requests(testserver.GrantClientCredentials); got < 3 || got > 6 {
		t.Errorf("%d token requests in 4 s, want 3 to 6", got)
	}
	if got := len(e.smtp.Messages()); got != sends {
		t.Errorf("server received %d messages, want %d", got, sends)
	}
}

// TestTransport_delegatedRotation: each refresh of a delegated token gets
// a new refresh token from the stand-in; the transport uses it next time
// and hands it to SaveCredential, and the spent one no longer works.
func TestTransport_delegatedRotation(t *testing.T) {
	t.Parallel()
	// Tokens live 2 s and are replaced 2 s before expiry: every send
	// refreshes (every send logs in anew: a pooled connection would need
	// no token).
	e := newEnv(t, testserver.MicrosoftOptions{TokenLifetime: 2 * time.Second})
	m := e.delegatedSettings()
	m["token_grace"] = "2s"
	m["idle_timeout"] = "1ms"
	initial := e.login(t)
	var rotated saved
	tr := configure(t, m, initial, rotated.save)
	const rounds = 3
	for i := range rounds {
		results, err := tr.Send(t.Context(), []*sdk.Message{message(fmt.Sprintf("rotate-%d@tocsin.test", i))})
		if err == nil {
			err = results[0].Err
		}
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		waitLoggedOut(t, e.smtp)
	}
	got := rotated.list()
	if len(got) != rounds {
		t.Fatalf("SaveCredential called %d times, want %d", len(got), rounds)
	}
	seen := map[string]bool{initial: true}
	for i, rt := range got {
		if seen[rt] {
			t.Errorf("saved credential %d is not new", i)
		}
		seen[rt] = true
	}
	if e.refreshWorks(t, initial) {
		t.Error("the initial refresh token still works after rotation")
	}
	if !e.refreshWorks(t, got[rounds-1]) {
		t.Error("the last saved refresh token does not work")
	}
	if n := e.ms.Requests(testserver.GrantRefreshToken); n != rounds+2 {
		t.Errorf("%d refresh requests, want %d", n, rounds+2)
	}
}

// TestTransport_rejectedCachedToken: when Exchange rejects a cached token
// (revoked sessions, a permission change), the send fetches a fresh token
// and is tried once more, so no mail is lost.
func TestTransport_rejectedCachedToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, testserver.MicrosoftOptions{})
	tr := configure(t, e.appSettings(), "", nil)
	if err := tr.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	e.revokeSeen()
	results, err := tr.Send(t.Context(), []*sdk.Message{message("retry@tocsin.test")})
	if err == nil {
		err = results[0].Err
	}
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := e.ms.Requests(testserver.GrantClientCredentials); n != 2 {
		t.Errorf("%d token requests, want 2 (the first token, then a fresh one)", n)
	}
	if got := e.smtp.Messages(); len(got) != 1 || got[0].User != mailbox {
		t.Errorf("server received %+v", got)
	}
}
