package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// secured is an agent serving TLS on 127.0.0.1 (securedAgent).
type secured struct {
	agent  *Agent
	base   string       // https://127.0.0.1:port
	client *http.Client // pins the agent's certificate
	// tokens by role, and "local" for data_dir's admin token.
	tokens map[string]string
	// certs are client certificates signed by the agent's client CA:
	// "valid" and "expired".
	certs map[string]tls.Certificate
	pin   string // the agent's fingerprint
	logs  *syncBuffer
}

// securedAgent starts an agent serving TLS on 127.0.0.1 with a read, a
// peer and an admin token (files), and a client CA whose certificates
// are admin credentials ("the-ops-ca", verified_client).
func securedAgent(t *testing.T) secured {
	t.Helper()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	id, err := identity.Load(filepath.Join(dir, "listener"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	ca, caKey := newTestCA(t)
	caFile := filepath.Join(dir, "clients-ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s := secured{tokens: map[string]string{}, pin: id.Fingerprint(), certs: map[string]tls.Certificate{
		"valid":   clientCert(t, ca, caKey, now.Add(-time.Hour), now.Add(time.Hour)),
		"expired": clientCert(t, ca, caKey, now.Add(-48*time.Hour), now.Add(-24*time.Hour)),
	}}
	var creds strings.Builder
	for _, role := range []string{"read", "peer", "admin"} {
		s.tokens[role] = fmt.Sprintf("%s-token-0123456789abcdef", role)
		file := filepath.Join(dir, role+".token")
		if err := os.WriteFile(file, []byte(s.tokens[role]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&creds, "credential %q {\n  role = %q\n  token_file = %q\n}\n", "the-"+role, role, file)
	}
	creds.WriteString("credential \"the-ops-ca\" {\n  role = \"admin\"\n  verified_client = true\n}\n")
	cfg := loadSource(t, fmt.Sprintf(`agent {
  node               = "n1"
  data_dir           = %q
  listen             = "127.0.0.1:0"
  tls_cert_file      = %q
  tls_key_file       = %q
  tls_client_ca_file = %q
}
`, dataDir, id.CertFile(), id.KeyFile(), caFile)+creds.String())
	s.logs = &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: s.logs, Level: hclog.Info})
	a, diags := Start(context.Background(), cfg, logger)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	s.agent = a
	s.client = s.clientWith(t, nil)
	local, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(dataDir))
	if err != nil {
		t.Fatalf("the agent made no local token: %v", err)
	}
	s.tokens["local"] = local
	s.base = "https://" + a.Addr()
	return s
}

// clientWith returns a client that pins the agent's certificate and
// presents cert (none if nil).
func (s secured) clientWith(t *testing.T, cert *tls.Certificate) *http.Client {
	t.Helper()
	tc, err := identity.ClientConfig(s.pin, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
}

// The answers of TestAPI_RouteMatrix besides HTTP statuses.
const (
	// handshakeRefused: the TLS handshake fails; no request is served.
	handshakeRefused = -1
	// closedSilently: the connection is closed without a byte of answer
	// (Go answers plain HTTP with 400 only when its first five bytes look
	// like HTTP: "GET /", "POST " and a few others, not "DELETE").
	closedSilently = -2
)

// plainHTTPAnswer is the whole answer of the TLS listener to a plain
// HTTP request (Go's net/http): nothing of the agent in it.
const plainHTTPAnswer = "Client sent an HTTP request to an HTTPS server.\n"

// TestAPI_RouteMatrix: every route answers each kind of caller as the
// roles say: /healthz to anyone (liveness only without a credential),
// /metrics and /v1/status from read on, the outbox and the silences only
// to admin; no or a wrong credential gets 401, a role too low 403, each
// with a JSON error that says what to do. A client certificate the client
// CA signed is an admin credential; an expired one is refused in the
// handshake. Plain HTTP to the TLS listener gets 400 and nothing of the
// agent, even with an admin token. From another host's address
// (remote-*), an admin credential may read the outbox and the silences
// but not retry, drop, set or expire (LocalOnly, on top of the role): 403
// with a JSON error that says to run the tocsin command on the agent's
// host.
func TestAPI_RouteMatrix(t *testing.T) {
	s := securedAgent(t)
	type route struct{ method, path string }
	routes := []route{
		{"GET", "/healthz"},
		{"GET", "/metrics"},
		{"GET", "/v1/status"},
		{"GET", "/v1/outbox"},
		{"GET", "/v1/outbox/01ABSENT"},
		{"POST", "/v1/outbox/01ABSENT/retry"},
		{"DELETE", "/v1/outbox/01ABSENT"},
		{"GET", "/v1/silences"},
		{"POST", "/v1/silences"},
		{"POST", "/v1/silences/ABSENT/expire"},
		{"GET", "/v1/peer/settings"},
	}
	const refused, closed = handshakeRefused, closedSilently
	// want[caller] holds the answer to each route, in the order above.
	want := map[string][]int{
		"none":         {200, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"wrong":        {200, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"read":         {200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403},
		"peer":         {200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 200},
		"admin":        {200, 200, 200, 200, 404, 404, 404, 200, 400, 404, 403},
		"local":        {200, 200, 200, 200, 404, 404, 404, 200, 400, 404, 403},
		"cert":         {200, 200, 200, 200, 404, 404, 404, 200, 400, 404, 403},
		"expired":      {refused, refused, refused, refused, refused, refused, refused, refused, refused, refused, refused},
		"plain":        {400, 400, 400, 400, 400, 400, closed, 400, 400, 400, 400},
		"remote-none":  {200, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401},
		"remote-read":  {200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403},
		"remote-admin": {200, 200, 200, 200, 404, 403, 403, 200, 403, 403, 403},
		"remote-cert":  {200, 200, 200, 200, 404, 403, 403, 200, 403, 403, 403},
	}
	clients := map[string]*http.Client{"": s.client}
	for _, name := range []string{"valid", "expired"} {
		cert := s.certs[name]
		clients[name] = s.clientWith(t, &cert)
	}
	plainBase := strings.Replace(s.base, "https://", "http://", 1)
	for caller, codes := range want {
		remote := strings.HasPrefix(caller, "remote-")
		cred := strings.TrimPrefix(caller, "remote-")
		for i, rt := range routes {
			t.Run(caller+" "+rt.method+" "+rt.path, func(t *testing.T) {
				base, client := s.base, s.client
				switch cred {
				case "cert":
					client = clients["valid"]
				case "expired":
					client = clients["expired"]
				case "plain":
					base, client = plainBase, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
				}
				req, err := http.NewRequest(rt.method, base+rt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				switch cred {
				case "none", "cert", "expired":
				case "wrong":
					req.Header.Set("Authorization", "Bearer not-a-token-0123456789")
				case "plain":
					// Even an admin token, sent in clear, gets nothing.
					req.Header.Set("Authorization", "Bearer "+s.tokens["admin"])
				default:
					req.Header.Set("Authorization", "Bearer "+s.tokens[cred])
				}
				var (
					code   int
					body   []byte
					header http.Header
				)
				if remote {
					code, body, header = s.fromAnotherHost(t, req, cred == "cert")
				} else {
					resp, err := client.Do(req)
					if codes[i] == closedSilently {
						if err == nil {
							resp.Body.Close()
							t.Fatalf("status %d; want the connection closed without an answer", resp.StatusCode)
						}
						if !errors.Is(err, io.EOF) {
							t.Errorf("%v; want the connection closed without an answer (EOF)", err)
						}
						return
					}
					if codes[i] == handshakeRefused {
						if err == nil {
							resp.Body.Close()
							t.Fatalf("status %d; want the handshake refused", resp.StatusCode)
						}
						if !strings.Contains(err.Error(), "expired certificate") {
							t.Errorf("the refusal does not say why: %v", err)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					code, header = resp.StatusCode, resp.Header
				}
				if code != codes[i] {
					t.Fatalf("status %d, want %d: %s", code, codes[i], body)
				}
				switch {
				case cred == "plain":
					if string(body) != plainHTTPAnswer || len(header) != 0 {
						t.Errorf("plain HTTP got %q with headers %v; want only %q", body, header, plainHTTPAnswer)
					}
					return
				case code == 401:
					if !strings.Contains(string(body), "Authorization: Bearer TOKEN") {
						t.Errorf("401 without what to do: %s", body)
					}
				case code == 403 && rt.path == "/v1/peer/settings":
					// The settings hold secrets: the peer role alone,
					// not admin either.
					if !strings.Contains(string(body), "peer role") {
						t.Errorf("403 without what to do: %s", body)
					}
				case code == 403 && remote && cred != "read":
					var e struct{ Error string }
					if err := json.Unmarshal(body, &e); err != nil || !strings.Contains(e.Error, "agent's own host") || !strings.Contains(e.Error, "tocsin outbox") {
						t.Errorf("403 for a remote admin does not say why and what to do: %s", body)
					}
				case code == 403:
					if !strings.Contains(string(body), "needs admin") {
						t.Errorf("403 without what to do: %s", body)
					}
				}
				if rt.path == "/healthz" {
					var h map[string]any
					if err := json.Unmarshal(body, &h); err != nil {
						t.Fatal(err)
					}
					_, named := h["node"]
					if full := cred != "none" && cred != "wrong"; named != full {
						t.Errorf("/healthz for %s: %s (the node only with a credential)", caller, body)
					}
				}
			})
		}
	}

	// No token in the log, whatever was tried.
	for role, tok := range s.tokens {
		if strings.Contains(s.logs.String(), tok) {
			t.Errorf("the %s token is in the log", role)
		}
	}
	for _, name := range []string{"the-admin", "the-ops-ca"} {
		if !strings.Contains(s.logs.String(), "credential="+name) {
			t.Errorf("admin requests are not logged with the credential's name %s:\n%s", name, s.logs.String())
		}
	}
}

// fromAnotherHost serves req with the agent's handler as if it came over
// TLS from 192.0.2.7, an address of another host, to the agent's
// listener, with the valid client certificate if cert. A loopback
// connection cannot present such an address: LocalOnly takes every
// loopback caller for this host.
func (s secured) fromAnotherHost(t *testing.T, req *http.Request, cert bool) (int, []byte, http.Header) {
	t.Helper()
	ln, err := net.ResolveTCPAddr("tcp", s.agent.Addr())
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, ln))
	req.RemoteAddr = "192.0.2.7:40000"
	req.Host = s.agent.Addr()
	req.RequestURI = req.URL.RequestURI()
	req.TLS = &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	if cert {
		c, err := x509.ParseCertificate(s.certs["valid"].Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		// The listener verified it against the client CA.
		req.TLS.PeerCertificates = []*x509.Certificate{c}
		req.TLS.VerifiedChains = [][]*x509.Certificate{{c}}
	}
	rec := httptest.NewRecorder()
	s.agent.server.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), rec.Header()
}

// TestAPI_StatusForTheReadRole: the read role sees the status without
// addresses and error texts; the peer role sees it whole.
func TestAPI_StatusForTheReadRole(t *testing.T) {
	st := Status{Rules: []engine.RuleStatus{{Name: "r", Error: "exit status 1: secret stderr"}},
		Checks: map[string]engine.CheckStatus{"c": {Kind: "command", Error: "stderr: password=hunter2"}},
		Delivery: DeliveryStatus{Error: "boom", StoreFailing: &StoreFailing{LastError: "disk", Remedy: "free it"},
			Transports: map[string]TransportDelivery{"relay": {State: TransportFailed, Error: "535 auth for vip@example.org", Remedy: "fix", Failing: &TransportFailing{Failures: 2, LastError: "vip@example.org"}}}}}
	st.Node.SharedIPs, st.Node.TestIPs = []string{"10.0.0.10"}, []string{"10.0.0.254"}
	r := st.forReader()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"secret stderr", "hunter2", "vip@example.org", "10.0.0.10", "10.0.0.254", "boom", "disk", "free it", `"remedy":"fix"`} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the read role sees %q: %s", secret, b)
		}
	}
	if r.Delivery.Transports["relay"].Failing.Failures != 2 || r.Rules[0].Name != "r" || r.Checks["c"].Kind != "command" {
		t.Errorf("the read role lost what monitoring needs: %s", b)
	}
	if st.Checks["c"].Error == "" || st.Delivery.Transports["relay"].Failing.LastError == "" {
		t.Error("forReader changed the status it was given")
	}
}

// TestAPI_IdentityUnusable: a TLS identity whose key is readable by others
// is refused; the agent does not serve the API but keeps running, and
// says why in the log.
func TestAPI_IdentityUnusable(t *testing.T) {
	dir := t.TempDir()
	id, err := identity.Load(filepath.Join(dir, "listener"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(id.KeyFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := loadSource(t, fmt.Sprintf(`agent {
  node          = "n1"
  data_dir      = %q
  listen        = "127.0.0.1:0"
  tls_cert_file = %q
  tls_key_file  = %q
}
`, filepath.Join(dir, "data"), id.CertFile(), id.KeyFile()))
	logs := &syncBuffer{}
	a, diags := Start(context.Background(), cfg, hclog.New(&hclog.LoggerOptions{Output: logs}))
	if diags.HasErrors() {
		t.Fatalf("the agent refused to start: %v", diags)
	}
	defer func() { _ = a.Stop(context.Background()) }()
	if a.Addr() != "" {
		t.Errorf("the API is served at %s with an unusable identity", a.Addr())
	}
	if h := a.health(); h.Status != "degraded" || len(h.Problems) == 0 || !strings.Contains(h.Problems[0], "chmod 600") {
		t.Errorf("health %+v; want degraded with the fix", h)
	}
	if !strings.Contains(logs.String(), "chmod 600") {
		t.Errorf("the log does not say what to do:\n%s", logs.String())
	}
}

// TestAPI_ClientCertificates: with tls_client_ca_file, a client
// certificate that CA signed is a credential (verified_client), and an
// expired one is refused in the handshake; a pinned client certificate
// (fingerprint) is one too.
func TestAPI_ClientCertificates(t *testing.T) {
	dir := t.TempDir()
	id, err := identity.Load(filepath.Join(dir, "listener"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	ca, caKey := newTestCA(t)
	caFile := filepath.Join(dir, "clients-ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := clientCert(t, ca, caKey, now.Add(-time.Hour), now.Add(time.Hour))
	expired := clientCert(t, ca, caKey, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	cfg := loadSource(t, fmt.Sprintf(`agent {
  node               = "n1"
  data_dir           = %q
  listen             = "127.0.0.1:0"
  tls_cert_file      = %q
  tls_key_file       = %q
  tls_client_ca_file = %q
}
credential "ops-ca" {
  role            = "admin"
  verified_client = true
}
`, filepath.Join(dir, "data"), id.CertFile(), id.KeyFile(), caFile))
	a, diags := Start(context.Background(), cfg, hclog.NewNullLogger())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	defer func() { _ = a.Stop(context.Background()) }()
	get := func(cert *tls.Certificate) (int, error) {
		tc, err := identity.ClientConfig(id.Fingerprint(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
		resp, err := c.Get("https://" + a.Addr() + "/v1/outbox")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(&valid); err != nil || code != http.StatusOK {
		t.Errorf("a client certificate the CA signed: %d %v; want 200", code, err)
	}
	if code, err := get(nil); err != nil || code != http.StatusUnauthorized {
		t.Errorf("no client certificate: %d %v; want 401", code, err)
	}
	if code, err := get(&expired); err == nil {
		t.Errorf("an expired client certificate got %d; want the handshake refused", code)
	}
}

// newTestCA makes a CA certificate and its key.
func newTestCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test clients CA"},
		NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(72 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// clientCert makes a client certificate signed by ca, valid between from
// and to.
func clientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, from, to time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "ops"},
		NotBefore: from, NotAfter: to, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestAPI_ReloadChangesCredentials: a reload applies the credential
// blocks at once: a token added works, a token removed no longer does.
func TestAPI_ReloadChangesCredentials(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	token := filepath.Join(dir, "prom.token")
	if err := os.WriteFile(token, []byte("prometheus-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("agent {\n  node = \"n1\"\n  data_dir = %q\n  listen = \"127.0.0.1:0\"\n}\n", dataDir)
	withProm := base + fmt.Sprintf("credential \"prometheus\" {\n  role = \"read\"\n  token_file = %q\n}\n", token)
	a, diags := Start(context.Background(), loadSource(t, base), hclog.NewNullLogger())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	defer func() { _ = a.Stop(context.Background()) }()
	metrics := func() int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+a.Addr()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer prometheus-token-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := metrics(); code != http.StatusUnauthorized {
		t.Fatalf("before the credential: %d", code)
	}
	if d := a.Reload(context.Background(), loadSource(t, withProm)); d.HasErrors() {
		t.Fatal(d)
	}
	if code := metrics(); code != http.StatusOK {
		t.Fatalf("after the reload that adds it: %d", code)
	}
	if d := a.Reload(context.Background(), loadSource(t, base)); d.HasErrors() {
		t.Fatal(d)
	}
	if code := metrics(); code != http.StatusUnauthorized {
		t.Fatalf("after the reload that removes it: %d", code)
	}
}
