package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/library"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// writeClientCertificate writes a self-signed RSA certificate (what the
// graph plugin signs its client assertions with) that expires at
// notAfter, and its key, to dir, and returns their paths.
func writeClientCertificate(t *testing.T, dir string, notAfter time.Time) (cert, key string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "tocsin-alerts"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "graph.crt"), filepath.Join(dir, "graph.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestCredentialExpiring_Certificate: a graph transport signs in with a
// client certificate that expires in 5 days. The real agent reads the
// certificate's NotAfter, the library's credential_expiring fires, and
// its warning reaches an in-process SMTP server through the other
// transport (delivery_alert_contact's), naming the transport, the
// certificate, the date and what to do. tocsin validate and /v1/status
// show the same expiry. A renewed certificate and a reload resolve it.
func TestCredentialExpiring_Certificate(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	dir := t.TempDir()
	expires := time.Now().Add(5*24*time.Hour + time.Hour).UTC().Truncate(time.Second)
	cert, key := writeClientCertificate(t, dir, expires)
	listen := freePort(t)

	// Every other library rule is left out: this test is about one. The
	// graph transport points at a closed local port: nothing is sent
	// through it, and nothing leaves the machine.
	var disable []string
	for _, name := range library.RuleNames() {
		if name != "credential_expiring" {
			disable = append(disable, fmt.Sprintf("%q", name))
		}
	}
	src := fmt.Sprintf(`
transport "graph" {
  plugin = "graph"
  from   = "alerts@example.com"
  config {
    tenant_id          = "contoso.onmicrosoft.com"
    client_id          = "00000000-0000-0000-0000-000000000001"
    client_certificate = %q
    client_key         = %q
    authority          = "https://127.0.0.1:1"
    graph_endpoint     = "https://127.0.0.1:1"
  }
}
%s
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.graph]
}
contact "ops_fallback" {
  email = ["pager@example.com"]
  via   = [transport.relay]
}
library "failover" {
  role                   = "primary"
  peer_url               = "http://%s"
  peer_insecure          = true
  notify                 = [contact.ops]
  delivery_alert_contact = contact.ops_fallback
  evaluate_every         = "1s"
  disable                = [%s]
}
`, cert, key, smtpTransport("relay", srv.Addr(), ""), freePort(t), strings.Join(disable, ", "))
	config := writeConfig(t, listen, src)

	// validate shows the certificate and its expiry.
	res := runCLI(t, "validate", "-config", config)
	out := res.stdout
	if res.code != 0 {
		t.Fatalf("validate exited %d:\n%s%s", res.code, out, res.stderr)
	}
	if want := fmt.Sprintf("  graph: client certificate %s (CN=tocsin-alerts, thumbprint ", cert); !strings.Contains(out, want) ||
		!strings.Contains(out, "expires "+expires.Format(time.RFC3339)+" (5 days left; from certificate)") {
		t.Errorf("validate does not show the certificate's expiry:\n%s", out)
	}

	p := startAgent(t, config, listen)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msgs, err := srv.Wait(ctx, 1)
	if err != nil {
		t.Fatalf("no warning arrived: %v\n%s", err, tail(p.logText(), 4000))
	}
	m := msgs[0]
	if !slices.Equal(m.To, []string{"pager@example.com"}) {
		t.Errorf("the warning went to %v, want the fallback contact", m.To)
	}
	subject := subjectOf(t, m)
	if want := fmt.Sprintf("node-a: the client certificate %s (CN=tocsin-alerts, thumbprint ", cert); !strings.HasPrefix(subject, want) ||
		!strings.HasSuffix(subject, fmt.Sprintf(") of transport graph expires on %s (in 5 days)", expires.Format(time.DateOnly))) {
		t.Errorf("subject %q", subject)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Join(strings.Fields(string(text)), " ") // unfolded
	for _, want := range []string{
		"Transport graph: client certificate " + cert,
		fmt.Sprintf("expires on %s at %s UTC (in 5 days).", expires.Format(time.DateOnly), expires.Format("15:04")),
		"Create a new certificate, upload it to the app registration in the portal",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the text does not say %q:\n%s", want, m.Data)
		}
	}

	// /v1/status has the same fact.
	creds := p.credentials(t)
	g, r := creds["graph"], creds["relay"]
	if g.Expires == nil || !g.Expires.Equal(expires) || g.DaysLeft == nil || *g.DaysLeft != 5 || g.Source == nil || *g.Source != "certificate" {
		t.Errorf("/v1/status credentials.graph = %+v", g)
	}
	if _, ok := creds["relay"]; !ok || r.Expires != nil || r.Source != nil {
		t.Errorf("/v1/status credentials.relay = %+v (present %v), want nothing known", r, ok)
	}

	// One warning per threshold: no repeat while it holds.
	time.Sleep(3 * time.Second)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want the one warning", n)
	}

	// The operator renews the certificate (a new one in the same file)
	// and reloads: the agent reads it again, and the rule resolves with
	// a mail.
	renewed := time.Now().Add(400 * 24 * time.Hour).UTC().Truncate(time.Second)
	writeClientCertificate(t, dir, renewed)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	msgs, err = srv.Wait(ctx, 2)
	if err != nil {
		t.Fatalf("no mail after the renewal: %v\n%s", err, tail(p.logText(), 4000))
	}
	if got := subjectOf(t, msgs[1]); got != "Resolved: node-a: the expiring credentials were renewed" {
		t.Errorf("after the renewal: subject %q", got)
	}
	if st := p.credentials(t)["graph"]; st.Expires == nil || !st.Expires.Equal(renewed) {
		t.Errorf("after the reload, /v1/status credentials.graph = %+v, want it to expire at %s", st, renewed)
	}
}

// credentials reads /v1/status's credentials.
func (p *agentProc) credentials(t *testing.T) map[string]agent.CredentialStatus {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := authGet(&c, p.dataDir, "http://"+p.listen+"/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st agent.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.Credentials
}
