package oauth

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/oauth2"
)

// Refresher returns a Fetcher for the refresh-token grant of cfg, sending
// its requests with hc. It keeps the current refresh token; when the
// provider returns a new one (rotation, as Microsoft does) it keeps that
// for the next fetch and calls onRotate with it (onRotate may be nil; it
// runs before the fetch returns). Fetches are serialised, since a rotated
// refresh token works once. The tokens the Fetcher returns carry no
// RefreshToken.
func Refresher(cfg *oauth2.Config, hc *http.Client, refreshToken string, onRotate func(string)) Fetcher {
	r := &refresher{cfg: cfg, hc: hc, current: refreshToken, onRotate: onRotate, lock: make(chan struct{}, 1)}
	return r.fetch
}

type refresher struct {
	cfg      *oauth2.Config
	hc       *http.Client
	onRotate func(string)
	lock     chan struct{} // held (a value sent) during a fetch; guards current
	current  string
}

func (r *refresher) fetch(ctx context.Context) (*oauth2.Token, error) {
	select {
	case r.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.lock }()
	if r.current == "" {
		return nil, errors.New("refresh access token: no refresh token")
	}
	t, err := r.cfg.TokenSource(withClient(ctx, r.hc), &oauth2.Token{RefreshToken: r.current}).Token()
	if err != nil {
		return nil, wrapFetch("refresh access token", err)
	}
	if t.RefreshToken != "" && t.RefreshToken != r.current {
		r.current = t.RefreshToken
		if r.onRotate != nil {
			r.onRotate(t.RefreshToken)
		}
	}
	out := *t
	out.RefreshToken = ""
	return &out, nil
}
