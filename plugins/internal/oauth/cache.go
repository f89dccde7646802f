package oauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// Fetcher obtains a new access token from the provider. It must honour
// ctx and must not put a secret in its error.
type Fetcher func(ctx context.Context) (*oauth2.Token, error)

// Cache holds one access token shared by all callers and fetches a new one
// only when none is cached or the cached one expires within grace. At most
// one fetch runs at a time; callers waiting for it give up when their ctx
// ends. A token with a zero Expiry is kept until [Cache.Invalidate].
//
// A Cache is safe for concurrent use. Callers must not modify the tokens
// it returns.
type Cache struct {
	fetch Fetcher
	grace time.Duration
	// now is the clock expiry is judged by; tests replace it.
	now func() time.Time
	// lock is held (a value sent) while a fetch runs: unlike a mutex, a
	// waiter can stop waiting when its context ends.
	lock chan struct{}

	mu      sync.Mutex
	tok     *oauth2.Token
	fetches int
}

// NewCache returns a Cache that gets its tokens from fetch and replaces a
// token grace before it expires. A negative grace counts as 0.
func NewCache(fetch Fetcher, grace time.Duration) *Cache {
	return &Cache{
		fetch: fetch,
		grace: max(grace, 0),
		now:   time.Now,
		lock:  make(chan struct{}, 1),
	}
}

// Token returns the cached access token, or fetches a new one if there is
// none or it expires within the grace period. If ctx ends while Token
// waits for another caller's fetch, it returns ctx.Err(). A fetch error is
// returned as it is (see [Classify]) and nothing is cached.
func (c *Cache) Token(ctx context.Context) (*oauth2.Token, error) {
	if t := c.cached(); t != nil {
		return t, nil
	}
	select {
	case c.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.lock }()
	// Another caller may have fetched while this one waited.
	if t := c.cached(); t != nil {
		return t, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.fetches++
	c.mu.Unlock()
	t, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	if t == nil || t.AccessToken == "" {
		return nil, errors.New("fetch access token: the token endpoint returned no access token")
	}
	c.mu.Lock()
	c.tok = t
	c.mu.Unlock()
	return t, nil
}

// cached returns the cached token if it is still good beyond the grace
// period, else nil.
func (c *Cache) cached() *oauth2.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil {
		return nil
	}
	if !c.tok.Expiry.IsZero() && !c.now().Add(c.grace).Before(c.tok.Expiry) {
		return nil
	}
	return c.tok
}

// Invalidate drops the cached token, after a server rejected it (HTTP 401,
// SMTP 535): the next [Cache.Token] fetches a new one.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.tok = nil
	c.mu.Unlock()
}

// Fetches returns how many times the Fetcher has been called, successfully
// or not.
func (c *Cache) Fetches() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fetches
}
