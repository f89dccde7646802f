package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/identity"
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
	msg := strings.TrimSpace(readErrorBody(resp.Body))
	switch {
	case resp.StatusCode == http.StatusUnauthorized && c.token == "" && c.noToken != nil:
		return fmt.Errorf("%s %s: the agent refused the request without credential (%s): %s; %w", method, path, resp.Status, msg, c.noToken)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: the agent did not accept the admin token in %s (%s): %s", method, path, c.tokenFile, resp.Status, msg)
	default:
		return fmt.Errorf("%s %s: the agent refused the request (%s): %s", method, path, resp.Status, msg)
	}
}

// readErrorBody returns the message of an error answer: the "error" of a
// JSON answer, else its text.
func readErrorBody(r io.Reader) string {
	body, _ := io.ReadAll(io.LimitReader(r, maxShortAnswer))
	var ae agent.APIError
	if json.Unmarshal(body, &ae) == nil && ae.Message != "" {
		return ae.Message
	}
	return string(body)
}
