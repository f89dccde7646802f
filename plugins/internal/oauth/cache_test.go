package oauth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

func TestCache_Token_concurrentCallersShareOneFetch(t *testing.T) {
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{}, appApp())
	fetch, err := secretApp(m).Fetcher(e.hc)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(fetch, 30*time.Second)
	const n = 50
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tok, err := c.Token(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if got := c.Fetches(); got != 1 {
		t.Errorf("Fetches() = %d, want 1", got)
	}
	if got := m.Requests(testserver.GrantClientCredentials); got != 1 {
		t.Errorf("token endpoint got %d requests, want 1", got)
	}
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("caller %d got another token", i)
		}
	}
	claims, err := m.Validate(tokens[0])
	if err != nil {
		t.Fatal(err)
	}
	if claims.ClientID != testApp || claims.Tenant != testTenant || claims.Scope != testserver.MicrosoftScopeSMTPApp || claims.User != "" {
		t.Errorf("claims %+v", claims)
	}
	if len(tokens[0]) < 4096 {
		t.Errorf("token of %d bytes: the stand-in should issue realistic sizes", len(tokens[0]))
	}
}

func TestCache_Token_fetchesGraceBeforeExpiry(t *testing.T) {
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{TokenLifetime: 3 * time.Second}, appApp())
	fetch, err := secretApp(m).Fetcher(e.hc)
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock()
	c := NewCache(fetch, time.Second)
	c.now = clk.Now
	get := func() string {
		t.Helper()
		tok, err := c.Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	first := get()
	clk.Advance(1500 * time.Millisecond) // 1.5 s left: more than the grace
	if get() != first || c.Fetches() != 1 {
		t.Fatalf("token replaced %v before the grace period (fetches %d)", 1500*time.Millisecond, c.Fetches())
	}
	clk.Advance(700 * time.Millisecond) // 0.8 s left: within the grace
	second := get()
	if second == first || c.Fetches() != 2 {
		t.Fatalf("token not replaced within the grace period (fetches %d)", c.Fetches())
	}
	if _, err := m.Validate(second); err != nil {
		t.Errorf("new token: %v", err)
	}
}

// With a real clock and a 2 s token lifetime, callers during 2.5 s never
// hold a token the server considers expired.
func TestCache_Token_neverHandsOutExpiredTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 2.5 s")
	}
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{TokenLifetime: 2 * time.Second}, appApp())
	fetch, err := secretApp(m).Fetcher(e.hc)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(fetch, time.Second)
	end := time.Now().Add(2500 * time.Millisecond)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(end) {
				tok, err := c.Token(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := m.Validate(tok.AccessToken); err != nil {
					t.Errorf("Token returned a token the server rejects: %v", err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if f := c.Fetches(); f < 2 || f > 4 {
		t.Errorf("Fetches() = %d over 2.5 s of 2 s tokens with 1 s grace, want 2 to 4", f)
	}
}

// waitCtx is a context a test ends by hand, with the error it chooses,
// and which reports when a caller first asks for its Done channel. Token
// asks for it only in the select that waits for another caller's fetch,
// and a select evaluates its channels on entry, just before it blocks: so
// once asked is closed, the caller is waiting for the fetch, whatever the
// machine's load, and ending the context then tests that wait.
type waitCtx struct {
	context.Context

	asked     chan struct{}
	askedOnce sync.Once
	done      chan struct{}

	mu  sync.Mutex
	err error
}

func newWaitCtx() *waitCtx {
	return &waitCtx{Context: context.Background(), asked: make(chan struct{}), done: make(chan struct{})}
}

func (c *waitCtx) Done() <-chan struct{} {
	c.askedOnce.Do(func() { close(c.asked) })
	return c.done
}

func (c *waitCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// end ends the context with err (context.Canceled or
// context.DeadlineExceeded).
func (c *waitCtx) end(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.done)
}

// failAfter bounds how long the test waits for something that is bound to
// happen on working code; it is a failure deadline, not a synchronisation.
const failAfter = 10 * time.Second

func TestCache_Token_waiterHonoursContext(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		close(started)
		<-release
		return &oauth2.Token{AccessToken: "a", Expiry: time.Now().Add(time.Hour)}, nil
	}, 0)
	done := make(chan error, 1)
	go func() {
		_, err := c.Token(context.Background())
		done <- err
	}()
	<-started

	// A waiter whose context is cancelled, then one whose deadline passes,
	// while the fetch runs: each returns its context's error.
	for _, end := range []error{context.Canceled, context.DeadlineExceeded} {
		ctx := newWaitCtx()
		waiter := make(chan error, 1)
		go func() {
			_, err := c.Token(ctx)
			waiter <- err
		}()
		select {
		case <-ctx.asked:
		case err := <-waiter:
			t.Fatalf("waiter returned %v while the fetch runs, before its context ended", err)
		case <-time.After(failAfter):
			t.Fatal("the waiter never asked for its context's Done channel while the fetch ran: it cannot return when the context ends")
		}
		ctx.end(end)
		select {
		case err := <-waiter:
			if !errors.Is(err, end) {
				t.Errorf("waiter got %v, want %v", err, end)
			}
		case <-time.After(failAfter):
			t.Fatalf("waiter did not return when its context ended with %v", end)
		}
	}

	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if tok, err := c.Token(t.Context()); err != nil || tok.AccessToken != "a" || c.Fetches() != 1 {
		t.Errorf("after the fetch: %v, %v, %d fetches", tok, err, c.Fetches())
	}
}

// TestCache_Token_waitersShareTheFetch: callers that wait for another
// caller's fetch get its token; they do not fetch again.
func TestCache_Token_waitersShareTheFetch(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	c := NewCache(func(ctx context.Context) (*oauth2.Token, error) {
		if calls.Add(1) > 1 {
			return &oauth2.Token{AccessToken: "fetched again", Expiry: time.Now().Add(time.Hour)}, nil
		}
		close(started)
		<-release
		return &oauth2.Token{AccessToken: "shared", Expiry: time.Now().Add(time.Hour)}, nil
	}, time.Minute)
	first := make(chan error, 1)
	go func() {
		_, err := c.Token(context.Background())
		first <- err
	}()
	<-started

	ctx := newWaitCtx()
	waiter := make(chan *oauth2.Token, 1)
	go func() {
		tok, err := c.Token(ctx)
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiter <- tok
	}()
	select {
	case <-ctx.asked:
	case <-time.After(failAfter):
		t.Fatal("the waiter never waited for the fetch")
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if tok := <-waiter; tok == nil || tok.AccessToken != "shared" {
		t.Errorf("waiter got %v, want the token of the fetch it waited for", tok)
	}
	if n := c.Fetches(); n != 1 {
		t.Errorf("Fetches() = %d, want 1", n)
	}
}

// TestCache_Token_grace: a token is replaced once it expires within grace,
// the boundary included; a negative grace counts as 0, so an expired token
// is never handed out.
func TestCache_Token_grace(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		// advance is how far the clock moves after the first fetch; the
		// token lives for a minute.
		advance   time.Duration
		refetched bool
	}{
		{name: "outside the grace", grace: 10 * time.Second, advance: 49 * time.Second, refetched: false},
		{name: "at the start of the grace", grace: 10 * time.Second, advance: 50 * time.Second, refetched: true},
		{name: "inside the grace", grace: 10 * time.Second, advance: 55 * time.Second, refetched: true},
		{name: "zero grace, before expiry", grace: 0, advance: 59 * time.Second, refetched: false},
		{name: "zero grace, at expiry", grace: 0, advance: time.Minute, refetched: true},
		{name: "negative grace, before expiry", grace: -time.Hour, advance: 59 * time.Second, refetched: false},
		{name: "negative grace, at expiry", grace: -time.Hour, advance: time.Minute, refetched: true},
		{name: "negative grace, after expiry", grace: -time.Hour, advance: 2 * time.Minute, refetched: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			n := 0
			c := NewCache(func(context.Context) (*oauth2.Token, error) {
				n++
				return &oauth2.Token{AccessToken: fmt.Sprint("token ", n), Expiry: clk.Now().Add(time.Minute)}, nil
			}, tt.grace)
			c.now = clk.Now
			if _, err := c.Token(t.Context()); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.advance)
			tok, err := c.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := "token 1"
			if tt.refetched {
				want = "token 2"
			}
			if tok.AccessToken != want || c.Fetches() != n {
				t.Errorf("after %v with grace %v: got %q (%d fetches), want %q", tt.advance, tt.grace, tok.AccessToken, c.Fetches(), want)
			}
		})
	}
}

func TestCache_Invalidate(t *testing.T) {
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{}, appApp())
	fetch, err := secretApp(m).Fetcher(e.hc)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(fetch, 30*time.Second)
	first, err := c.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c.Invalidate()
	second, err := c.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first.AccessToken == second.AccessToken || c.Fetches() != 2 || m.Requests(testserver.GrantClientCredentials) != 2 {
		t.Errorf("Invalidate did not force a fetch (fetches %d)", c.Fetches())
	}
}

func TestCache_Token_edgeCases(t *testing.T) {
	tests := []struct {
		name        string
		results     []*oauth2.Token // nil: an error
		advance     time.Duration   // between the calls
		wantFetches int
		wantErrs    int
	}{
		{
			name:        "zero expiry kept until Invalidate",
			results:     []*oauth2.Token{{AccessToken: "forever"}},
			advance:     1000 * time.Hour,
			wantFetches: 1,
		},
		{
			name:        "error not cached",
			results:     []*oauth2.Token{nil, {AccessToken: "b", Expiry: time.Now().Add(time.Hour)}},
			wantFetches: 2,
			wantErrs:    1,
		},
		{
			name:        "empty access token refused",
			results:     []*oauth2.Token{{AccessToken: ""}, {AccessToken: "c"}},
			wantFetches: 2,
			wantErrs:    1,
		},
		{
			name:        "token shorter than the grace is used once",
			results:     []*oauth2.Token{{AccessToken: "d", Expiry: time.Now().Add(time.Second)}, {AccessToken: "e", Expiry: time.Now().Add(time.Hour)}},
			wantFetches: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			c := NewCache(func(context.Context) (*oauth2.Token, error) {
				r := tt.results[min(i, len(tt.results)-1)]
				i++
				if r == nil {
					return nil, errors.New("provider down")
				}
				return r, nil
			}, 30*time.Second)
			clk := newClock()
			c.now = clk.Now
			errs := 0
			for range 3 {
				if _, err := c.Token(t.Context()); err != nil {
					errs++
				}
				clk.Advance(tt.advance)
			}
			if c.Fetches() != tt.wantFetches || errs != tt.wantErrs {
				t.Errorf("fetches %d, errors %d; want %d, %d", c.Fetches(), errs, tt.wantFetches, tt.wantErrs)
			}
		})
	}
}
