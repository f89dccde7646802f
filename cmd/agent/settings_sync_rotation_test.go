package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// rotationPrimary holds a delegated smtp-oauth-ms transport whose login
// `tocsin oauth login` stores, and mails through it every 2 seconds.
const rotationPrimary = `
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
transport "m365" {
  plugin = "smtp-oauth-ms"
  from   = %[3]q
  config {
    mode      = "delegated"
    tenant_id = %[4]q
    client_id = %[5]q
    authority = %[6]q
    host      = "127.0.0.1"
    port      = %[7]d
    security  = "starttls"
    ca_file   = %[8]q
  }
}
contact "ops" {
  email = ["ops@contoso.example"]
  via   = [transport.m365]
}
rule "tick" {
  schedule = "@every 1s"
  when     = true
  repeat   = "2s"
  notify   = [contact.ops]
  subject  = "tick from ${agent.node}"
}
`

// rotationBackup takes the transport and the login from the primary and
// mails through them every 2 seconds once it has them, while the
// primary runs.
const rotationBackup = `
agent {
  node          = "backup"
  plugin_dir    = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir      = "data-backup"
  listen        = %[1]q
  tls_cert_file = "data-backup/tls/agent.crt"
  tls_key_file  = "data-backup/tls/agent.key"
}
peer "primary" {
  url           = "https://%[2]s"
  fingerprint   = %[3]q
  every         = "1s"
  timeout       = "1s"
  settings_from = true
}
rule "tick" {
  schedule = "@every 1s"
  when     = peer.primary.settings_synced_at != null
  repeat   = "2s"
  notify   = [contact.ops]
  subject  = "tick from ${agent.node}"
}
`

// TestSettingsSync_SharedLoginRotates: a login stored on the primary is
// shared with the backup, and both send through it at once, each
// rotating the refresh token at every send (access tokens live 1s),
// against the Microsoft stand-in keeping rotated refresh tokens valid as
// Microsoft does: both nodes keep sending, the backup keeps the token it
// rotated itself while the primary's is unchanged, and takes the
// primary's rotated one at the next sync.
func TestSettingsSync_SharedLoginRotates(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	withPlugins(t)
	bin := tocsinBinary(t)
	dir := t.TempDir()
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
	id := testserver.StartMicrosoftIdentityT(t, ca, testserver.MicrosoftOptions{TokenLifetime: time.Second, KeepRotatedRefreshTokens: true})
	if err := id.AddApp(testserver.MicrosoftApp{Tenant: msTenant, ClientID: msClientID, Name: "Tocsin alerts", Public: true,
		DelegatedScopes: []string{testserver.MicrosoftScopeSMTPSend}, RedirectURIs: []string{"http://localhost"}, User: msMailbox}); err != nil {
		t.Fatal(err)
	}
	smtp := testserver.StartT(t, testserver.Options{TLS: tlsConfig, Mechanisms: map[string]func(*testserver.AuthConn) sasl.Server{
		testserver.MechXOAUTH2: testserver.XOAUTH2(func(user, tok string) error {
			c, err := id.Validate(tok)
			if err != nil {
				return err
			}
			if !strings.EqualFold(c.User, user) {
				return fmt.Errorf("token of %q used for %q", c.User, user)
			}
			return nil
		}, testserver.StyleMicrosoft),
	}})
	ids := map[string]*identity.Identity{}
	for _, n := range []string{"primary", "backup"} {
		id, err := identity.Load(filepath.Join(dir, "data-"+n), "", "")
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	primaryAddr := freePort(t)
	primary := &haNode{t: t, bin: bin, config: write("primary.hcl", fmt.Sprintf(rotationPrimary, primaryAddr, ids["backup"].Fingerprint(),
		msMailbox, msTenant, msClientID, id.URL(), smtp.Port(), caFile))}
	backup := &haNode{t: t, bin: bin, config: write("backup.hcl", fmt.Sprintf(rotationBackup, freePort(t), primaryAddr, ids["primary"].Fingerprint()))}

	// The operator logs in once, on the primary.
	codeLine := regexp.MustCompile(`enter the code (\S+)$`)
	r := (&delegatedSetup{config: primary.config}).login(t, func(line string) {
		if m := codeLine.FindStringSubmatch(line); m != nil {
			if err := id.Approve(m[1]); err != nil {
				t.Errorf("approve %s: %v", m[1], err)
			}
		}
	}, "-device")
	if r.code != exitOK {
		t.Fatalf("oauth login on the primary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	token := func(node string) string {
		t.Helper()
		d := filepath.Join(dir, "data-"+node)
		st, err := tokenstore.OpenKeySource(filepath.Join(d, "tokens"), tokenstore.KeySource{File: filepath.Join(d, "token.key")})
		if err != nil {
			t.Fatal(err)
		}
		e, ok, err := st.Get("m365")
		if err != nil || !ok {
			t.Fatalf("the %s's stored login: %v, %v", node, ok, err)
		}
		return e.RefreshToken
	}
	login := token("primary")

	primary.start()
	backup.start()
	count := func(node string) int {
		n := 0
		for _, m := range smtp.Messages() {
			if strings.Contains(string(m.Data), "@"+node+">") {
				n++
			}
		}
		return n
	}
	waitCount := func(primaryN, backupN int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for count("primary") < primaryN || count("backup") < backupN {
			if time.Now().After(deadline) {
				var first string
				if m := smtp.Messages(); len(m) > 0 {
					first = string(m[0].Data)
				}
				t.Fatalf("sends through the shared login: %d from the primary, %d from the backup, want %d and %d\nfirst message:\n%s\nprimary:\n%s\nbackup:\n%s",
					count("primary"), count("backup"), primaryN, backupN, first, drain(primary.out), drain(backup.out))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitCount(3, 3)
	// Each plugin refreshes when it starts, and stores the rotated
	// token: the primary once; the backup with the login it took at its
	// first sync, then again with the primary's rotated one, which it
	// takes at the next sync.
	if n := id.Requests(testserver.GrantRefreshToken); n < 3 {
		t.Errorf("%d refreshes, want 3 or more", n)
	}
	p, b := token("primary"), token("backup")
	if p == login || b == login || p == b {
		t.Errorf("stored refresh tokens: the primary's changed %v, the backup's changed %v, they differ %v; want each node's own rotation", p != login, b != login, p != b)
	}
	// The backup has used the primary's current token; the primary,
	// restarted, refreshes with it and still sends.
	primary.stop()
	sent := count("primary")
	primary.start()
	waitCount(sent+1, 0)
	// The rotated token is stored as the plugin reports it, which may
	// come after its mail.
	for deadline := time.Now().Add(10 * time.Second); token("primary") == p; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the restarted primary did not rotate its token:\n%s", drain(primary.out))
		}
	}
	primary.stop()
	backup.stop()
	for _, l := range strings.Split(backup.out.all.String(), "\n") {
		if strings.Contains(l, "invalid_grant") {
			t.Errorf("the backup's login was refused: %s", l)
		}
	}
}

// drain returns what w read so far, with the lines waiting now.
func drain(w *lineWaiter) string {
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				return w.all.String()
			}
			w.all.WriteString(l + "\n")
		default:
			return w.all.String()
		}
	}
}
