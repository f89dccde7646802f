package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/oauth2"
)

// HTTPClient returns a client that trusts the system roots plus the PEM
// certificates in caFile ("" = system roots only), with the given timeout
// for each request (0 = none). The error names the file and says what is
// wrong with it. Proxies come from the environment, as with
// http.DefaultTransport.
func HTTPClient(caFile string, timeout time.Duration) (*http.Client, error) {
	extra, err := CACertsPEM(caFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if extra != nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool() // no system roots on this platform: the file's only
		}
		pool.AppendCertsFromPEM(extra)
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// CACertsPEM reads caFile ("" -> nil, nil) and checks that it holds at
// least one PEM certificate. The error names the file and says what is
// wrong with it.
func CACertsPEM(caFile string) ([]byte, error) {
	if caFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read ca_file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("read ca_file %s: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", caFile)
	}
	return b, nil
}

// withClient returns ctx carrying hc for x/oauth2 (nil hc: its default).
func withClient(ctx context.Context, hc *http.Client) context.Context {
	if hc == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// bindContext returns a copy of hc whose requests also end when ctx ends.
// golang.org/x/oauth2/jwt sends its request without a context; this keeps
// a caller's cancellation working there.
func bindContext(ctx context.Context, hc *http.Client) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	if ctx.Done() == nil {
		return hc
	}
	c := *hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = ctxTransport{ctx: ctx, base: base}
	return &c
}

// ctxTransport cancels each request when either its own context or ctx
// ends.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	release := func() {
		stop()
		cancel(nil)
	}
	resp, err := t.base.RoundTrip(r.WithContext(rctx))
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// releaseBody calls release once the body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
