package main

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// haLibraryNode is one node of a pair that uses the failover library,
// each pinning the other, with a takeover after 3 seconds so that the
// test need not wait 5 minutes.
const haLibraryNode = `
agent {
  node          = %[1]q
  plugin_dir    = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir      = "data-%[2]s"
  listen        = %[3]q
  tls_cert_file = "data-%[2]s/tls/agent.crt"
  tls_key_file  = "data-%[2]s/tls/agent.key"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "%[2]s@example.com"
  config {
    host     = "127.0.0.1"
    port     = %[4]d
    security = "none"
  }
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
library "failover" {
  role              = %[2]q
  peer_url          = "https://%[5]s"
  peer_fingerprint  = %[6]q
  auto_failover     = true
  takeover_after    = "3s"
  backup_lost_after = "1h"
  evaluate_every    = "1s"
  notify            = [contact.ops]
}
`

// kill ends the node's process with SIGKILL: no stop notice, no
// shutdown mail.
func (n *haNode) kill() {
	n.t.Helper()
	if err := n.cmd.Process.Kill(); err != nil {
		n.t.Fatal(err)
	}
	_ = n.cmd.Wait()
}

// mailOf is a received mail's decoded subject and text.
type mailOf struct{ subject, text string }

// decodeMail reads the subject (RFC 2047 decoded) and the body
// (quoted-printable decoded when so encoded) of a raw message.
func decodeMail(t *testing.T, raw []byte) mailOf {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("a mail that does not parse: %v\n%s", err, raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = m.Body
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(m.Body)
	}
	text, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return mailOf{subject: subject, text: strings.ReplaceAll(string(text), "\r\n", "\n")}
}

// TestHA_PlannedStop (issue 18, part 3): a pair of real agent processes
// with the failover library, each pinning the other. The primary stopped
// with SIGTERM tells the backup before it exits, and the backup's
// takeover mail says the primary was stopped by its operator, when, and
// by which signal. Started again, the primary answers as running, the
// notice is forgotten and the takeover resolves. Killed with SIGKILL, it
// tells nothing, and the takeover mail is the one for a failure.
func TestHA_PlannedStop(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	withPlugins(t)
	bin := tocsinBinary(t)
	smtp := testserver.StartT(t, testserver.Options{})
	dir := t.TempDir()
	addr := map[string]string{"primary": freePort(t), "backup": freePort(t)}
	ids := map[string]*identity.Identity{}
	for _, n := range []string{"primary", "backup"} {
		id, err := identity.Load(filepath.Join(dir, "data-"+n), "", "")
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	node := func(role, other string) *haNode {
		path := filepath.Join(dir, role+".hcl")
		cfg := fmt.Sprintf(haLibraryNode, "appliance-"+role, role, addr[role], smtp.Port(), addr[other], ids[other].Fingerprint())
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return &haNode{t: t, bin: bin, config: path}
	}
	primary, backup := node("primary", "backup"), node("backup", "primary")

	// The backup's mails (from backup@), decoded.
	fromBackup := func() []mailOf {
		var out []mailOf
		for _, m := range smtp.Messages() {
			if m.From == "backup@example.com" {
				out = append(out, decodeMail(t, m.Data))
			}
		}
		return out
	}
	subjects := func() []string {
		var out []string
		for _, m := range fromBackup() {
			out = append(out, m.subject)
		}
		return out
	}
	// waitMail waits for the n-th mail from the backup whose subject
	// starts with prefix, and returns it.
	waitMail := func(prefix string, n int) mailOf {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var got []mailOf
			for _, m := range fromBackup() {
				if strings.HasPrefix(m.subject, prefix) {
					got = append(got, m)
				}
			}
			if len(got) >= n {
				return got[n-1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no mail %d %q from the backup within 30s; got %q", n, prefix, subjects())
			}
		}
	}
	const takeover = "appliance-backup: the backup takes over: "

	primary.start()
	backup.start()
	waitMail("appliance-backup: Tocsin", 1) // its startup: it evaluates
	time.Sleep(2 * time.Second)             // and has read the primary
	if got := subjects(); len(got) != 1 {
		t.Fatalf("mails from the backup before any stop: %q", got)
	}

	// SIGTERM: a planned stop.
	primary.stop()
	m := waitMail(takeover, 1)
	if !strings.HasPrefix(m.subject, takeover+"the primary has been stopped by its operator at ") || !strings.HasSuffix(m.subject, " and down for 3s") {
		t.Errorf("takeover after SIGTERM: subject %q; want the primary stopped by its operator", m.subject)
	}
	for _, want := range []string{"The primary was stopped by its operator at ", "(signal SIGTERM)", "A planned stop of the primary still needs a working"} {
		if !strings.Contains(m.text, want) {
			t.Errorf("takeover after SIGTERM: text lacks %q:\n%s", want, m.text)
		}
	}
	if !strings.Contains(primary.out.all.String(), "the peer was told of this stop") {
		t.Errorf("the primary's log does not say the backup was told:\n%s", primary.out.all.String())
	}

	// Back, and running: the notice is forgotten, the takeover resolves.
	primary.start()
	waitMail("Resolved: "+takeover, 1)

	// SIGKILL: no notice; the mail of a failure.
	primary.kill()
	m = waitMail(takeover, 2)
	if m.subject != takeover+"the primary has been silent for 3s" {
		t.Errorf("takeover after SIGKILL: subject %q; want the primary silent", m.subject)
	}
	if strings.Contains(m.text, "stopped by its operator") || !strings.Contains(m.text, "Find out why the old primary failed") {
		t.Errorf("takeover after SIGKILL: text\n%s\nwant the text of a failure", m.text)
	}
	backup.stop()
}
