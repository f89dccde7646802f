package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// TestEngine_RoleChangeRememberedAcrossRestarts: the engine remembers
// node.role in the state file, so a role read from a check that turns
// from backup to primary is seen as a change (agent.previous_role), also
// when the agent restarts between the reads, and reported once.
func TestEngine_RoleChangeRememberedAcrossRestarts(t *testing.T) {
	dataDir := t.TempDir()
	product := filepath.Join(t.TempDir(), "product.json")
	setRole := func(role string) {
		t.Helper()
		if err := os.WriteFile(product, []byte(`{"role": "`+role+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := opsPreamble(dataDir) + `check "product" {
  file = "` + product + `"
  json = true
}
node {
  role = check.product.json.role
}
rule "became_primary" {
  when       = agent.role == "primary" && agent.previous_role == "backup"
  on_resolve = false
  notify     = [contact.ops]
  subject    = "${agent.previous_role} to ${agent.role} since ${agent.role_since}"
}
`
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	n := &recordingNotifier{}
	ctx := context.Background()
	// Each step starts the agent afresh, as a restart does: the checks
	// run once at the start, and the memory comes from the state file.
	step := func(role string, after time.Duration) {
		t.Helper()
		setRole(role)
		clock = clock.Add(after)
		e, err := New(loadSource(t, src), hclog.NewNullLogger(), n, Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		defer e.close()
		e.runner.Start(ctx)
		defer e.runner.Stop()
		if err := e.runner.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		e.tick(ctx, e.cfg.Rules, false)
	}
	step("backup", 0)
	step("backup", time.Minute)
	step("primary", time.Minute) // read once: not yet a change
	if got := n.subjects(); len(got) != 0 {
		t.Fatalf("mails before the role settled: %q", got)
	}
	step("primary", time.Minute)
	if got := n.subjects(); len(got) != 0 {
		t.Fatalf("mails before the role was read for 2 minutes: %q", got)
	}
	step("primary", time.Minute)
	want := "backup to primary since 2026-11-23T10:02:00Z"
	if got := n.subjects(); len(got) != 1 || got[0] != want {
		t.Fatalf("after the role settled: %q; want [%q]", got, want)
	}
	step("primary", time.Hour)
	if got := n.subjects(); len(got) != 1 {
		t.Fatalf("a restart reported the change again: %q", got)
	}
}
