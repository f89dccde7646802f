package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// writeCertificate writes a self-signed certificate for cn that expires
// at notAfter to dir/name, after a private key block (as a file that holds
// both does), and returns its path.
func writeCertificate(t *testing.T, dir, name, cn string, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notAfter.Add(-365 * 24 * time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCertificateExpiry(t *testing.T) {
	dir := t.TempDir()
	notAfter := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	path := writeCertificate(t, dir, "graph.pem", "tocsin-alerts", notAfter)
	got, what, err := CertificateExpiry(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(notAfter) {
		t.Errorf("expiry %s, want %s", got, notAfter)
	}
	if !strings.HasPrefix(what, "client certificate "+path+" (CN=tocsin-alerts, thumbprint ") || len(what) != len("client certificate "+path+" (CN=tocsin-alerts, thumbprint )")+40 {
		t.Errorf("what = %q", what)
	}

	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope.pem"), "no such file"},
		{"no certificate", filepath.Join(dir, "key.pem"), "no PEM certificate"},
	} {
		if _, _, err := CertificateExpiry(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// loadTransports loads a configuration of the transports in src.
func loadTransports(t *testing.T, dir, src string) *config.Config {
	t.Helper()
	src += `
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
`
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return cfg
}

// TestCredentialWatch_Facts: each transport's credential comes from its
// client certificate or client_secret_expires (the earlier one), and a
// stored login adds when it was obtained and rotated; a transport with
// none has an unknown credential.
func TestCredentialWatch_Facts(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	soon := writeCertificate(t, dir, "soon.pem", "soon", now.Add(5*24*time.Hour))
	late := writeCertificate(t, dir, "late.pem", "late", now.Add(400*24*time.Hour))
	cfg := loadTransports(t, dir, `
transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}
transport "graph" {
  plugin = "graph"
  from   = "alerts@example.com"
  config {
    client_certificate = "`+soon+`"
  }
}
transport "both" {
  plugin                = "graph"
  from                  = "alerts@example.com"
  client_secret_expires = "2027-01-10"
  config {
    client_certificate = "`+late+`"
  }
}
transport "secret" {
  plugin                = "smtp-oauth-ms"
  from                  = "alerts@example.com"
  client_secret_expires = "2028-06-30T14:05:00Z"
}
transport "broken" {
  plugin = "graph"
  from   = "alerts@example.com"
  config {
    client_certificate = "`+filepath.Join(dir, "missing.pem")+`"
  }
}
`)
	obtained, rotated := now.Add(-30*24*time.Hour), now.Add(-time.Hour)
	reads := 0
	logins := func() ([]tokenstore.Status, error) {
		reads++
		return []tokenstore.Status{
			{Transport: "relay", Account: "alerts@example.com", ObtainedAt: obtained, RefreshedAt: rotated},
			{Transport: "secret", ObtainedAt: obtained},
		}, nil
	}
	w := newCredentialWatch(cfg, logins, hclog.NewNullLogger())
	got := w.Facts(now)
	want := map[string]rules.CredentialFact{
		"relay":  {Source: rules.CredentialLogin, What: "stored login", ObtainedAt: obtained, RefreshedAt: rotated},
		"graph":  {Expires: now.Add(5 * 24 * time.Hour), Source: rules.CredentialCertificate},
		"both":   {Expires: time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC), Source: rules.CredentialSecret, What: "client secret"},
		"secret": {Expires: time.Date(2028, 6, 30, 14, 5, 0, 0, time.UTC), Source: rules.CredentialSecret, What: "client secret", ObtainedAt: obtained},
		"broken": {},
	}
	if len(got) != len(want) {
		t.Fatalf("facts for %d transports, want %d: %v", len(got), len(want), got)
	}
	for name, w := range want {
		g := got[name]
		if name == "graph" {
			if !strings.HasPrefix(g.What, "client certificate "+soon+" (CN=soon, thumbprint ") {
				t.Errorf("graph: what = %q", g.What)
			}
			g.What = ""
		}
		if !g.Expires.Equal(w.Expires) || g.Source != w.Source || g.What != w.What || !g.ObtainedAt.Equal(w.ObtainedAt) || !g.RefreshedAt.Equal(w.RefreshedAt) {
			t.Errorf("%s: %+v, want %+v", name, g, w)
		}
	}
	if v := w.Value(now).Index(cty.StringVal("graph")).GetAttr("days_left"); !v.RawEquals(cty.NumberIntVal(5)) {
		t.Errorf("graph: days_left = %#v, want 5", v)
	}

	// The token store is read again after loginRefresh, not at every tick.
	w.Facts(now.Add(30 * time.Second))
	if reads != 1 {
		t.Errorf("the token store was read %d times within a minute, want 1", reads)
	}
	w.Facts(now.Add(loginRefresh))
	if reads != 2 {
		t.Errorf("the token store was read %d times after a minute, want 2", reads)
	}
}

// TestCredentialWatch_unreadableLogins: a token store that cannot be read
// keeps the login times last read and the configuration's expiries.
func TestCredentialWatch_unreadableLogins(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	cfg := loadTransports(t, dir, `
transport "relay" {
  plugin                = "smtp-oauth-ms"
  from                  = "alerts@example.com"
  client_secret_expires = "2027-01-01"
}
`)
	fail := false
	logins := func() ([]tokenstore.Status, error) {
		if fail {
			return nil, errors.New("decrypt relay.token: wrong key")
		}
		return []tokenstore.Status{{Transport: "relay", ObtainedAt: now}}, nil
	}
	w := newCredentialWatch(cfg, logins, hclog.NewNullLogger())
	w.Facts(now)
	fail = true
	f := w.Facts(now.Add(2 * loginRefresh))["relay"]
	if !f.ObtainedAt.Equal(now) || f.Source != rules.CredentialSecret || !f.Expires.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("after a failed read: %+v", f)
	}
}

// TestNewCredentialStatus: unknowns are null in /v1/status.
func TestNewCredentialStatus(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st := NewCredentialStatus(rules.CredentialFact{}, now)
	if st.Expires != nil || st.DaysLeft != nil || st.Source != nil || st.What != nil || st.ObtainedAt != nil || st.RefreshedAt != nil {
		t.Errorf("nothing known: %+v, want all nil", st)
	}
	st = NewCredentialStatus(rules.CredentialFact{Expires: now.Add(72 * time.Hour), Source: rules.CredentialSecret, What: "client secret"}, now)
	if st.Expires == nil || st.DaysLeft == nil || *st.DaysLeft != 3 || *st.Source != "client_secret_expires" {
		t.Errorf("a client secret: %+v", st)
	}
}

// TestCredentialFacts_Plugin: real plugin processes. The expiring test
// plugin reports its credential's lifetime, which becomes the transport's
// credential (source "plugin") unless client_secret_expires is earlier;
// smtp-basic, which does not report one (as no plugin built before the
// field existed does), still starts and configures, and its credential is
// unknown.
func TestCredentialFacts_Plugin(t *testing.T) {
	plugins := sdktest.PluginDir(t, map[string]string{
		"expiring":   "github.com/tocsin-dev/tocsin/core/agent/testdata/expiring",
		"smtp-basic": "github.com/tocsin-dev/tocsin/plugins/smtp-basic",
	})
	dir := t.TempDir()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	cfg := loadTransports(t, dir, `
agent {
  data_dir   = "data"
  plugin_dir = "`+plugins+`"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
  config {
    host     = "127.0.0.1"
    port     = 2525
    security = "none"
  }
}
transport "api" {
  plugin = "expiring"
  from   = "alerts@example.com"
  config {
    expires = "2026-12-20T08:00:00Z"
  }
}
transport "earlier" {
  plugin                = "expiring"
  from                  = "alerts@example.com"
  client_secret_expires = "2026-12-10"
  config {
    expires = "2026-12-20T08:00:00Z"
  }
}
transport "silent" {
  plugin = "expiring"
  from   = "alerts@example.com"
}
`)
	host := NewPluginHost(hclog.NewNullLogger(), cfg.Agent)
	t.Cleanup(host.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ts, diags := PrepareTransports(ctx, cfg, host, hclog.NewNullLogger(), nil)
	if diags.HasErrors() || len(ts) != 4 {
		t.Fatalf("%d transports prepared: %v", len(ts), diags)
	}
	got := CredentialFacts(cfg, ts, now, hclog.NewNullLogger())
	want := map[string]rules.CredentialFact{
		"relay":   {},
		"api":     {Expires: time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC), Source: rules.CredentialPlugin, What: "API key alerts-2026"},
		"earlier": {Expires: time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC), Source: rules.CredentialSecret, What: "client secret"},
		"silent":  {},
	}
	for name, w := range want {
		g := got[name]
		if !g.Expires.Equal(w.Expires) || g.Source != w.Source || g.What != w.What {
			t.Errorf("%s: %+v, want %+v", name, g, w)
		}
	}
}

// TestCredentialFacts_TokenStore: the times of a login stored in the
// agent's real token store (as tocsin oauth login stores it) become the
// transport's obtained_at, and a rotation its refreshed_at.
func TestCredentialFacts_TokenStore(t *testing.T) {
	dir := t.TempDir()
	cfg := loadTransports(t, dir, `
agent {
  data_dir = "data"
}
transport "relay" {
  plugin = "smtp-oauth-ms"
  from   = "alerts@example.com"
}
transport "other" {
  plugin = "smtp-basic"
  from   = "alerts@example.com"
}
`)
	now := time.Now().UTC().Truncate(time.Second)
	store := NewTokenStore(cfg.Agent)
	if err := store.Put(tokenstore.Entry{Transport: "relay", RefreshToken: "rt-1", Account: "alerts@example.com", ObtainedAt: now.Add(-48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f := CredentialFacts(cfg, nil, now, hclog.NewNullLogger())
	if r := f["relay"]; r.Source != rules.CredentialLogin || !r.ObtainedAt.Equal(now.Add(-48*time.Hour)) || !r.RefreshedAt.IsZero() || !r.Expires.IsZero() {
		t.Errorf("relay after the login: %+v", r)
	}
	if o := f["other"]; o.Source != "" || !o.ObtainedAt.IsZero() {
		t.Errorf("other: %+v, want nothing known", o)
	}
	if err := store.SaveCredential("relay", "rt-2"); err != nil {
		t.Fatal(err)
	}
	if r := CredentialFacts(cfg, nil, now, hclog.NewNullLogger())["relay"]; r.RefreshedAt.IsZero() {
		t.Errorf("relay after a rotation: %+v, want refreshed_at", r)
	}
}
