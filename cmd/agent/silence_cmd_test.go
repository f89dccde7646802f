package main

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// silenceRule fires at once and repeats every 2 seconds.
const silenceRule = `
rule "disk" {
  schedule = "@every 1s"
  when     = true
  repeat   = "2s"
  notify   = [contact.c0]
  subject  = "disk full"
}
`

// subjectsAt returns how many mails srv received with each subject.
func subjectsAt(t *testing.T, srv *testserver.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, s := range subjects(t, srv) {
		out[s]++
	}
	return out
}

// TestSilence_EndToEnd: the real agent and smtp-basic against an
// in-process SMTP server. tocsin silence add during a firing alert stops
// its repeats; the silence survives a restart of the agent (tocsin
// silence list shows it, and the repeats stay quiet); tocsin silence
// expire ends it with exactly one mail that says so, and the repeats
// resume.
func TestSilence_EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	path, _ := burstConfig{contacts: 1, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}, extra: silenceRule}.write(t, listen)
	p := startAgent(t, path, listen)
	await(t, 30*time.Second, "the alert and a repeat", func() bool { return subjectsAt(t, srv)["disk full"] >= 2 })

	// Refused without a duration, with what to do.
	if r := runCLI(t, "silence", "add", "-config", path, "-rule", "disk", "-comment", "swap"); r.code != exitUsage || !strings.Contains(r.stderr, "a duration is required") {
		t.Errorf("add without -for: %d %q", r.code, r.stderr)
	}
	r := runCLI(t, "silence", "add", "-config", path, "-rule", "disk", "-for", "2h", "-comment", "swapping the disk", "-by", "alice")
	if r.code != exitOK || !strings.Contains(r.stdout, "Silenced rule disk until ") {
		t.Fatalf("add: %d %q %q", r.code, r.stdout, r.stderr)
	}
	id := regexp.MustCompile(`\(ID ([0-9a-f]{8}), by alice\)`).FindStringSubmatch(r.stdout)
	if id == nil {
		t.Fatalf("no ID in %q", r.stdout)
	}
	time.Sleep(1500 * time.Millisecond) // a send in flight when it was set lands
	held := subjectsAt(t, srv)["disk full"]
	time.Sleep(5 * time.Second) // two repeats' worth
	if n := subjectsAt(t, srv)["disk full"]; n != held {
		t.Fatalf("%d repeats were sent while silenced", n-held)
	}

	// A restart keeps it.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	p = startAgent(t, path, listen)
	await(t, 30*time.Second, "the restarted agent", func() bool { _, ok := p.delivery(); return ok })
	l := runCLI(t, "silence", "list", "-config", path)
	if l.code != exitOK || !strings.Contains(l.stdout, id[1]) || !strings.Contains(l.stdout, "rule disk") || !strings.Contains(l.stdout, "swapping the disk") {
		t.Fatalf("list after the restart: %d %q %q", l.code, l.stdout, l.stderr)
	}
	time.Sleep(5 * time.Second)
	if n := subjectsAt(t, srv)["disk full"]; n != held {
		t.Fatalf("%d repeats were sent while silenced, after the restart", n-held)
	}

	// Expired by hand: one mail says so, then the repeats resume.
	e := runCLI(t, "silence", "expire", "-config", path, "-by", "bob", id[1])
	if e.code != exitOK || !strings.Contains(e.stdout, "Expired the silence "+id[1]+" of rule disk (by bob)") {
		t.Fatalf("expire: %d %q %q", e.code, e.stdout, e.stderr)
	}
	const ended = "node-a: silence of rule disk ended, 1 still firing"
	await(t, 30*time.Second, "the end's mail", func() bool { return subjectsAt(t, srv)[ended] == 1 })
	await(t, 30*time.Second, "the repeats again", func() bool { return subjectsAt(t, srv)["disk full"] > held })
	time.Sleep(2 * time.Second)
	if n := subjectsAt(t, srv)[ended]; n != 1 {
		t.Errorf("%d mails said the silence ended; want 1", n)
	}
	if x := runCLI(t, "silence", "expire", "-config", path, id[1]); x.code != exitError || !strings.Contains(x.stderr, "no such silence") {
		t.Errorf("expire again: %d %q", x.code, x.stderr)
	}
	if l := runCLI(t, "silence", "list", "-config", path); l.code != exitOK || !strings.Contains(l.stdout, "No silence is in force.") {
		t.Errorf("list at the end: %d %q", l.code, l.stdout)
	}
}

// TestSilence_Usage: a wrong silence command line says what is wrong,
// before any agent is asked.
func TestSilence_Usage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing to silence", []string{"silence", "add", "-for", "2h", "-comment", "c"}, "one of a rule, a node or all"},
		{"two targets", []string{"silence", "add", "-rule", "a", "-all", "-for", "2h", "-comment", "c"}, "one of a rule, a node or all"},
		{"no comment", []string{"silence", "add", "-all", "-for", "2h"}, "a comment is required"},
		{"too long", []string{"silence", "add", "-all", "-for", "8d", "-comment", "c"}, "duration \"8d\""},
		{"out of bounds", []string{"silence", "add", "-all", "-for", "200h", "-comment", "c"}, "give 1m to 168h"},
		{"no ID", []string{"silence", "expire"}, "give the ID of a silence (`tocsin silence list -config"},
		{"two IDs", []string{"silence", "expire", "a", "b"}, "give one silence ID, not 2"},
		{"an argument to list", []string{"silence", "list", "x"}, `unexpected argument "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "Usage: tocsin "+strings.Join(tt.args[:2], " ")) {
				t.Errorf("exit %d, stderr %q; want %d with %q and the usage", r.code, r.stderr, exitUsage, tt.want)
			}
		})
	}
	// The agent does not run: say so, and how to start it.
	dir := t.TempDir()
	path := dir + "/agent.hcl"
	src := "agent {\n  node = \"n\"\n  data_dir = \"" + dir + "/data\"\n  listen = \"" + freePort(t) + "\"\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "silence", "list", "-config", path)
	if r.code != exitError || !strings.Contains(r.stderr, "Silences live in the running agent: start it") {
		t.Errorf("no agent: exit %d, %q", r.code, r.stderr)
	}
}
