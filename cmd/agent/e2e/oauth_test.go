package e2e

import (
	"fmt"
	"net/smtp"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// OAuth: the smtp-oauth-ms and smtp-oauth-google plugins get access tokens
// from the suite's stand-ins for Microsoft's and Google's token endpoints
// (plugins/testserver, HTTPS with their own CA) and log in with
// XOAUTH2; Dovecot's oauth2 passdb asks the suite's introspection endpoint
// whether the token is valid and for which mailbox, and refuses a token
// for another mailbox than the one logging in.

const (
	msTenant = domain
	msSecret = "ms-app-secret-e2e"
	// msApp may send as senderUser; msOtherApp has rights on another
	// mailbox only.
	msApp      = "11111111-2222-3333-4444-555555555555"
	msOtherApp = "66666666-7777-8888-9999-000000000000"
)

// identities are the token endpoints, and what their tokens stand for.
type identities struct {
	ms     *testserver.MicrosoftIdentity
	google *testserver.GoogleOAuth
	caFile string // the mail server's CA and the endpoints' CA
	saFile string // a Google service account acting for senderUser
}

// startIdentities starts both token endpoints and makes s accept their
// tokens: a Microsoft app token for the mailbox that app has rights on, a
// Google token for its subject, each only with the mail scope.
func startIdentities(t *testing.T, s *mailServer) *identities {
	t.Helper()
	ca, err := testserver.NewCA()
	must(t, err)
	id := &identities{
		ms:     testserver.StartMicrosoftIdentityT(t, ca, testserver.MicrosoftOptions{}),
		google: testserver.StartGoogleOAuthT(t, ca, testserver.GoogleOAuthOptions{}),
	}
	for _, app := range []string{msApp, msOtherApp} {
		must(t, id.ms.AddApp(testserver.MicrosoftApp{Tenant: msTenant, ClientID: app, Name: "tocsin-e2e", Secret: msSecret, AppScopes: []string{testserver.MicrosoftScopeSMTPApp}}))
	}
	mailboxOfApp := map[string]string{msApp: senderUser, msOtherApp: otherBox + "@" + domain}
	sa, err := id.google.NewServiceAccount("tocsin-e2e", []string{"https://mail.google.com/"}, senderUser)
	must(t, err)
	dir := t.TempDir()
	id.saFile = filepath.Join(dir, "google-sa.json")
	write(t, id.saFile, 0o600, string(sa))
	serverCA, err := os.ReadFile(s.caFile)
	must(t, err)
	id.caFile = filepath.Join(dir, "ca-bundle.pem")
	write(t, id.caFile, 0o644, string(serverCA)+string(ca.CertPEM()))

	s.setValidator(func(token string) (string, bool) {
		if c, err := id.google.Validate(token); err == nil {
			return c.Subject, c.Subject != "" && slices.Contains(c.Scopes, "https://mail.google.com/")
		}
		if c, err := id.ms.Validate(token); err == nil {
			mailbox, ok := mailboxOfApp[c.ClientID]
			return mailbox, ok && c.Scope == testserver.MicrosoftScopeSMTPApp
		}
		return "", false
	})
	return id
}

// msTransport is an smtp-oauth-ms transport (mode app) for clientID,
// sending as senderUser through the submission port.
func (id *identities) msTransport(s *mailServer, clientID string) string {
	host, port := splitPort(s.t, s.subAddr)
	return fmt.Sprintf(`transport "relay" {
  plugin = "smtp-oauth-ms"
  from = "Tocsin e2e <%s>"
  config {
    mode = "app"
    tenant_id = %q
    client_id = %q
    client_secret = %q
    authority = %q
    host = %q
    port = %s
    security = "starttls"
    ca_file = %q
    timeout = "10s"
  }
}
`, senderUser, msTenant, clientID, msSecret, id.ms.URL(), host, port, id.caFile)
}

// googleTransport is an smtp-oauth-google transport acting for
// senderUser through the smtps port.
func (id *identities) googleTransport(s *mailServer) string {
	host, port := splitPort(s.t, s.tlsAddr)
	return fmt.Sprintf(`transport "relay" {
  plugin = "smtp-oauth-google"
  from = "Tocsin e2e <%s>"
  config {
    service_account_file = %q
    subject = %q
    host = %q
    port = %s
    security = "tls"
    ca_file = %q
    timeout = "10s"
  }
}
`, senderUser, id.saFile, senderUser, host, port, id.caFile)
}

// TestAgent_OAuth: smtp-oauth-ms and smtp-oauth-google fetch a token and
// log in with XOAUTH2, which Dovecot checks against the token endpoint's
// introspection; the mail lands in the mailbox.
func TestAgent_OAuth(t *testing.T) {
	cases := []struct {
		name      string
		transport func(*identities, *mailServer) string
		service   string // Postfix's syslog_name of the port used
	}{
		{"smtp-oauth-ms", func(id *identities, s *mailServer) string { return id.msTransport(s, msApp) }, "submission"},
		{"smtp-oauth-google", func(id *identities, s *mailServer) string { return id.googleTransport(s) }, "smtps"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startMailServer(t)
			id := startIdentities(t, s)
			listen := freePort(t)
			p := startAgent(t, agentConfig(t, listen, c.transport(id, s), 3), listen)
			await(t, 60*time.Second, "3 mails in the Maildir", func() bool { return len(s.delivered(opsBox)) >= 3 })
			await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 && d.Sent == 3 })
			checkExactlyOnce(t, s, 3, false, 0)
			line := `postfix/` + c.service + `/smtpd\[\d+\]: \w+: client=localhost\[127\.0\.0\.1\], sasl_method=XOAUTH2, sasl_username=` + regexp.QuoteMeta(senderUser)
			if !regexp.MustCompile(line).MatchString(s.log()) {
				t.Errorf("Postfix's log has no line matching %s:\n%s", line, s.log())
			}
		})
	}
}

// TestAgent_OAuthTokenForAnotherMailboxRefused: a Microsoft app whose
// token is good, but for another mailbox than the transport's, is refused
// by the server; nothing is delivered, the notification stays in the
// outbox, and the remedy says how to give the app rights on the mailbox.
func TestAgent_OAuthTokenForAnotherMailboxRefused(t *testing.T) {
	s := startMailServer(t)
	id := startIdentities(t, s)
	listen := freePort(t)
	p := startAgent(t, agentConfig(t, listen, id.msTransport(s, msOtherApp), 1), listen)
	await(t, 60*time.Second, "the refused login in Postfix's log", func() bool {
		if n := len(s.delivered(opsBox)); n != 0 {
			t.Fatalf("%d mails delivered with a token for another mailbox: the server accepted the login", n)
		}
		return strings.Contains(s.log(), "SASL XOAUTH2 authentication failed")
	})
	await(t, 30*time.Second, "the failure in the agent's status", func() bool {
		d, ok := p.delivery()
		return ok && d.Pending+d.Dead == 1 && d.Sent == 0 && (d.Retried > 0 || d.DeadLettered > 0)
	})
	time.Sleep(2 * time.Second)
	if n := len(s.delivered(opsBox)); n != 0 {
		t.Fatalf("%d mails delivered with a token for another mailbox", n)
	}
	// Refused for the right reason, not because XOAUTH2 itself broke.
	if want := "Username '" + senderUser + "' did not match '" + otherBox + "@" + domain + "'"; !strings.Contains(s.log(), want) {
		t.Errorf("Dovecot's log does not say %q:\n%s", want, s.log())
	}
	const remedy = "Add-MailboxPermission -Identity " + senderUser
	if !strings.Contains(p.logText(), remedy) {
		t.Errorf("the agent's log does not name the remedy %q", remedy)
	}
	if out := p.cli("outbox", "list", "-config", p.config); !strings.Contains(out, "535") || !strings.Contains(out, "Add-MailboxPermission") {
		t.Errorf("tocsin outbox list does not show the 535 and its remedy:\n%s", out)
	}
}

// TestServer_OAuthCrossCheck: an independent client (net/smtp with its
// own OAUTHBEARER and XOAUTH2) shows the server accepts a valid token for
// the mailbox logging in, and refuses one for another mailbox and one it
// does not know.
func TestServer_OAuthCrossCheck(t *testing.T) {
	s := startMailServer(t)
	tokens := map[string]string{"good-token": senderUser, "other-token": otherBox + "@" + domain}
	s.setValidator(func(token string) (string, bool) { m, ok := tokens[token]; return m, ok })
	cases := []struct {
		mech, token string
		ok          bool
	}{
		{"OAUTHBEARER", "good-token", true},
		{"XOAUTH2", "good-token", true},
		{"OAUTHBEARER", "other-token", false},
		{"XOAUTH2", "other-token", false},
		{"XOAUTH2", "unknown-token", false},
	}
	for _, c := range cases {
		t.Run(c.mech+" "+c.token, func(t *testing.T) {
			err := sendWithToken(s, c.mech, senderUser, c.token)
			if (err == nil) != c.ok {
				t.Fatalf("login with %s: err = %v, want accepted %v\n%s", c.token, err, c.ok, s.log())
			}
		})
	}
}

// sendWithToken sends one mail on the submission port after STARTTLS,
// logging in with mech.
func sendWithToken(s *mailServer, mech, user, token string) error {
	c, err := smtp.Dial(s.subAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.e2e.test"); err != nil {
		return err
	}
	if err := c.StartTLS(s.tlsConfig()); err != nil {
		return err
	}
	if err := c.Auth(&tokenAuth{mech: mech, user: user, token: token}); err != nil {
		return err
	}
	if err := c.Mail(user); err != nil {
		return err
	}
	if err := c.Rcpt(opsBox + "@" + domain); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "Subject: oauth cross-check %s\r\n\r\nhello\r\n", mech); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// tokenAuth is XOAUTH2 or OAUTHBEARER (RFC 7628) for net/smtp.
type tokenAuth struct{ mech, user, token string }

func (a *tokenAuth) Start(*smtp.ServerInfo) (string, []byte, error) {
	if a.mech == "XOAUTH2" {
		return a.mech, []byte("user=" + a.user + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
	}
	return a.mech, []byte("n,a=" + a.user + ",\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

// Next answers the server's error challenge with the empty response (XOAUTH2)
// or %x01 (OAUTHBEARER) the mechanisms require, so the server ends with 535.
func (a *tokenAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	if a.mech == "XOAUTH2" {
		return []byte{}, nil
	}
	return []byte{1}, nil
}
