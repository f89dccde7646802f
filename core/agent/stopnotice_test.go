package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// pairNode is the configuration of one agent of a pair in
// TestAgent_AnnounceStop: TLS with the identity in its data_dir, its
// partner pinned and polled once a day, and a rule on the partner's stop.
const pairNode = `
agent {
  node          = %q
  data_dir      = %q
  listen        = %q
  tls_cert_file = %q
  tls_key_file  = %q
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
  url         = "https://%s"
  fingerprint = %q
  # The slowest poll: once at the start, then not again for a day.
  every = "24h"
}
rule "partner_stopped" {
  schedule = "@every 1s"
  when     = peer.partner.stopping
  notify   = [contact.ops]
  subject  = "partner stopped: ${peer.partner.stop_reason} at ${peer.partner.stopped_at}"
}
`

// freeAddr returns a 127.0.0.1 address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestAgent_AnnounceStop: a primary that is stopped cleanly tells its
// backup before it exits. The backup polls the primary at the slowest
// setting (every = "24h": it read the primary once, at its start, and
// would not again for a day), yet its peer fact says stopping, with the
// time and the reason, as soon as the primary's AnnounceStop returns, a
// rule on it mails, and the primary's own status says stopping until it
// exits. A backup restarted while the primary is down still knows the
// stop was planned (the notice is kept in its data_dir).
func TestAgent_AnnounceStop(t *testing.T) {
	dir := t.TempDir()
	addrs := map[string]string{"a": freeAddr(t), "b": freeAddr(t)}
	ids := map[string]*identity.Identity{}
	for _, n := range []string{"a", "b"} {
		id, err := identity.Load(filepath.Join(dir, n), "", "")
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	cfgOf := func(n, other string) string {
		return fmt.Sprintf(pairNode, "appliance-"+n, filepath.Join(dir, n), addrs[n], ids[n].CertFile(), ids[n].KeyFile(), addrs[other], ids[other].Fingerprint())
	}
	primary, _, primaryLogs := startLogged(t, loadSource(t, cfgOf("a", "b")), time.Now)
	backupCfg := cfgOf("b", "a")
	backup, relay, backupLogs := startLogged(t, loadSource(t, backupCfg), time.Now)

	partner := func(a *Agent) facts.Fact {
		t.Helper()
		return a.current().engine.Snapshot()["partner"]
	}
	// The backup's one read of the primary, at its start.
	for deadline := time.Now().Add(10 * time.Second); !partner(backup).OK; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the backup never read the primary: %+v", partner(backup))
		}
	}
	if f := partner(backup); f.Values["stopping"] != cty.False {
		t.Fatalf("stopping before any stop: %#v", f.Values["stopping"])
	}

	primary.AnnounceStop(context.Background(), "signal SIGTERM")
	// The primary's status says so while it drains.
	if st := primary.statusOf(true); !st.Stopping || st.StopReason != "signal SIGTERM" || st.StoppedAt == nil {
		t.Errorf("the stopping primary's status: stopping %v, reason %q, at %v", st.Stopping, st.StopReason, st.StoppedAt)
	}
	// The push was taken before AnnounceStop returned: no poll needed.
	f := partner(backup)
	at := primary.stopNotice.Load().StoppedAt.Format(time.RFC3339)
	if f.Values["stopping"] != cty.True || f.Values["stop_reason"] != cty.StringVal("signal SIGTERM") || f.Values["stopped_at"] != cty.StringVal(at) {
		t.Fatalf("the backup's peer fact after the notice: %#v", f.Values)
	}
	waitSent(t, relay, "partner stopped: signal SIGTERM at "+at)
	if !strings.Contains(primaryLogs.String(), "the peer was told of this stop: peer=partner reason=\"signal SIGTERM\"") {
		t.Errorf("the primary's log does not say the backup was told:\n%s", primaryLogs.String())
	}
	if !strings.Contains(backupLogs.String(), "the peer announced its stop: peer=partner node=appliance-a reason=\"signal SIGTERM\"") {
		t.Errorf("the backup's log does not say the primary announced its stop:\n%s", backupLogs.String())
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := primary.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}

	// The backup restarts while the primary is down: its first read
	// fails, and the fact still says the stop was planned.
	if err := backup.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	again, _, _ := startLogged(t, loadSource(t, backupCfg), time.Now)
	for deadline := time.Now().Add(10 * time.Second); partner(again).Observed.IsZero(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the restarted backup never read the primary")
		}
	}
	if f := partner(again); f.OK || f.Values["stopping"] != cty.True || f.Values["stopped_at"] != cty.StringVal(at) {
		t.Errorf("the restarted backup's peer fact: ok %v, %#v; want failed, and stopping since %s", f.OK, f.Values, at)
	}
}

// TestAPI_StopNotice_roles: only a caller with the peer role may announce
// a stop: no credential is 401, the read role 403, and admin (the local
// token and the others) 403 too, since the notice speaks for the partner;
// the peer role is heard, and told that this agent has no peer to note
// it for (409). Nothing is noted on a refusal.
func TestAPI_StopNotice_roles(t *testing.T) {
	s := securedAgent(t)
	for _, tc := range []struct {
		caller string
		want   int
		says   string
	}{
		{"none", http.StatusUnauthorized, "needs a credential with the peer role"},
		{"read", http.StatusForbidden, "needs peer"},
		{"admin", http.StatusForbidden, "only the partner may announce its stop"},
		{"local", http.StatusForbidden, "only the partner may announce its stop"},
		{"peer", http.StatusConflict, "no peer block"},
	} {
		t.Run(tc.caller, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, s.base+facts.StopNoticePath, strings.NewReader(`{"node": "x", "reason": "signal SIGTERM"}`))
			if err != nil {
				t.Fatal(err)
			}
			if tok := s.tokens[tc.caller]; tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.says) {
				t.Errorf("%s: %d %s; want %d saying %q", tc.caller, resp.StatusCode, b, tc.want, tc.says)
			}
		})
	}
}

// TestNoticePeer: a stop notice is noted for the peer whose pinned
// fingerprint the caller's certificate has; without a match, for the only
// peer; with several and no match, or none, for nobody, with the reason.
func TestNoticePeer(t *testing.T) {
	dir := t.TempDir()
	ids := map[string]*identity.Identity{}
	for _, n := range []string{"a", "b", "stranger"} {
		id, err := identity.Load(filepath.Join(dir, n), "", "")
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	peerBlock := func(name, fp string) string {
		return fmt.Sprintf("peer %q {\n  url = \"https://127.0.0.1:9\"\n  fingerprint = %q\n}\n", name, fp)
	}
	base := fmt.Sprintf("agent {\n  node = \"n\"\n  data_dir = %q\n}\n", filepath.Join(dir, "data"))
	two := loadSource(t, base+peerBlock("first", ids["a"].Fingerprint())+peerBlock("second", ids["b"].Fingerprint()))
	one := loadSource(t, base+peerBlock("only", ids["a"].Fingerprint()))
	none := loadSource(t, base)
	tests := []struct {
		name    string
		cfg     *config.Config
		cert    string // the caller's identity; "" for none (a token)
		want    string
		errPart string
	}{
		{"the first of two, by its certificate", two, "a", "first", ""},
		{"the second of two, by its certificate", two, "b", "second", ""},
		{"two, and a certificate neither pins", two, "stranger", "", "cannot tell which one"},
		{"two, and a token", two, "", "", "cannot tell which one"},
		{"the only peer, by a token", one, "", "only", ""},
		{"no peer", none, "a", "", "no peer block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{}
			if tc.cert != "" {
				r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{ids[tc.cert].Leaf()}}
			}
			got, err := noticePeer(tc.cfg, r)
			if got != tc.want || (tc.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errPart)) {
				t.Errorf("noticePeer = %q, %v; want %q, error with %q", got, err, tc.want, tc.errPart)
			}
		})
	}
}
