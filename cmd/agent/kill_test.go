package main

import (
	"bytes"
	"math/rand/v2"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// fireTally counts the fire notifications a server received, per rule: the
// distinct Message-IDs and how often each arrived.
type fireTally map[string]map[string]int

func countFires(t *testing.T, msgs []testserver.Received) fireTally {
	t.Helper()
	ft := fireTally{}
	for _, m := range msgs {
		parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("unparsable message: %v", err)
		}
		if parsed.Header.Get("X-Tocsin-Event") != "fire" {
			continue
		}
		rule := parsed.Header.Get("X-Tocsin-Rule")
		if ft[rule] == nil {
			ft[rule] = map[string]int{}
		}
		ft[rule][parsed.Header.Get("Message-ID")]++
	}
	return ft
}

// TestKill_DuringFiringTick kills the agent with SIGKILL at random moments
// of a tick in which 200 rules fire, restarts it, and checks the promise of
// the README: a restart neither repeats nor forgets an alert (every rule's
// fire has exactly one Message-ID), and only what was in flight at the
// kill arrives twice, with the same Message-ID (at most the two batches in
// flight on the one transport). TOCSIN_KILL_ROUNDS sets the number of rounds (default 6).
func TestKill_DuringFiringTick(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	rounds := 6
	if s := os.Getenv("TOCSIN_KILL_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("TOCSIN_KILL_ROUNDS: %v", err)
		}
		rounds = n
	}
	const rules = 200
	const batch = 50 // in flight: two Sends of the default batch_size (25)
	for round := range rounds {
		// Spread the kills over 0-50 ms after the first fire, round by
		// round, with some randomness inside each slot: before the
		// outbox transaction, between it and the state file's, and
		// after both.
		delay := time.Duration(round)*50*time.Millisecond/time.Duration(max(rounds, 1)) +
			time.Duration(rand.IntN(5000))*time.Microsecond
		srv := testserver.StartT(t, testserver.Options{})
		listen := freePort(t)
		path, _ := burstConfig{rules: rules, contacts: 1, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}}.write(t, listen)
		p := startAgent(t, path, listen)
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(p.logText(), "rule fire") {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no rule fired within 30s; log:\n%s", round, p.logText())
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(delay)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
		before := len(srv.Messages())

		p2 := startAgent(t, path, listen)
		await(t, 60*time.Second, "a fire of every rule after the restart", func() bool { return len(countFires(t, srv.Messages())) >= rules })
		await(t, 20*time.Second, "an empty outbox", func() bool { d, ok := p2.delivery(); return ok && d.Pending == 0 })
		// Two more ticks: a rule whose state was lost would fire again.
		time.Sleep(2500 * time.Millisecond)
		await(t, 20*time.Second, "an empty outbox", func() bool { d, ok := p2.delivery(); return ok && d.Pending == 0 })

		ft := countFires(t, srv.Messages())
		refired, dups := 0, 0
		for rule, ids := range ft {
			if len(ids) != 1 {
				refired++
				if refired <= 3 {
					t.Errorf("round %d: rule %s fired under %d Message-IDs, want 1: %v", round, rule, len(ids), ids)
				}
			}
			for _, n := range ids {
				dups += n - 1
			}
		}
		t.Logf("round %d: killed %v after the first fire, %d messages before the kill; %d rules fired, %d under more than one Message-ID, %d duplicates of one Message-ID; states taken from the outbox at restart: %v",
			round, delay, before, len(ft), refired, dups, strings.Contains(p2.logText(), "rule states taken from the outbox"))
		if refired > 0 {
			t.Errorf("round %d: %d of %d alerts fired again under a new Message-ID after the restart", round, refired, rules)
		}
		if len(ft) != rules {
			t.Errorf("round %d: %d rules fired, want %d", round, len(ft), rules)
		}
		if dups > batch {
			t.Errorf("round %d: %d duplicates, want at most the two batches in flight (%d) on the one transport", round, dups, batch)
		}
		_ = p2.cmd.Process.Signal(syscall.SIGTERM)
		_ = p2.cmd.Wait()
	}
}
