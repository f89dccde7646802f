package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/outboxapi"
	"github.com/tocsin-dev/tocsin/core/server"
)

// maxCertFile bounds what the client reads of the agent's certificate.
const maxCertFile = 1 << 20

// maxShortAnswer bounds what the client reads of an error answer or of
// /healthz.
const maxShortAnswer = 64 << 10

// runAsAgent is the fix for a credential or certificate this process
// cannot read.
const runAsAgent = "run tocsin as the agent's user or root"

// agentClient is the one way the commands reach this host's agent: its
// base URL, an HTTP client that never uses a proxy and, when the agent
// serves TLS, trusts exactly the agent's own certificate (pinned by its
// fingerprint), and the local admin token sent on every request.
type agentClient struct {
	// addr is the host:port dialled, base the scheme and addr.
	addr, base string
	// certFile is the pinned certificate's file ("" over plain HTTP).
	certFile string
	// tokenFile holds the local admin token; token is "" when it could
	// not be read, and noToken then says why and what to do.
	tokenFile string
	token     string
	noToken   error
	http      *http.Client
}

// newAgentClient returns the client for the agent configured by a. It
// fails when the listen address is not host:port, or when the agent
// serves TLS and its certificate cannot be read: without it nothing tells
// the agent from another program at its address. It never reads the
// private key. A token that cannot be read is not an error here: the
// requests then go without credential, and an answer that asks for one
// says why there was none (noToken).
func newAgentClient(a config.Agent) (*agentClient, error) {
	addr, err := agentAddr(a.Listen)
	if err != nil {
		return nil, fmt.Errorf("reach the agent: %w", err)
	}
	c := &agentClient{addr: addr, base: "http://" + addr, tokenFile: apiauth.LocalTokenPath(a.DataDir)}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	if a.ServesTLS() {
		c.base = "https://" + addr
		c.certFile = agentCertFile(a)
		fp, err := readCertFingerprint(c.certFile)
		if err != nil {
			how := fmt.Sprintf("the agent creates %s when it starts", c.certFile)
			if a.TLSCertFile != "" {
				how = "or check tls_cert_file in the agent block"
			}
			return nil, fmt.Errorf("%w: %s; %s", err, runAsAgent, how)
		}
		tc, err := identity.ClientConfig(fp, "", nil)
		if err != nil {
			return nil, fmt.Errorf("pin the agent's certificate %s: %w", c.certFile, err)
		}
		tr.TLSClientConfig = tc
	}
	c.http = &http.Client{Transport: tr}
	c.token, err = apiauth.ReadSecretFile(c.tokenFile)
	if err != nil {
		c.noToken = fmt.Errorf("%s: %w; the agent creates %s when it starts", runAsAgent, err, c.tokenFile)
	}
	return c, nil
}

// agentAddr is the host:port to reach the agent listening on listen: an
// unspecified host (empty, 0.0.0.0, ::) becomes the loopback address of
// its family.
func agentAddr(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if host == "" {
		host = "127.0.0.1"
	} else if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
		if ip.Is6() {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port), nil
}

// probe is what probeAgent found out.
type probe struct {
	addr string // host:port asked
	node string // the node that answered
	// anon is set when an agent answered but did not say which node it
	// is, as it answers a caller without an accepted credential.
	anon bool
	err  error // why no agent said which node it is
}

// probeAgent asks /healthz of the agent configured by a, with its admin
// token, which node answers at its listen address. The client is nil
// when it could not be made (p.err says why).
func probeAgent(ctx context.Context, a config.Agent) (*agentClient, probe) {
	client, err := newAgentClient(a)
	if err != nil {
		addr, aerr := agentAddr(a.Listen)
		if aerr != nil {
			addr = a.Listen
		}
		return nil, probe{addr: addr, err: err}
	}
	p := probe{addr: client.addr}
	resp, err := client.do(ctx, http.MethodGet, "/healthz")
	if err != nil {
		p.err = err
		return client, p
	}
	defer resp.Body.Close()
	if err := client.refused(resp, http.MethodGet, "/healthz"); err != nil {
		p.err = err
		return client, p
	}
	var h server.Health
	switch {
	case resp.StatusCode != http.StatusOK:
		p.err = fmt.Errorf("GET /healthz: %s", resp.Status)
	case json.NewDecoder(io.LimitReader(resp.Body, maxShortAnswer)).Decode(&h) != nil || h.Status == "":
		p.err = errors.New("GET /healthz: not a tocsin agent's answer")
	case h.Node == "" && client.token == "":
		p.anon = true
		p.err = fmt.Errorf("GET /healthz: the agent does not tell a caller without credential which node it is: %w", client.noToken)
	case h.Node == "":
		p.anon = true
		p.err = fmt.Errorf("GET /healthz: the agent did not take the admin token in %s as a credential (does it run with another data_dir?)", client.tokenFile)
	default:
		p.node = h.Node
	}
	return client, p
}

// agentCertFile is the certificate the agent configured by a serves: the
// operator's tls_cert_file, else the one it generates in data_dir.
func agentCertFile(a config.Agent) string {
	if a.TLSCertFile != "" {
		return a.TLSCertFile
	}
	return filepath.Join(a.DataDir, identity.Dir, identity.CertName)
}

// readCertFingerprint returns the fingerprint of the first certificate in
// the PEM file name.
func readCertFingerprint(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("read the agent's certificate: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxCertFile))
	if err != nil {
		return "", fmt.Errorf("read the agent's certificate %s: %w", name, err)
	}
	fp, err := identity.FingerprintPEM(data)
	if err != nil {
		return "", fmt.Errorf("read the agent's certificate %s: %w", name, err)
	}
	return fp, nil
}

// url is the address of path on the agent.
func (c *agentClient) url(path string) string { return c.base + path }

// do sends method path to the agent with the admin token, when there is
// one, and returns the answer, whatever its status. The caller closes its
// body. A certificate other than the pinned one fails with an error that
// wraps the *identity.PinError.
func (c *agentClient) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), nil)
	if err != nil {
		return nil, fmt.Errorf("ask the agent: %w", err)
	}
	return c.Do(req)
}

// Do sends req, made for the agent's base URL, with the admin token when
// there is one, and returns the answer, whatever its status: the
// outboxapi.Doer of the outbox commands. A certificate other than the
// pinned one fails with an error that wraps the *identity.PinError.
func (c *agentClient) Do(req *http.Request) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if pe := (*identity.PinError)(nil); errors.As(err, &pe) {
		return nil, fmt.Errorf("ask the agent at %s: what answers there is not the agent whose certificate is %s: %w", c.addr, c.certFile, err)
	}
	if err != nil {
		return nil, fmt.Errorf("ask the agent: %w", err)
	}
	return resp, nil
}

// refused returns the error for an answer that refused the request's
// credential (401 or 403): the agent's own error and, when no token was
// sent, why and what to do. It returns nil for other answers. It reads
// the body of such an answer.
func (c *agentClient) refused(resp *http.Response, method, path string) error {
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		return nil
	}
	return c.refusal(resp.StatusCode, resp.Status, method, path, strings.TrimSpace(readErrorBody(resp.Body)))
}

// explain returns err, or for an outbox API answer that refused the
// credential, the error refused gives for it.
func (c *agentClient) explain(err error) error {
	if se := (*outboxapi.StatusError)(nil); errors.As(err, &se) && se.Refused() {
		return c.refusal(se.StatusCode, se.Status, se.Method, se.Path, se.Text())
	}
	return err
}

// refusal is the error for an answer with code (401 or 403) and status
// line status to method path, whose error message is msg.
func (c *agentClient) refusal(code int, status, method, path, msg string) error {
	switch {
	case code == http.StatusUnauthorized && c.token == "" && c.noToken != nil:
		return fmt.Errorf("%s %s: the agent refused the request without credential (%s): %s; %w", method, path, status, msg, c.noToken)
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: the agent did not accept the admin token in %s (%s): %s", method, path, c.tokenFile, status, msg)
	default:
		return fmt.Errorf("%s %s: the agent refused the request (%s): %s", method, path, status, msg)
	}
}

// readErrorBody returns the message of an error answer: the "error" of a
// JSON answer, else its text.
func readErrorBody(r io.Reader) string {
	body, _ := io.ReadAll(io.LimitReader(r, maxShortAnswer))
	var ae outboxapi.Error
	if json.Unmarshal(body, &ae) == nil && ae.Message != "" {
		return ae.Message
	}
	return string(body)
}
