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
	"fmt"
	"io"
	"math/big"
	"net/http"
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

// securedAgent starts an agent serving TLS on 127.0.0.1 with a read, a
// peer and an admin token (files), and returns its base URL, a client that
// pins its certificate, the tokens by role, and its log.
func securedAgent(t *testing.T) (base string, client *http.Client, tokens map[string]string, logs *syncBuffer) {
	t.Helper()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	id, err := identity.Load(filepath.Join(dir, "listener"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	tokens = map[string]string{}
	var creds strings.Builder
	for _, role := range []string{"read", "peer", "admin"} {
		tokens[role] = fmt.Sprintf("%s-token-0123456789abcdef", role)
		file := filepath.Join(dir, role+".token")
		if err := os.WriteFile(file, []byte(tokens[role]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&creds, "credential %q {\n  role = %q\n  token_file = %q\n}\n", "the-"+role, role, file)
	}
	cfg := loadSource(t, fmt.Sprintf(`agent {
  node          = "n1"
  data_dir      = %q
  listen        = "127.0.0.1:0"
  tls_cert_file = %q
  tls_key_file  = %q
}
`, dataDir, id.CertFile(), id.KeyFile())+creds.String())
	logs = &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
	a, diags := Start(context.Background(), cfg, logger)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	tc, err := identity.ClientConfig(id.Fingerprint(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	local, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(dataDir))
	if err != nil {
		t.Fatalf("the agent made no local token: %v", err)
	}
	tokens["local"] = local
	return "https://" + a.Addr(), client, tokens, logs
}

// TestAPI_RouteMatrix: every route answers each kind of caller as the
// roles say: /healthz to anyone (liveness only without a credential),
// /metrics and /v1/status from read on, the outbox only to admin; no or
// a wrong credential gets 401, a role too low 403, each with a JSON
// error that says what to do; plain HTTP to the TLS listener gets 400.
func TestAPI_RouteMatrix(t *testing.T) {
	base, client, tokens, logs := securedAgent(t)
	type route struct{ method, path string }
	routes := []route{
		{"GET", "/healthz"},
		{"GET", "/metrics"},
		{"GET", "/v1/status"},
		{"GET", "/v1/outbox"},
		{"GET", "/v1/outbox/01ABSENT"},
		{"POST", "/v1/outbox/01ABSENT/retry"},
		{"DELETE", "/v1/outbox/01ABSENT"},
	}
	// want[caller] holds the status of each route, in the order above.
	want := map[string][]int{
		"none":  {200, 401, 401, 401, 401, 401, 401},
		"wrong": {200, 401, 401, 401, 401, 401, 401},
		"read":  {200, 200, 200, 403, 403, 403, 403},
		"peer":  {200, 200, 200, 403, 403, 403, 403},
		"admin": {200, 200, 200, 200, 404, 404, 404},
		"local": {200, 200, 200, 200, 404, 404, 404},
	}
	for caller, codes := range want {
		for i, rt := range routes {
			t.Run(caller+" "+rt.method+" "+rt.path, func(t *testing.T) {
				req, err := http.NewRequest(rt.method, base+rt.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				switch caller {
				case "none":
				case "wrong":
					req.Header.Set("Authorization", "Bearer not-a-token-0123456789")
				default:
					req.Header.Set("Authorization", "Bearer "+tokens[caller])
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != codes[i] {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, codes[i], body)
				}
				switch resp.StatusCode {
				case 401:
					if !strings.Contains(string(body), "Authorization: Bearer TOKEN") {
						t.Errorf("401 without what to do: %s", body)
					}
				case 403:
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
					if full := caller != "none" && caller != "wrong"; named != full {
						t.Errorf("/healthz for %s: %s (the node only with a credential)", caller, body)
					}
				}
			})
		}
	}

	// Plain HTTP to the TLS listener.
	resp, err := http.Get(strings.Replace(base, "https://", "http://", 1) + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
		t.Errorf("plain HTTP: %d %s", resp.StatusCode, body)
	}

	// No token in the log, whatever was tried.
	for role, tok := range tokens {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("the %s token is in the log", role)
		}
	}
	if !strings.Contains(logs.String(), `credential=the-admin`) {
		t.Errorf("admin requests are not logged with the credential's name:\n%s", logs.String())
	}
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
