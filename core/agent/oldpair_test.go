package agent

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/library"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/core/server"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// startLogged starts an agent on cfg with fake plugins (relay accepts
// everything, into the fake returned), the clock now and a log kept in
// the buffer returned, and stops it at the end of the test.
func startLogged(t *testing.T, cfg *config.Config, now func() time.Time) (*Agent, *fakeTransport, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	fs := newFakeStarter()
	relay := accepts("250 ok")
	fs.plugins["relay"] = relay
	a, diags := start(context.Background(), &Agent{cfg: cfg, now: now, starter: fs.start,
		logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})})
	if a == nil || diags.HasErrors() {
		t.Fatalf("the agent did not start: %v", diags)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(ctx)
	})
	return a, relay, logs
}

// waitSent waits until relay has sent a message whose subject is subject
// (a hang guard, not a timing) and returns it.
func waitSent(t *testing.T, relay *fakeTransport, subject string) *sdk.Message {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, m := range relay.messages() {
			if m.Subject == subject {
				return m
			}
		}
	}
	t.Fatalf("no mail %q was sent; sent: %d", subject, len(relay.messages()))
	return nil
}

// oldPairConfig is a backup's configuration from before the API was
// secured, as a package upgrade finds it: a network listen address
// without TLS settings, and the partner read over plain HTTP.
const oldPairConfig = `
agent {
  node     = "appliance-b"
  data_dir = "%DATA%"
  listen   = "0.0.0.0:0"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
peer "partner" {
  url = "http://192.0.2.1:9870"
}
rule "partner_not_read" {
  schedule = "@every 1s"
  when     = !peer.partner.ok
  notify   = [contact.ops]
  subject  = "partner not read"
  text     = "${peer.partner.error}"
}
`

// TestAgent_OldPairConfig: with an old pair's configuration the agent
// does not refuse to alert. It serves its API over TLS with its own
// identity (the network address asks for it), does not read the partner
// over plain HTTP (the peer fact fails, with the reason), keeps
// evaluating and mailing (a rule on the peer fact fires and its mail goes
// out), and says so loudly: the log holds the fix, /healthz is degraded.
func TestAgent_OldPairConfig(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := loadSource(t, strings.ReplaceAll(oldPairConfig, "%DATA%", dataDir))
	a, relay, logs := startLogged(t, cfg, time.Now)

	// The peer fact: not read, with the reason and the fix.
	_, checks := a.current().engine.NodeAndChecks()
	p := checks["partner"]
	if p.Kind != "peer" || p.OK || !strings.Contains(p.Error, "not read: http://192.0.2.1:9870 is plain HTTP") ||
		!strings.Contains(p.Error, "use https:// with the partner's fingerprint") {
		t.Errorf("peer fact = %+v; want failed: not read, plain HTTP, with the fix", p)
	}

	// The rule on it fires, and its mail goes out.
	m := waitSent(t, relay, "partner not read")
	if !strings.Contains(m.Text, "plain HTTP") || m.To[0].Address != "ops@example.com" {
		t.Errorf("the alert = %q to %v", m.Text, m.To)
	}

	// The log holds the fix.
	if l := logs.String(); !strings.Contains(l, "[WARN]  Insecure peer link: Peer \"partner\": http://192.0.2.1:9870 is plain HTTP") ||
		!strings.Contains(l, "use https:// with the partner's fingerprint (tocsin identity on the partner prints it)") {
		t.Errorf("the log does not say what to fix:\n%s", l)
	}

	// /healthz, over TLS with the identity the agent generated, says it
	// is degraded and why (to a caller with a credential).
	h := a.health()
	if h.Status != server.StatusDegraded || len(h.Problems) != 1 || !strings.HasPrefix(h.Problems[0], "Insecure peer link: ") {
		t.Errorf("health = %+v; want degraded by the insecure peer link", h)
	}
	id, err := identity.Load(dataDir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := identity.ClientConfig(id.Fingerprint(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	token, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(a.Addr())
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:"+port+"/healthz", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatalf("the API is not served over TLS with the agent's identity: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var served server.Health
	if err := json.Unmarshal(body, &served); err != nil || served.Status != server.StatusDegraded || len(served.Problems) != 1 {
		t.Errorf("GET /healthz = %d %s", resp.StatusCode, body)
	}
}

// unservedBackup is a backup whose listener's key is too open, watched
// by the failover library with its default self check (this agent's
// /healthz).
const unservedBackup = `
agent {
  node          = "appliance-b"
  data_dir      = "%DATA%"
  listen        = "%LISTEN%"
  tls_cert_file = "%CERT%"
  tls_key_file  = "%KEY%"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
library "failover" {
  role     = "backup"
  peer_url = "https://127.0.0.1:1"
  notify   = [contact.ops]
}
`

// TestAgent_APINotServedIsAnAlert: when the API cannot be served (here
// its key is readable by others), no /healthz answers to say "degraded",
// and no agent.* variable tells rules (core/rules has none for it); the
// failover library's self check, which GETs this agent's /healthz,
// fails, and backup_self_check_failed mails it once it has lasted its 2
// minutes. With the key fixed, the same check is ok.
func TestAgent_APINotServedIsAnAlert(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mode   os.FileMode
		served bool
	}{
		{name: "key too open", mode: 0o644},
		{name: "key fixed", mode: 0o600, served: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			id, err := identity.Load(filepath.Join(dir, "listener"), "", "")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(id.KeyFile(), tt.mode); err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			listen := ln.Addr().String()
			_ = ln.Close()
			src := strings.NewReplacer("%DATA%", filepath.Join(dir, "data"), "%LISTEN%", listen, "%CERT%", id.CertFile(), "%KEY%", id.KeyFile()).Replace(unservedBackup)
			cfg := loadSource(t, src)
			var rule *rules.Rule
			for _, r := range cfg.Rules {
				if r.Name == "backup_self_check_failed" {
					rule = r
				}
			}
			if rule == nil {
				t.Fatal("the library declares no backup_self_check_failed")
			}
			clock := &watchClock{t: time.Now()}
			a, relay, _ := startLogged(t, cfg, clock.now)
			if served := a.Addr() != ""; served != tt.served {
				t.Fatalf("API served = %v (%q), want %v", served, a.Addr(), tt.served)
			}
			eng := a.current().engine
			_, checks := eng.NodeAndChecks()
			self := checks[library.SelfCheck]
			if self.OK != tt.served {
				t.Fatalf("check self = %+v; want ok = %v", self, tt.served)
			}
			if tt.served {
				return
			}
			if !strings.Contains(self.Error, listen) {
				t.Errorf("check self's error %q does not name the address", self.Error)
			}
			eng.Evaluate(context.Background(), rule)
			if p := rulePhase(eng, rule.Name); p != rules.Pending.String() {
				t.Errorf("phase at once = %q, want pending (for 2m)", p)
			}
			clock.advance(2*time.Minute + time.Second)
			eng.Evaluate(context.Background(), rule)
			m := waitSent(t, relay, "appliance-b: the backup could not check itself")
			if !strings.Contains(m.Text, listen) {
				t.Errorf("the alert does not say what failed:\n%s", m.Text)
			}
		})
	}
}
