package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// bannerValue returns what the dev banner prints after label ("Status:"),
// or fails.
func bannerValue(t *testing.T, out, label string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), label); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("the dev banner has no %q line:\n%s", label, out)
	return ""
}

// checkDevSecure checks that the dev agent in devDir, whose output so far
// (its banner included) is out, runs in the secure shape: its API answers
// TLS with the identity in data/tls and only callers with a credential;
// the simulated primary is read over https, pinned both ways, and its
// peer fact is ok; the banner's commands work as printed.
func checkDevSecure(t *testing.T, devDir, out string) {
	t.Helper()
	dataDir := filepath.Join(devDir, "data")
	certPEM, err := os.ReadFile(filepath.Join(dataDir, identity.Dir, identity.CertName))
	if err != nil {
		t.Fatalf("dev mode made no identity for the agent: %v", err)
	}
	fp, err := identity.FingerprintPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	api := bannerValue(t, out, "API:")
	base, _, _ := strings.Cut(api, ",")
	if !strings.HasPrefix(base, "https://127.0.0.1:") || !strings.Contains(api, fp) {
		t.Fatalf("banner API line = %q; want https on loopback and the fingerprint %s", api, fp)
	}
	tc, err := identity.ClientConfig(fp, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	get := func(c *http.Client, u, token string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	// The listener answers TLS with the pinned identity, and plain HTTP
	// is refused.
	if code, b := get(client, base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("GET /healthz over the pinned TLS link: %d %s", code, b)
	}
	plain := &http.Client{Timeout: 10 * time.Second}
	if code, b := get(plain, strings.Replace(base, "https://", "http://", 1)+"/healthz", ""); code != http.StatusBadRequest {
		t.Errorf("plain HTTP to the dev listener: %d %s; want 400", code, b)
	}
	if code, b := get(client, base+"/v1/status", ""); code != http.StatusUnauthorized {
		t.Errorf("/v1/status without a credential: %d %s; want 401", code, b)
	}

	// The config pins the simulated primary, which serves exactly that
	// certificate over https.
	cfgText, err := os.ReadFile(filepath.Join(devDir, "agent.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*peer_url\s*=\s*"(https://[^"]+)"\s*\n\s*peer_fingerprint\s*=\s*"(sha256:[0-9a-f]{64})"`).FindSubmatch(cfgText)
	if m == nil {
		t.Fatalf("the dev config does not pin the primary over https:\n%s", cfgText)
	}
	pu, err := url.Parse(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", pu.Host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reads the certificate to compare it with the pin
	if err != nil {
		t.Fatalf("the simulated primary does not answer TLS: %v", err)
	}
	served := identity.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
	_ = conn.Close()
	if served != string(m[2]) {
		t.Errorf("the primary serves %s; the config pins %s", served, m[2])
	}

	// The peer fact is ok over that link (the agent presented its own
	// identity, which the primary pins).
	token, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		Kind  string `json:"kind"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	var st struct {
		Node   struct{ Name string } `json:"node"`
		Checks map[string]check      `json:"checks"`
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, b := get(client, base+"/v1/status", token)
		if code != http.StatusOK {
			t.Fatalf("/v1/status with the admin token: %d %s", code, b)
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if p := st.Checks["partner"]; (p.Kind == "peer" && p.OK) || time.Now().After(deadline) {
			break
		}
	}
	if p := st.Checks["partner"]; p.Kind != "peer" || !p.OK {
		t.Errorf("the partner's peer fact over the pinned link = %+v; want ok", p)
	}

	// The banner's commands work as printed.
	sh := func(command string) []byte {
		t.Helper()
		var stderr bytes.Buffer
		cmd := exec.Command("sh", "-c", command)
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("the banner's command %s: %v\n%s%s", command, err, b, stderr.String())
		}
		return b
	}
	outbox := sh(bannerValue(t, out, "Outbox:"))
	if !strings.Contains(string(outbox), "outbox") && !strings.Contains(string(outbox), "ID") {
		t.Errorf("the banner's outbox command printed:\n%s", outbox)
	}
	status := bannerValue(t, out, "Status:")
	if _, err := exec.LookPath("curl"); err != nil {
		t.Logf("curl is not installed: the banner's status command %q is not run", status)
		return
	}
	st.Node.Name = ""
	if err := json.Unmarshal(sh(status+" -sS --max-time 10"), &st); err != nil || st.Node.Name != "dev-backup" {
		t.Errorf("the banner's status command: node %q (%v)", st.Node.Name, err)
	}
}
