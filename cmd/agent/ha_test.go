package main

import (
	"github.com/tocsin-dev/tocsin/core/identity"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// haNode is one agent process of the pair.
type haNode struct {
	t      *testing.T
	bin    string
	config string
	cmd    *exec.Cmd
	out    *lineWaiter
}

func (n *haNode) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "run", "-config", n.config)
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	cmd := n.cmd
	n.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	n.out = watch(n.t, stderr)
	n.out.waitFor(n.t, "agent started", 30*time.Second)
}

func (n *haNode) stop() {
	n.t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		n.t.Fatal(err)
	}
	n.out.waitFor(n.t, "agent stopped", 30*time.Second)
	if err := n.cmd.Wait(); err != nil {
		n.t.Errorf("exit after SIGTERM: %v", err)
	}
}

const haAgent = `
agent {
  node       = %q
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data-%s"
  listen     = %q
  # TLS on loopback too, with the identity the test generated first.
  tls_cert_file = "data-%s/tls/agent.crt"
  tls_key_file  = "data-%s/tls/agent.key"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "%s@example.com"
  config {
    host     = "127.0.0.1"
    port     = %d
    security = "none"
  }
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
check "version" {
  file  = "%s.version"
  every = "1s"
}
node {
  role          = %q
  version       = trimspace(check.version.content)
  auto_failover = true
}
`

// haPrimaryAccess lets the backup, pinned by its identity, read the
// primary's status.
const haPrimaryAccess = `
credential "backup" {
  role        = "peer"
  fingerprint = %q
}
`

const haBackupRules = `
peer "primary" {
  url         = "https://%s"
  fingerprint = %q
  every       = "1s"
  timeout     = "1s"
}
rule "version_mismatch" {
  schedule = "@every 1s"
  when     = peer.primary.ok && peer.primary.version != node.version
  repeat   = "1h"
  notify   = [contact.ops]
  subject  = "version_mismatch: ${node.version} here, ${peer.primary.version} on the primary"
}
rule "primary_unchecked_auto" {
  schedule = "@every 1s"
  when     = node.auto_failover && !peer.primary.ok
  for      = "2s"
  repeat   = "1h"
  notify   = [contact.ops]
  subject  = "primary_unchecked_auto: the backup cannot check the primary and will take over"
}
`

// TestHA_PrimaryStops runs a primary and a backup agent as real processes
// on 127.0.0.1 with different product versions: the backup mails
// version_mismatch, then, once the primary is stopped, primary_unchecked_auto;
// a restarted backup does not mail either again before their repeat.
func TestHA_PrimaryStops(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	withPlugins(t)
	bin := tocsinBinary(t)
	smtp := testserver.StartT(t, testserver.Options{})
	dir := t.TempDir()
	primaryAddr, backupAddr := freePort(t), freePort(t)
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("primary.version", "7.2\n")
	write("backup.version", "7.1\n")
	// The secure shape of a pair (README, Security): each node has its
	// identity, and each pins the other's.
	ids := map[string]*identity.Identity{}
	for _, n := range []string{"primary", "backup"} {
		id, err := identity.Load(filepath.Join(dir, "data-"+n), "", "")
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	primary := &haNode{t: t, bin: bin, config: write("primary.hcl",
		fmt.Sprintf(haAgent, "primary", "primary", primaryAddr, "primary", "primary", "primary", smtp.Port(), "primary", "primary")+
			fmt.Sprintf(haPrimaryAccess, ids["backup"].Fingerprint()))}
	backup := &haNode{t: t, bin: bin, config: write("backup.hcl",
		fmt.Sprintf(haAgent, "backup", "backup", backupAddr, "backup", "backup", "backup", smtp.Port(), "backup", "backup")+
			fmt.Sprintf(haBackupRules, primaryAddr, ids["primary"].Fingerprint()))}

	subjects := func() []string {
		var out []string
		for _, m := range smtp.Messages() {
			for _, l := range strings.Split(string(m.Data), "\r\n") {
				if s, ok := strings.CutPrefix(l, "Subject: "); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	count := func(prefix string) int {
		n := 0
		for _, s := range subjects() {
			if strings.HasPrefix(s, prefix) {
				n++
			}
		}
		return n
	}
	waitMail := func(prefix string, d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(d)
		for count(prefix) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no mail %q within %v; got %q", prefix, d, subjects())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	primary.start()
	backup.start()
	waitMail("version_mismatch: 7.1 here, 7.2 on the primary", 30*time.Second)

	primary.stop()
	waitMail("primary_unchecked_auto", 30*time.Second)
	if count("version_mismatch") != 1 || count("primary_unchecked_auto") != 1 {
		t.Fatalf("mails before the restart: %q", subjects())
	}

	backup.stop()
	backup.start()
	// Several evaluations pass; the firing alert is neither sent again
	// (its repeat is 1h) nor forgotten.
	time.Sleep(4 * time.Second)
	if n := count("primary_unchecked_auto"); n != 1 {
		t.Errorf("primary_unchecked_auto mailed %d times across a restart of the backup; subjects %q", n, subjects())
	}
	if n := count("version_mismatch"); n != 1 {
		t.Errorf("version_mismatch mailed %d times; subjects %q", n, subjects())
	}
	backup.stop()
}
