package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// syncPrimary is the primary of TestSettingsSync_BackupTakesOver: both
// transports and both contacts are here, their secrets read with file(),
// each transport with a test_to.
const syncPrimary = `
agent {
  node          = "primary"
  plugin_dir    = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir      = "data-primary"
  listen        = %[1]q
  tls_cert_file = "data-primary/tls/agent.crt"
  tls_key_file  = "data-primary/tls/agent.key"
}
credential "backup" {
  role        = "peer"
  fingerprint = %[2]q
}
transport "relay" {
  plugin  = "smtp-basic"
  from    = %[10]q
  test_to = ["test@example.com"]
  config {
    host                = "127.0.0.1"
    port                = %[3]d
    security            = "none"
    username            = "tocsin"
    password            = trimspace(file("relay.password"))
    allow_insecure_auth = true
  }
}
transport "m365" {
  plugin  = "smtp-oauth-ms"
  from    = "alerts@contoso.example"
  test_to = ["test@contoso.example"]
  config {
    tenant_id     = %[4]q
    client_id     = %[5]q
    client_secret = trimspace(file("m365.secret"))
    authority     = %[6]q
    host          = "127.0.0.1"
    port          = %[7]d
    ca_file       = %[8]q
  }
}
contact "ops" {
  email = [%[9]q]
  via   = [transport.relay]
}
contact "ms" {
  email = ["ms-ops@contoso.example"]
  via   = [transport.m365]
}
`

// syncBackup is a backup that holds no transport and no contact: it
// takes them from the primary.
const syncBackup = `
agent {
  node          = %[1]q
  plugin_dir    = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir      = "data-%[1]s"
  listen        = %[2]q
  tls_cert_file = "data-%[1]s/tls/agent.crt"
  tls_key_file  = "data-%[1]s/tls/agent.key"
}
peer "primary" {
  url           = "https://%[3]s"
  fingerprint   = %[4]q
  every         = "1s"
  timeout       = "1s"
  settings_from = true
}
rule "primary_down" {
  schedule = "@every 1s"
  when     = !peer.primary.ok
  for      = "2s"
  repeat   = "1h"
  notify   = [contact.ops, contact.ms]
  subject  = "primary_down: the backup takes over"
}
`

// TestSettingsSync_BackupTakesOver runs a primary that holds the
// transports (smtp-basic with a password, smtp-oauth-ms with a client
// secret) and a backup that holds none, as real processes: the backup
// takes them from the primary, takes a change of the primary's too,
// and once the primary is stopped delivers through both synced
// transports, also after its own restart. A third agent that the
// primary does not pin syncs nothing and says why.
func TestSettingsSync_BackupTakesOver(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	withPlugins(t)
	bin := tocsinBinary(t)
	dir := t.TempDir()
	t.Chdir(dir)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const relayPassword, appSecret = "relay-pw-Zq81mXv", "app-secret-Kp30LwQ"
	write("relay.password", relayPassword+"\n")
	write("m365.secret", appSecret+"\n")
	relay := testserver.StartT(t, testserver.Options{Users: map[string]string{"tocsin": relayPassword}, AllowInsecureAuth: true})

	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCertFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	id := testserver.StartMicrosoftIdentityT(t, ca, testserver.MicrosoftOptions{})
	if err := id.AddApp(testserver.MicrosoftApp{Tenant: msTenant, ClientID: msClientID, Name: "Tocsin", Secret: appSecret,
		AppScopes: []string{testserver.MicrosoftScopeSMTPApp}}); err != nil {
		t.Fatal(err)
	}
	ms := testserver.StartT(t, testserver.Options{TLS: tlsConfig, Mechanisms: map[string]func(*testserver.AuthConn) sasl.Server{
		testserver.MechXOAUTH2: testserver.XOAUTH2(func(_, tok string) error {
			_, err := id.Validate(tok)
			return err
		}, testserver.StyleMicrosoft),
	}})

	ids := map[string]*identity.Identity{}
	for _, n := range []string{"primary", "backup", "stranger"} {
		id, err := identity.Load(filepath.Join(dir, "data-"+n), "", "")
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	primaryAddr := freePort(t)
	primaryText := func(opsAddr, from string) string {
		return fmt.Sprintf(syncPrimary, primaryAddr, ids["backup"].Fingerprint(), relay.Port(), msTenant, msClientID, id.URL(), ms.Port(), caFile, opsAddr, from)
	}
	primary := &haNode{t: t, bin: bin, config: write("primary.hcl", primaryText("ops@example.com", "primary@example.com"))}
	backup := &haNode{t: t, bin: bin, config: write("backup.hcl", fmt.Sprintf(syncBackup, "backup", freePort(t), primaryAddr, ids["primary"].Fingerprint()))}
	stranger := &haNode{t: t, bin: bin, config: write("stranger.hcl", fmt.Sprintf(syncBackup, "stranger", freePort(t), primaryAddr, ids["primary"].Fingerprint()))}

	// The backup validates without transports or contacts: they come
	// from the primary.
	if r := runCLI(t, "validate", "-config", backup.config); r.code != exitOK || !strings.Contains(r.stdout+r.stderr, `peer "primary"`) {
		t.Fatalf("validate the backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	primary.start()
	backup.start()
	backup.out.waitFor(t, "settings synced from the peer", 20*time.Second)

	// The backup tests what it took, as the primary tests its own: a
	// test mail through each transport, from each node.
	awaitSubjects(t, relay, "Tocsin test mail: transport relay on primary (first test)", "Tocsin test mail: transport relay on backup (first test)")
	awaitSubjects(t, ms, "Tocsin test mail: transport m365 on primary (first test)", "Tocsin test mail: transport m365 on backup (first test)")

	// validate on the backup says where its transports come from, and
	// checks them with its plugins.
	r := runCLI(t, "validate", "-config", backup.config)
	for _, want := range []string{`Settings from peer "primary" (node primary), synced `, "transport relay (plugin smtp-basic)", "transport m365 (plugin smtp-oauth-ms)", "contact ops (via relay)"} {
		if r.code != exitOK || !strings.Contains(r.stdout, want) {
			t.Fatalf("validate the synced backup: exit %d, want %q in\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}

	// A change on the primary reaches the backup, and the backup tests
	// the transport that changed (its sender) once, the other not again.
	write("primary.hcl", primaryText("ops-new@example.com", "alerts@example.com"))
	if err := primary.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	backup.out.waitFor(t, "settings synced from the peer", 20*time.Second)
	awaitSubjects(t, relay, "Tocsin test mail: transport relay on backup (settings changed)")

	// A peer the primary does not pin gets nothing, and says why.
	stranger.start()
	stranger.out.waitFor(t, "the partner refuses this agent", 20*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "data-stranger", "peer-primary.settings")); !os.IsNotExist(err) {
		t.Errorf("the stranger kept settings: %v", err)
	}
	stranger.stop()

	// The backup's copy is sealed: no secret in clear in its data_dir.
	raw, err := os.ReadFile(filepath.Join(dir, "data-backup", "peer-primary.settings"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{relayPassword, appSecret} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the synced copy holds %q in clear", secret)
		}
	}

	// The primary goes away; the backup delivers through what it synced,
	// to the address the change brought.
	primary.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const down = "primary_down: the backup takes over"
	m := awaitSubjects(t, relay, down)[0]
	if m.User != "tocsin" || len(m.To) != 1 || m.To[0] != "ops-new@example.com" {
		t.Errorf("relay got the alert as %q to %v:\n%s", m.User, m.To, m.Data)
	}
	awaitSubjects(t, ms, down)
	for subject, n := range subjectsAt(t, relay) {
		if strings.HasPrefix(subject, "Tocsin test mail: transport relay on backup") && n != 1 {
			t.Errorf("%d mails %q, want 1", n, subject)
		}
	}
	if n := subjectsAt(t, ms)["Tocsin test mail: transport m365 on backup (settings changed)"]; n != 0 {
		t.Errorf("m365 did not change, yet the backup tested it again (%d mails)", n)
	}

	// /v1/status on the backup says where its transports come from,
	// when they were synced, and why the sync fails now.
	bcfg, diags := config.Load(backup.config)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	client, err := newAgentClient(bcfg.Agent)
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		Settings *agent.SettingsStatus `json:"settings"`
	}
	for deadline := time.Now().Add(10 * time.Second); status.Settings == nil || status.Settings.Error == ""; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the backup's status: %+v", status.Settings)
		}
		resp, err := client.do(ctx, "GET", "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&status)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := status.Settings; st.From != "peer primary" || st.SyncedAt == nil || strings.Join(st.Transports, ",") != "relay,m365" || strings.Join(st.Contacts, ",") != "ops,ms" ||
		!strings.Contains(st.Error, "the last good copy stays in use") || st.FailingSince == nil {
		t.Errorf("the backup's status: %+v", st)
	}

	// Restarted while the primary is away, the backup starts with the
	// last good copy.
	backup.stop()
	backup.start()
	if !strings.Contains(backup.out.all.String(), "relay") || !strings.Contains(backup.out.all.String(), "m365") {
		t.Errorf("the restarted backup does not run the synced transports:\n%s", backup.out.all)
	}
	backup.stop()
}

// awaitSubjects waits up to 40 s until srv has received a mail with each
// of subjects, and returns the first of each, in order.
func awaitSubjects(t *testing.T, srv *testserver.Server, want ...string) []testserver.Received {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		found := make([]testserver.Received, len(want))
		missing := ""
		for i, want := range want {
			ok := false
			for _, m := range srv.Messages() {
				if subjectOf(t, m) == want {
					found[i], ok = m, true
					break
				}
			}
			if !ok {
				missing = want
				break
			}
		}
		if missing == "" {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail %q; the server has %q", missing, subjects(t, srv))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
