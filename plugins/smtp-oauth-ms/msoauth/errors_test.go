package msoauth_test

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms/msoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// Microsoft 365's replies, as operators meet them.
var (
	replySMTPAuthOff  = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information."}
	replyDefaults     = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator."}
	replyCriteria     = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator."}
	replyNotAuthed    = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 57}, Message: "Client not authenticated to send mail. [AM0PR01CA0001.eurprd01.prod.exchangelabs.com]"}
	replySendAs       = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 60}, Message: "SMTP; Client does not have permissions to send as this sender"}
	replySendAsDenied = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 2, 252}, Message: "SendAsDenied; alerts@contoso.example not allowed to send as ceo@contoso.example; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied"}
)

// TestTransport_errors provokes each error an operator meets from the
// stand-ins, through Send, and checks its kind, code and remedy. Token
// endpoint errors and login replies fail the whole batch; replies to MAIL
// and DATA fail their message.
func TestTransport_errors(t *testing.T) {
	t.Parallel()
	// A certificate registered with no app: its assertion is refused.
	_, certFile, keyFile := certificate(t)
	tests := []struct {
		name string
		// apps replaces the registrations of apps().
		apps func([]testserver.MicrosoftApp)
		// setup changes the environment; credential is the stored
		// refresh token of a delegated transport.
		setup    func(t *testing.T, e *env, credential string)
		settings func(m map[string]any)
		// delegated selects the mode; staleLogin stores a refresh token
		// the stand-in never issued instead of logging in (a login
		// would fail like the send).
		delegated, staleLogin bool
		// stage, with reply, makes the SMTP server fail that command.
		stage testserver.Stage
		reply *smtp.SMTPError

		perMessage bool // the error is the message's, not the batch's
		code       string
		remedy     []string // substrings of the remedy
		noConnect  bool     // the SMTP server must not be reached
	}{
		{
			name:  "535 5.7.3: the app has no rights on the mailbox",
			setup: func(_ *testing.T, e *env, _ string) { e.fullAccess = nil },
			code:  "535 5.7.3", remedy: []string{"New-ServicePrincipal -AppId " + appID, "Add-MailboxPermission -Identity " + mailbox, "FullAccess"},
		},
		{
			name: "535 5.7.3: delegated login for another mailbox", delegated: true,
			settings: func(m map[string]any) { m["username"] = otherMailbox },
			code:     "535 5.7.3", remedy: []string{"user who signed in", "SMTP.Send", "tocsin oauth login"},
		},
		{
			name:  "535 5.7.139: SMTP AUTH off for the tenant",
			setup: func(_ *testing.T, e *env, _ string) { e.setReply(replySMTPAuthOff) },
			code:  "535 5.7.139", remedy: []string{"Set-TransportConfig -SmtpClientAuthenticationDisabled $false", "Set-CASMailbox -Identity " + mailbox + " -SmtpClientAuthenticationDisabled $false"},
		},
		{
			name:  "535 5.7.139: security defaults",
			setup: func(_ *testing.T, e *env, _ string) { e.setReply(replyDefaults) },
			code:  "535 5.7.139", remedy: []string{"security defaults off", "Conditional Access"},
		},
		{
			name:  "535 5.7.139: mailbox does not meet the criteria",
			setup: func(_ *testing.T, e *env, _ string) { e.setReply(replyCriteria) },
			code:  "535 5.7.139", remedy: []string{"Authenticated SMTP", "Set-CASMailbox -Identity " + mailbox},
		},
		{
			name: "530 5.7.57 at MAIL", stage: testserver.StageMail, reply: replyNotAuthed, perMessage: true,
			code: "530 5.7.57", remedy: []string{"smtp.office365.com", "port 587", "starttls"},
		},
		{
			name: "550 5.7.60 at MAIL", stage: testserver.StageMail, reply: replySendAs, perMessage: true,
			code: "550 5.7.60", remedy: []string{"set the transport's from to " + mailbox, "Add-RecipientPermission", "-Trustee " + mailbox},
		},
		{
			name: "554 5.2.252 SendAsDenied at DATA", stage: testserver.StageData, reply: replySendAsDenied, perMessage: true,
			code: "554 5.2.252", remedy: []string{"set the transport's from to " + mailbox, "SendAs"},
		},
		{
			name:     "AADSTS7000215: wrong secret",
			settings: func(m map[string]any) { m["client_secret"] = "Qx8Q~notTheValue" },
			code:     "AADSTS7000215", remedy: []string{"Value"}, noConnect: true,
		},
		{
			name: "AADSTS7000222: expired secret",
			apps: func(a []testserver.MicrosoftApp) { a[0].SecretExpired = true },
			code: "AADSTS7000222", remedy: []string{"new one"}, noConnect: true,
		},
		{
			name:     "AADSTS700016: unknown app",
			settings: func(m map[string]any) { m["client_id"] = "ffffffff-0000-4000-8000-000000000000" },
			code:     "AADSTS700016", remedy: []string{"client_id", "tenant_id"}, noConnect: true,
		},
		{
			name:     "AADSTS90002: unknown tenant",
			settings: func(m map[string]any) { m["tenant_id"] = "fabrikam.example" },
			code:     "AADSTS90002", remedy: []string{"tenant_id", "authority"}, noConnect: true,
		},
		{
			name: "AADSTS65001: consent missing",
			apps: func(a []testserver.MicrosoftApp) { a[0].ConsentMissing = true },
			code: "AADSTS65001", remedy: []string{"admin consent"}, noConnect: true,
		},
		{
			name: "AADSTS530035: delegated sign-in blocked by security defaults", delegated: true, staleLogin: true,
			apps: func(a []testserver.MicrosoftApp) { a[1].SecurityDefaults = true },
			code: "AADSTS530035", remedy: []string{"security defaults"}, noConnect: true,
		},
		{
			name: "AADSTS70000: refresh token revoked", delegated: true,
			setup: func(t *testing.T, e *env, credential string) {
				// Spend the stored refresh token, as a revocation does.
				if !e.refreshWorks(t, credential) {
					t.Fatal("the fresh login does not work")
				}
			},
			code: "AADSTS70000", remedy: []string{"tocsin oauth login"}, noConnect: true,
		},
		{
			name: "AADSTS700027: certificate not registered",
			settings: func(m map[string]any) {
				delete(m, "client_secret")
				m["client_certificate"] = certFile
				m["client_key"] = keyFile
			},
			code: "AADSTS700027", remedy: []string{"upload the certificate"}, noConnect: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			registered := apps()
			if tt.apps != nil {
				tt.apps(registered)
			}
			e := newEnv(t, testserver.MicrosoftOptions{}, registered...)
			m, credential := e.appSettings(), ""
			if tt.delegated {
				m = e.delegatedSettings()
				if tt.staleLogin {
					credential = "1.A" + testserver.RandomToken(1500)
				} else {
					credential = e.login(t)
				}
			}
			if tt.settings != nil {
				tt.settings(m)
			}
			if tt.setup != nil {
				tt.setup(t, e, credential)
			}
			if tt.reply != nil {
				e.smtp.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
					if stage == tt.stage {
						return tt.reply
					}
					return nil
				})
			}
			tr := msoauth.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "o365", From: mailbox, Settings: settings(t, m), Credential: credential, SaveCredential: func(string) {}})
			if err != nil || diags.HasErrors() {
				t.Fatalf("Configure: %v %+v", err, diags)
			}
			results, err := tr.Send(t.Context(), []*sdk.Message{message("err@tocsin.test")})
			if tt.perMessage {
				if err != nil || len(results) != 1 {
					t.Fatalf("Send: %+v, %v; want one result", results, err)
				}
				err = results[0].Err
			} else if results != nil {
				t.Fatalf("results %+v, want a batch error", results)
			}
			de := deliveryError(t, err)
			if de.Kind != sdk.Permanent || de.Code != tt.code {
				t.Errorf("%s %q (%v), want permanent %q", de.Kind, de.Code, err, tt.code)
			}
			if de.Reply == "" {
				t.Errorf("no reply kept")
			}
			for _, s := range tt.remedy {
				if !strings.Contains(de.Remedy, s) {
					t.Errorf("remedy %q does not say %q", de.Remedy, s)
				}
			}
			for _, secret := range []string{appSecret, delegatedSec, credential} {
				if secret != "" && strings.Contains(de.Error()+de.Reply+de.Remedy, secret) {
					t.Errorf("error leaks a secret: %v", de)
				}
			}
			if tt.noConnect && e.smtp.Connections() != 0 {
				t.Errorf("%d SMTP connections despite the token error", e.smtp.Connections())
			}
			if n := len(e.smtp.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}
