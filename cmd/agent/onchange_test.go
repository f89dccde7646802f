package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// status reads /v1/status; ok is false while the agent does not answer.
func (p *agentProc) status() (agent.Status, bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := authGet(&c, p.dataDir, "http://"+p.listen+"/v1/status")
	if err != nil {
		return agent.Status{}, false
	}
	defer resp.Body.Close()
	var s agent.Status
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
		return agent.Status{}, false
	}
	return s, true
}

// TestRun_FileCheckFlipMailsBeforeTheSchedule: a real agent whose rule
// runs hourly mails within about a check interval of the checked file
// appearing: the rule is evaluated on the check's change, not at its
// next tick.
func TestRun_FileCheckFlipMailsBeforeTheSchedule(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	listen := freePort(t)
	marker := filepath.Join(t.TempDir(), "alert")
	path, _ := burstConfig{contacts: 1, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}, extra: `
check "alert" {
  file  = "` + marker + `"
  every = "1s"
}
rule "alert" {
  schedule = "@every 1h"
  when     = check.alert.exists
  notify   = [contact.c0]
  subject  = "alert file appeared"
}
`}.write(t, listen)
	p := startAgent(t, path, listen)
	// The check has run once and seen no file.
	await(t, 10*time.Second, "the check's first run", func() bool {
		s, ok := p.status()
		c, ran := s.Checks["alert"]
		return ok && ran && !c.OK
	})

	began := time.Now()
	if err := os.WriteFile(marker, []byte("now"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	got, err := srv.Wait(ctx, 1)
	if err != nil {
		t.Fatalf("no mail within 8s of the file appearing (the rule's schedule is hourly): %v\n%s", err, p.logText())
	}
	took := time.Since(began)
	t.Logf("mail %s after the file appeared", took.Round(time.Millisecond))
	if s := subjectOf(t, got[0]); s != "alert file appeared" {
		t.Errorf("subject %q", s)
	}
	// One check interval (1s) and the delivery; far from the hour.
	if took > 5*time.Second {
		t.Errorf("the mail came %s after the file appeared, want within a few seconds", took)
	}
}
