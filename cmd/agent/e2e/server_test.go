package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestServer_CrossCheck proves the server setup with an independent
// client, swaks, before the agent is trusted to show anything: the
// logins that must work work, and the ones that must be refused are.
func TestServer_CrossCheck(t *testing.T) {
	s := startMailServer(t)
	_, subPort := splitPort(t, s.subAddr)
	_, tlsPort := splitPort(t, s.tlsAddr)
	to := opsBox + "@" + domain
	tlsArgs := []string{"--tls-verify", "--tls-ca-path", s.caFile}
	cases := []struct {
		name     string
		args     []string
		ok       bool
		want     string // in swaks's output
		subject  string
		delivers bool
	}{
		{"starttls plain", append([]string{"--port", subPort, "--tls", "--auth", "PLAIN", "--auth-user", senderUser, "--auth-password", senderPass}, tlsArgs...), true, "250", "xcheck-starttls-plain", true},
		{"smtps login", append([]string{"--port", tlsPort, "--tlsc", "--auth", "LOGIN", "--auth-user", senderUser, "--auth-password", senderPass}, tlsArgs...), true, "250", "xcheck-smtps-login", true},
		{"wrong password", append([]string{"--port", subPort, "--tls", "--auth", "PLAIN", "--auth-user", senderUser, "--auth-password", "wrong"}, tlsArgs...), false, "535", "xcheck-wrong", false},
		{"unknown user", append([]string{"--port", tlsPort, "--tlsc", "--auth", "LOGIN", "--auth-user", "nobody@" + domain, "--auth-password", senderPass}, tlsArgs...), false, "535", "xcheck-unknown", false},
		{"no login", append([]string{"--port", tlsPort, "--tlsc"}, tlsArgs...), false, "554 5.7.1", "xcheck-nologin", false},
		{"login before starttls", []string{"--port", subPort, "--auth", "PLAIN", "--auth-user", senderUser, "--auth-password", senderPass}, false, "advertise", "xcheck-cleartext", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, ok := s.swaks(append([]string{"--from", senderUser, "--to", to, "--header", "Subject: " + c.subject}, c.args...)...)
			if ok != c.ok || !strings.Contains(out, c.want) {
				t.Fatalf("swaks exit ok=%v, want %v (output should contain %q):\n%s\n%s", ok, c.ok, c.want, out, s.log())
			}
		})
	}
	// What was accepted arrives; what was refused does not.
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := map[string]int{}
		for _, h := range s.delivered(opsBox) {
			got[h.Get("Subject")]++
		}
		done := true
		for _, c := range cases {
			if c.delivers && got[c.subject] != 1 {
				done = false
			}
			if !c.delivers && got[c.subject] != 0 {
				t.Fatalf("%s: a mail that was refused arrived", c.name)
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accepted mails not in the Maildir after 20s: %v\n%s", got, s.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
