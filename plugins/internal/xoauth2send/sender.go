package xoauth2send

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/internal/smtpsend"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Sender sends mail through one SMTP server, logging in with XOAUTH2 as
// one mailbox with the access token of a shared cache. It is safe for
// concurrent use.
type Sender struct {
	smtp  *smtpsend.Sender
	cache *oauth.Cache

	mu   sync.Mutex
	gen  uint64 // successful fetches so far
	last string // access token of the latest successful fetch
}

// New returns a Sender for opts, whose Username must be the mailbox; New
// sets opts.Auth to XOAUTH2 and opts.Secret to the cache's access token.
// fetch obtains a new token from the provider; a token is fetched again
// once it expires within grace.
func New(opts smtpsend.Options, fetch oauth.Fetcher, grace time.Duration) (*Sender, error) {
	if fetch == nil {
		return nil, errors.New("no token fetcher")
	}
	if opts.Username == "" {
		return nil, errors.New("no mailbox to log in as")
	}
	s := &Sender{}
	s.cache = oauth.NewCache(s.track(fetch), grace)
	opts.Auth = gomail.SMTPAuthXOAUTH2
	opts.Secret = s.token
	smtp, err := smtpsend.New(opts)
	if err != nil {
		return nil, err
	}
	s.smtp = smtp
	return s, nil
}

// Fetches returns how many times a token was requested from the provider.
func (s *Sender) Fetches() int { return s.cache.Fetches() }

// Check connects, starts TLS, logs in with the token and quits.
func (s *Sender) Check(ctx context.Context) error {
	return s.retry(ctx, func(ctx context.Context) error { return s.smtp.Check(ctx) })
}

// Close closes the pooled connections; see smtpsend.Sender.Close.
func (s *Sender) Close() error { return s.smtp.Close() }

// Send delivers msgs over the pooled connections; see
// smtpsend.Sender.Send. A pooled connection stays logged in after its
// token expires; only new connections need the current token.
func (s *Sender) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	var results []sdk.Result
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		results, err = s.smtp.Send(ctx, msgs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// attempt records which access token one Send or Check logged in with
// (the last, when a Send dials several connections at once).
type attempt struct {
	mu    sync.Mutex
	token string
}

func (a *attempt) set(token string) {
	a.mu.Lock()
	a.token = token
	a.mu.Unlock()
}

func (a *attempt) get() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

type attemptKey struct{}

// track wraps fetch to note each token it obtains, so a rejected token can
// be told apart as fresh or cached.
func (s *Sender) track(fetch oauth.Fetcher) oauth.Fetcher {
	return func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := fetch(ctx)
		if err == nil && tok != nil {
			s.mu.Lock()
			s.gen++
			s.last = tok.AccessToken
			s.mu.Unlock()
		}
		return tok, err
	}
}

// token is the smtpsend secret: the cached access token. A failure to get
// one is classified for the operator (oauth.Classify), which makes it fail
// the whole batch before anything is dialled.
func (s *Sender) token(ctx context.Context) (string, error) {
	tok, err := s.cache.Token(ctx)
	if err != nil {
		return "", oauth.Classify(err)
	}
	if tok == nil || tok.AccessToken == "" {
		return "", sdk.TemporaryError(errors.New("token endpoint returned no access token"), "", "")
	}
	if a, ok := ctx.Value(attemptKey{}).(*attempt); ok {
		a.set(tok.AccessToken)
	}
	return tok.AccessToken, nil
}

// retry runs fn and, when the server rejected the token, drops it from the
// cache; if that token was fetched before fn started (it came from the
// cache and may have been revoked or have expired early), fn runs once
// more with a fresh one.
func (s *Sender) retry(ctx context.Context, fn func(context.Context) error) error {
	s.mu.Lock()
	start := s.gen
	s.mu.Unlock()
	a := &attempt{}
	err := fn(context.WithValue(ctx, attemptKey{}, a))
	token := a.get()
	if !tokenRejected(err) || token == "" {
		return err
	}
	s.mu.Lock()
	latest := token == s.last
	fresh := latest && s.gen > start
	if latest {
		// Only drop the token if no newer one replaced it meanwhile.
		s.cache.Invalidate()
	}
	s.mu.Unlock()
	if fresh || ctx.Err() != nil {
		return err
	}
	return fn(ctx)
}

// tokenRejected reports whether err is the server refusing the login: a
// 535 other than 5.7.139 (SMTP AUTH turned off, which no token mends).
func tokenRejected(err error) bool {
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		return false
	}
	return strings.HasPrefix(de.Code, "535") && !strings.HasPrefix(de.Code, "535 5.7.139")
}
