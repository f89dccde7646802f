package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// slowServer is an SMTP server that takes delay to answer each DATA, so
// that a burst of notifications is still going when the test acts.
func slowServer(t *testing.T, delay time.Duration) *testserver.Server {
	t.Helper()
	return testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageData {
			time.Sleep(delay)
		}
		return nil
	}})
}

// sighupDuringBurst runs 100 rules that fire at once into a slow server,
// lets edit change the config file (or not) 1.5 s after the first mail
// arrives, sends SIGHUP, and returns the server and the agent once every
// rule's mail has arrived and the outbox is empty.
func sighupDuringBurst(t *testing.T, edit func(cfg string) string) (*testserver.Server, *agentProc) {
	t.Helper()
	withPlugins(t)
	srv := slowServer(t, 30*time.Millisecond)
	listen := freePort(t)
	path, _ := burstConfig{rules: 100, contacts: 1, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}, extra: fastRetries, maxConnections: 1}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 60*time.Second, "the first mail", func() bool { return len(srv.Messages()) >= 1 })
	time.Sleep(1500 * time.Millisecond)
	if edit != nil {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		changed := edit(string(b))
		if changed == string(b) {
			t.Fatal("the edit changes nothing")
		}
		if err := os.WriteFile(path+".new", []byte(changed), 0o600); err != nil {
			t.Fatal(err)
		}
		copyFile(t, path+".new", path)
	}
	atHUP := len(srv.Messages())
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	await(t, 60*time.Second, "the reload", func() bool { return strings.Contains(p.logText(), "configuration reloaded") })
	await(t, 90*time.Second, "every rule's mail", func() bool { return len(count(t, srv.Messages()).pairs) >= 100 })
	await(t, 30*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 })
	time.Sleep(time.Second) // anything sent twice would arrive by now
	t.Logf("SIGHUP after %d of 100 mails; %d received in all", atHUP, len(srv.Messages()))
	if atHUP >= 100 {
		t.Fatal("every mail arrived before the SIGHUP: the test proves nothing")
	}
	return srv, p
}

// TestRun_SIGHUPDuringBurstUnchanged is finding 6 of issue 11: a SIGHUP
// with an unchanged configuration while a burst is being sent must not
// send anything twice (it sent 130 mails for 100 alerts, failing the
// batch in flight with "plugin host is closed"), and the transport keeps
// its plugin process.
func TestRun_SIGHUPDuringBurstUnchanged(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	srv, p := sighupDuringBurst(t, nil)
	tl := count(t, srv.Messages())
	if n := len(srv.Messages()); n != 100 || len(tl.ids) != 100 || tl.dups != 0 {
		t.Errorf("%d mails with %d distinct Message-IDs (%d duplicates) for 100 alerts; want exactly 100, each once", n, len(tl.ids), tl.dups)
	}
	log := p.logText()
	if strings.Contains(log, "plugin host is closed") {
		t.Errorf("a send failed on the closed plugins of the old configuration:\n%s", grepLines(log, "plugin host is closed"))
	}
	if n := pluginStarts(log); n != 1 {
		t.Errorf("the plugin started %d times; an unchanged transport keeps its process across a reload:\n%s", n, grepLines(log, "plugin started"))
	}
}

// TestRun_SIGHUPDuringBurstChanged: a SIGHUP that changes the transport's
// settings mid-burst gives it a new plugin process; nothing is lost, and
// what is sent twice keeps its Message-ID.
func TestRun_SIGHUPDuringBurstChanged(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	srv, p := sighupDuringBurst(t, func(cfg string) string {
		return strings.Replace(cfg, `timeout = "5s"`, `timeout = "6s"`, 1)
	})
	tl := count(t, srv.Messages())
	t.Logf("%d mails, %d distinct Message-IDs, %d duplicates", len(srv.Messages()), len(tl.ids), tl.dups)
	if len(tl.ids) != 100 || len(tl.pairs) != 100 {
		t.Errorf("%d distinct Message-IDs for %d alerts; want 100 for 100 (a duplicate keeps its Message-ID)", len(tl.ids), len(tl.pairs))
	}
	if log := p.logText(); pluginStarts(log) != 2 {
		t.Errorf("the plugin started %d times; a changed transport gets one new process:\n%s", pluginStarts(log), grepLines(log, "plugin started"))
	}
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// pluginStarts counts the plugin processes an agent's debug log says
// go-plugin started.
func pluginStarts(log string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "plugin started") && strings.Contains(l, " pid=") {
			n++
		}
	}
	return n
}
