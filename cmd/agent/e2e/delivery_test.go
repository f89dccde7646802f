package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAgent_Logins: the agent's smtp-basic transport logs in to the real
// server with each security mode and mechanism, and the rule's mail lands
// in the mailbox; Postfix's log shows which port and mechanism were used.
func TestAgent_Logins(t *testing.T) {
	cases := []struct {
		security, auth string
		logLine        string // Postfix's record of the accepted login
	}{
		{"starttls", "plain", `postfix/submission/smtpd\[\d+\]: \w+: client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=` + regexp.QuoteMeta(senderUser)},
		{"tls", "login", `postfix/smtps/smtpd\[\d+\]: \w+: client=localhost\[127\.0\.0\.1\], sasl_method=LOGIN, sasl_username=` + regexp.QuoteMeta(senderUser)},
	}
	for _, c := range cases {
		t.Run(c.security+"+"+c.auth, func(t *testing.T) {
			s := startMailServer(t)
			listen := freePort(t)
			p := startAgent(t, agentConfig(t, listen, s.basicTransport("relay", c.security, c.auth, senderPass), 1), listen)
			await(t, 60*time.Second, "the rule's mail in the Maildir", func() bool { return len(s.delivered(opsBox)) >= 1 })
			h := s.delivered(opsBox)[0]
			if got := h.Get("X-Tocsin-Rule"); got != "r000" {
				t.Errorf("X-Tocsin-Rule = %q, want r000", got)
			}
			if !strings.Contains(h.Get("From"), senderUser) || !strings.Contains(h.Get("To"), opsBox+"@"+domain) {
				t.Errorf("From %q, To %q", h.Get("From"), h.Get("To"))
			}
			if !regexp.MustCompile(c.logLine).MatchString(s.log()) {
				t.Errorf("Postfix's log has no line matching %s:\n%s", c.logLine, s.log())
			}
			await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 && d.Sent >= 1 })
		})
	}
}

// TestAgent_WrongPasswordRefused: a login the server refuses delivers
// nothing; the notification stays in the outbox and the agent names the
// remedy.
func TestAgent_WrongPasswordRefused(t *testing.T) {
	s := startMailServer(t)
	listen := freePort(t)
	p := startAgent(t, agentConfig(t, listen, s.basicTransport("relay", "starttls", "plain", "not-the-password"), 1), listen)
	await(t, 60*time.Second, "the refused login in Postfix's log", func() bool {
		if n := len(s.delivered(opsBox)); n != 0 {
			t.Fatalf("%d mails delivered with a wrong password: the server accepted the login", n)
		}
		return strings.Contains(s.log(), "SASL PLAIN authentication failed")
	})
	// The agent has had its answer; give a wrongly accepted mail the time
	// to arrive.
	await(t, 30*time.Second, "the failure in the agent's status", func() bool {
		d, ok := p.delivery()
		return ok && d.Pending+d.Dead == 1 && d.Sent == 0 && (d.Retried > 0 || d.DeadLettered > 0)
	})
	time.Sleep(2 * time.Second)
	if n := len(s.delivered(opsBox)); n != 0 {
		t.Fatalf("%d mails delivered with a wrong password", n)
	}
	if d, _ := p.delivery(); d.Sent != 0 || d.Pending+d.Dead != 1 {
		t.Errorf("status: sent %d, pending %d, dead %d; want the notification kept in the outbox", d.Sent, d.Pending, d.Dead)
	}
	if want := "passwd-file(" + senderUser + ",127.0.0.1): Password mismatch"; !strings.Contains(s.log(), want) {
		t.Errorf("Dovecot's log does not say %q:\n%s", want, s.log())
	}
	const remedy = "check username and password"
	if !strings.Contains(p.logText(), remedy) {
		t.Errorf("the agent's log does not name the remedy %q", remedy)
	}
	if out := p.cli("outbox", "list", "-config", p.config); !strings.Contains(out, "535") || !strings.Contains(out, remedy) {
		t.Errorf("tocsin outbox list does not show the 535 and its remedy:\n%s", out)
	}
}

// TestAgent_Burst: 2,000 rules fire at once; each one's mail arrives
// exactly once, over no more SMTP connections than the transport's
// max_connections (4 by default), counted at the server.
func TestAgent_Burst(t *testing.T) {
	const rules = 2000
	s := startMailServer(t)
	listen := freePort(t)
	start := time.Now()
	mark := s.logMark()
	p := startAgent(t, agentConfig(t, listen, s.basicTransport("relay", "starttls", "plain", senderPass), rules), listen)
	await(t, 240*time.Second, fmt.Sprintf("%d mails in the Maildir", rules), func() bool { return len(s.delivered(opsBox)) >= rules })
	t.Logf("%d mails in the Maildir %v after the agent started", rules, time.Since(start).Round(time.Millisecond))
	await(t, 30*time.Second, "an empty outbox and an empty Postfix queue", func() bool {
		d, ok := p.delivery()
		return ok && d.Pending == 0 && s.queued() == 0
	})
	checkExactlyOnce(t, s, rules, false, 0)
	if n := s.sessionsSince(mark); n < 1 || n > 4 {
		t.Errorf("%d SMTP sessions for %d mails, want 1 to max_connections (4)", n, rules)
	}
}

// TestAgent_PostfixRestartMidBurst: Postfix is stopped while the agent
// sends a burst and started again; every rule's mail arrives. A mail whose
// "250 queued" the stop cut off before the agent read it is sent again,
// with its Message-ID: no SMTP client can tell it from one the server
// never took. Only the batches in flight at the stop can be (at most 50:
// two Sends of 25, README "At least once"). See checkExactlyOnce for the
// copies Postfix itself may deliver twice.
func TestAgent_PostfixRestartMidBurst(t *testing.T) {
	const rules = 500
	s := startMailServer(t)
	listen := freePort(t)
	p := startAgent(t, agentConfig(t, listen, s.basicTransport("relay", "starttls", "plain", senderPass), rules), listen)
	// Stop as soon as the first mail has been accepted.
	await(t, 120*time.Second, "the burst's first accepted mail", func() bool {
		return strings.Contains(s.log(), "sasl_method=PLAIN")
	})
	s.stop()
	before := len(s.delivered(opsBox)) + s.queued()
	t.Logf("Postfix stopped with %d of %d mails accepted", before, rules)
	if before >= rules {
		t.Fatalf("all %d mails were accepted before the stop; the test proves nothing", rules)
	}
	await(t, 60*time.Second, "the agent retrying against the stopped server", func() bool {
		d, ok := p.delivery()
		return ok && d.Retried > 0 && d.Pending > 0
	})
	s.start()
	await(t, 120*time.Second, fmt.Sprintf("%d distinct mails in the Maildir after the restart", rules), func() bool { return s.distinct(opsBox) >= rules })
	// Postfix's log is partly lost around its stop (its log daemon stops
	// first); the Maildir and the Received headers are what counts.
	await(t, 20*time.Second, "an empty outbox and an empty Postfix queue", func() bool {
		d, ok := p.delivery()
		return ok && d.Pending == 0 && s.queued() == 0
	})
	checkExactlyOnce(t, s, rules, true, inFlight)
}

// receivedID matches the queue ID in Postfix's Received header.
var receivedID = regexp.MustCompile(`by mail\.e2e\.test \(Postfix\) with \S+ id ([0-9A-F]+)`)

// inFlight is the most notifications a transport has in flight with the
// default delivery settings: two Sends of batch_size 25.
const inFlight = 50

// checkExactlyOnce fails unless the mailbox holds one mail for each rule
// r000..r(rules-1), each with its own Message-ID, and Postfix accepted
// each Message-ID once (one queue ID), but for at most resent of them,
// which the agent may have sent again after a cut connection (a second
// queue ID, same Message-ID). With serverCopies, a second copy of the
// same accepted mail (same queue ID) is allowed: Postfix stopped after
// its delivery agent wrote the Maildir file and before the queue file was
// removed delivers it again at start; that is the server's at-least-once,
// not a second send.
func checkExactlyOnce(t *testing.T, s *mailServer, rules int, serverCopies bool, resent int) {
	t.Helper()
	headers := s.delivered(opsBox)
	queueIDs := map[string]map[string]int{} // Message-ID -> queue ID -> copies
	perRule := map[string]int{}
	copies := 0
	for _, h := range headers {
		id := h.Get("Message-ID")
		m := receivedID.FindStringSubmatch(strings.Join(strings.Fields(strings.Join(h["Received"], " ")), " "))
		if m == nil {
			t.Fatalf("no Postfix queue ID in the Received headers of %s: %q", id, h["Received"])
		}
		if queueIDs[id] == nil {
			queueIDs[id] = map[string]int{}
			perRule[h.Get("X-Tocsin-Rule")]++
		}
		queueIDs[id][m[1]]++
		if queueIDs[id][m[1]] > 1 {
			copies++
		}
	}
	sends := 0
	var twice []string
	for id, q := range queueIDs {
		if len(q) > 1 {
			sends += len(q) - 1
			twice = append(twice, fmt.Sprintf("%s accepted %d times (queue IDs %v)", id, len(q), q))
		}
	}
	if sends > resent {
		t.Errorf("%d mails sent again, want at most %d: %v", sends, resent, twice)
	}
	if copies > 0 && !serverCopies {
		t.Errorf("%d copies of mails Postfix accepted once", copies)
	}
	var missing []string
	for r := range rules {
		if name := fmt.Sprintf("r%03d", r); perRule[name] != 1 {
			missing = append(missing, fmt.Sprintf("%s×%d", name, perRule[name]))
		}
	}
	if len(missing) > 0 {
		t.Errorf("not one Message-ID for each of %d rules: %v", len(missing), missing)
	}
	if len(queueIDs) != rules {
		t.Errorf("%d distinct Message-IDs, want %d", len(queueIDs), rules)
	}
	t.Logf("%d mails, %d distinct Message-IDs, %d sent twice, %d copies Postfix delivered again after its stop", len(headers), len(queueIDs), sends, copies)
}
