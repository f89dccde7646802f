// Package oauthlogin runs the OAuth 2.0 flows by which an operator gives
// the agent a refresh token: the authorization-code flow with PKCE on a
// loopback redirect listener, and the device flow for a headless
// appliance. It drives golang.org/x/oauth2 with what a plugin's
// [sdk.Authorizer] says about its provider, and never opens a browser by
// itself: it prints what the operator should open.
package oauthlogin

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Options tune a login.
type Options struct {
	// Device selects the device flow instead of the browser flow.
	Device bool
	// Port is the loopback port of the redirect listener; 0 picks a
	// free one. A fixed port lets an operator forward it over SSH.
	Port int
	// Out receives the instructions for the operator.
	Out io.Writer
	// Timeout bounds the whole login; 0 means 10 minutes.
	Timeout time.Duration
}

// DefaultTimeout is how long a login waits for the operator.
const DefaultTimeout = 10 * time.Minute

// Run obtains a token for lc. The token carries the refresh token that the
// caller stores; an answer without one is an error that says why.
func Run(ctx context.Context, lc *sdk.LoginConfig, opts Options) (*oauth2.Token, error) {
	if lc == nil || lc.TokenURL == "" || lc.ClientID == "" {
		return nil, errors.New("login: the plugin gave no token URL or client ID")
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	hc, err := HTTPClient(lc.CACertsPEM)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	cfg := &oauth2.Config{
		ClientID:     lc.ClientID,
		ClientSecret: lc.ClientSecret,
		Scopes:       lc.Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:       lc.AuthURL,
			TokenURL:      lc.TokenURL,
			DeviceAuthURL: lc.DeviceAuthURL,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
	}
	var tok *oauth2.Token
	if opts.Device {
		tok, err = device(ctx, cfg, lc, opts)
	} else {
		tok, err = browser(ctx, cfg, lc, opts)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("login: nobody completed the sign-in within %s; run the command again", opts.Timeout)
		}
		return nil, err
	}
	if tok.RefreshToken == "" {
		return nil, errors.New("login: the provider returned no refresh token; for Microsoft the scopes must include offline_access, for Google the consent screen must be shown again (revoke the app's access in the Google account and retry)")
	}
	return tok, nil
}

// HTTPClient returns a client for the provider's endpoints that trusts
// the system roots and the PEM certificates in extraPEM.
func HTTPClient(extraPEM []byte) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(extraPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(extraPEM) {
			return nil, errors.New("login: the transport's ca_file holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// device runs the device flow: the operator opens a URL on any machine
// and types a code, while we poll the token endpoint.
func device(ctx context.Context, cfg *oauth2.Config, lc *sdk.LoginConfig, opts Options) (*oauth2.Token, error) {
	if lc.DeviceAuthURL == "" {
		reason := lc.NoDeviceReason
		if reason == "" {
			reason = "the provider offers no device flow for this transport"
		}
		return nil, fmt.Errorf("login: no device flow: %s", reason)
	}
	resp, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return nil, fmt.Errorf("login: start the device flow: %w", describe(err))
	}
	fmt.Fprintf(opts.Out, "To sign in%s, open %s on any device and enter the code %s\n", account(lc), resp.VerificationURI, resp.UserCode)
	if resp.VerificationURIComplete != "" {
		fmt.Fprintf(opts.Out, "(or open %s)\n", resp.VerificationURIComplete)
	}
	fmt.Fprintln(opts.Out, "Waiting for the sign-in to complete...")
	tok, err := cfg.DeviceAccessToken(ctx, resp)
	if err != nil {
		return nil, fmt.Errorf("login: device flow: %w", describe(err))
	}
	return tok, nil
}

// callback is what the redirect listener received.
type callback struct {
	code string
	err  error
}

// browser runs the authorization-code flow with PKCE (S256): a listener
// on the loopback interface receives the redirect, the state must match,
// and the code is exchanged with the verifier.
func browser(ctx context.Context, cfg *oauth2.Config, lc *sdk.LoginConfig, opts Options) (*oauth2.Token, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
	if err != nil {
		return nil, fmt.Errorf("login: listen for the redirect on 127.0.0.1:%d: %w (pick another port with -port)", opts.Port, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// The registered redirect URI is http://localhost (Entra ID and
	// Google's installed apps accept any port on it); a browser may
	// resolve localhost to ::1, so listen there too when we can.
	lns := []net.Listener{ln}
	if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(port))); err == nil {
		lns = append(lns, ln6)
	}
	cfg.RedirectURL = "http://localhost:" + strconv.Itoa(port)

	state, err := randomString()
	if err != nil {
		return nil, err
	}
	verifier := oauth2.GenerateVerifier()
	authOpts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for k, v := range lc.AuthParams {
		authOpts = append(authOpts, oauth2.SetAuthURLParam(k, v))
	}
	authURL := cfg.AuthCodeURL(state, authOpts...)

	results := make(chan callback, 1)
	srv := &http.Server{
		Handler:           redirectHandler(state, results),
		ReadHeaderTimeout: 10 * time.Second,
	}
	for _, l := range lns {
		go func() { _ = srv.Serve(l) }()
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	fmt.Fprintf(opts.Out, "To sign in%s, open this URL in a browser:\n\n  %s\n\n", account(lc), authURL)
	fmt.Fprintf(opts.Out, "The browser comes back to %s. On another machine, forward the port first: ssh -L %d:127.0.0.1:%d THIS-HOST\n", cfg.RedirectURL, port, port)
	fmt.Fprintln(opts.Out, "Waiting for the sign-in to complete...")

	var cb callback
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case cb = <-results:
	}
	if cb.err != nil {
		return nil, cb.err
	}
	tok, err := cfg.Exchange(ctx, cb.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("login: exchange the authorization code: %w", describe(err))
	}
	return tok, nil
}

// redirectHandler answers the browser's redirect and hands the first
// result that settles the login (a code with the right state, or an
// error from the provider) to results. Requests with a wrong state are
// refused and do not end the login: they did not come from our URL.
func redirectHandler(state string, results chan<- callback) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("state") != state {
			http.Error(w, "Tocsin: this sign-in answer does not belong to the login in progress (state mismatch).", http.StatusBadRequest)
			return
		}
		var cb callback
		switch {
		case q.Get("error") != "":
			cb.err = fmt.Errorf("login: the provider refused: %s: %s", q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			http.Error(w, "Tocsin: the answer holds no authorization code.", http.StatusBadRequest)
			return
		default:
			cb.code = q.Get("code")
		}
		select {
		case results <- cb:
		default: // the login has its answer already
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		msg := "Sign-in complete. You can close this window; the terminal shows the rest."
		if cb.err != nil {
			msg = "Sign-in failed: " + cb.err.Error()
		}
		fmt.Fprintf(w, "<!doctype html><title>Tocsin</title><p>%s</p>\n", html.EscapeString(msg))
	})
}

// describe adds the provider's error code and description to an error from
// the token endpoint, which x/oauth2 keeps in a *oauth2.RetrieveError.
func describe(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		return fmt.Errorf("%s: %s", re.ErrorCode, re.ErrorDescription)
	}
	return err
}

func account(lc *sdk.LoginConfig) string {
	if lc.Account == "" {
		return ""
	}
	return " as " + lc.Account
}

func randomString() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("login: random state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
