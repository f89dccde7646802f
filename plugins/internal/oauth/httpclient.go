package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
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
	return &http.Client{Transport: capTransport{base: tr}, Timeout: timeout}, nil
}

// MaxReplyBytes bounds the body of every answer read through a client from
// HTTPClient (token endpoints, Graph, the Gmail API): reading past it
// fails with ErrReplyTooLarge. The replies these plugins expect take a few
// kilobytes.
const MaxReplyBytes = 64 << 10

// ErrReplyTooLarge is what reading a reply body longer than MaxReplyBytes
// returns: the rest is not read.
var ErrReplyTooLarge = fmt.Errorf("the server's reply is longer than %d KiB: it was cut there and not read further", MaxReplyBytes>>10)

// RemedyTooLarge is the remedy of a reply cut at MaxReplyBytes.
var RemedyTooLarge = fmt.Sprintf("The server's reply was too large (over %d KiB) and was cut: the service, or a proxy answering in its place, is misbehaving; check the endpoint settings and any HTTPS_PROXY. Tocsin retries.", MaxReplyBytes>>10)

// CutNote follows a reply that was cut at MaxReplyBytes.
var CutNote = fmt.Sprintf("(the reply was over %d KiB and was cut there)", MaxReplyBytes>>10)

// ReadReply reads body up to MaxReplyBytes. cut says that there was more,
// which was not read; err is any other read error.
func ReadReply(body io.Reader) (b []byte, cut bool, err error) {
	b, err = io.ReadAll(io.LimitReader(body, MaxReplyBytes+1))
	if errors.Is(err, ErrReplyTooLarge) {
		return b, true, nil
	}
	if len(b) > MaxReplyBytes {
		return b[:MaxReplyBytes], true, err
	}
	return b, false, err
}

// capTransport bounds the body of every response at MaxReplyBytes.
type capTransport struct{ base http.RoundTripper }

func (t capTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &capBody{ReadCloser: resp.Body, left: MaxReplyBytes}
	return resp, nil
}

// capBody reads up to left more bytes, then fails with ErrReplyTooLarge
// if the body has more.
type capBody struct {
	io.ReadCloser
	left int
}

func (b *capBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n == 0 && err != nil {
			return 0, err // io.EOF: the body ended right at the bound
		}
		return 0, ErrReplyTooLarge
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= n
	return n, err
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
