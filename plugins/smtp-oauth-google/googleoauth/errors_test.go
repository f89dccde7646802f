package googleoauth_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google/googleoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestTransport_errors provokes each error an operator meets from the
// stand-ins, through Send, and checks its kind, code and remedy.
func TestTransport_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login bool // client_file and a refresh token instead of the service account
		// setup changes the environment and the settings; credential is
		// the stored refresh token with login.
		setup func(t *testing.T, e *env, m map[string]any, credential string)
		// stage, with reply, makes the SMTP server fail that command.
		stage testserver.Stage
		reply *smtp.SMTPError

		perMessage bool
		code       string
		remedy     []string
		noConnect  bool
	}{
		{
			// Gmail's 334 JSON challenge, the empty answer, then 535.
			name: "535 5.7.8: service account token for another user",
			setup: func(_ *testing.T, _ *env, m map[string]any, _ string) {
				m["username"] = otherMailbox
			},
			code: "535 5.7.8", remedy: []string{"username must equal subject", googleoauth.Scope, "Domain-wide delegation"},
		},
		{
			name: "535 5.7.8: login token for another user", login: true,
			setup: func(_ *testing.T, _ *env, m map[string]any, _ string) {
				m["username"] = otherMailbox
			},
			code: "535 5.7.8", remedy: []string{"signed in with tocsin oauth login", "run tocsin oauth login again"},
		},
		{
			name: "535 5.7.1",
			setup: func(_ *testing.T, e *env, _ map[string]any, _ string) {
				e.setReply(&smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Username and Password not accepted."})
			},
			code: "535 5.7.1", remedy: []string{"username must equal subject"},
		},
		{
			name: "534 5.7.9: application-specific password required",
			setup: func(_ *testing.T, e *env, _ map[string]any, _ string) {
				e.setReply(&smtp.SMTPError{Code: 534, EnhancedCode: smtp.EnhancedCode{5, 7, 9}, Message: "Application-specific password required. For more information, go to\n https://support.google.com/mail/?p=InvalidSecondFactor"})
			},
			code: "534 5.7.9", remedy: []string{"application-specific password", "smtp-basic with an app password", "smtp-oauth-google or gmail"},
		},
		{
			name:  "550 5.7.1 at DATA",
			stage: testserver.StageData, reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "[203.0.113.7] The user or domain that you are sending to (or from) has a policy that prohibited the mail that you sent."},
			perMessage: true, code: "550 5.7.1", remedy: []string{"by policy", mailbox},
		},
		{
			name: "unauthorized_client: subject not delegated",
			setup: func(_ *testing.T, _ *env, m map[string]any, _ string) {
				m["subject"], m["username"] = otherMailbox, otherMailbox
			},
			code: "unauthorized_client", remedy: []string{"Domain-wide delegation", "24 hours"}, noConnect: true,
		},
		{
			name: "unauthorized_client: scope not delegated",
			setup: func(t *testing.T, e *env, m map[string]any, _ string) {
				sa, err := e.g.NewServiceAccount("gmail-api-only", []string{testserver.GmailScopeSend}, mailbox)
				if err != nil {
					t.Fatal(err)
				}
				m["service_account_file"] = writeFile(t, t.TempDir(), "sa.json", sa)
			},
			code: "unauthorized_client", remedy: []string{"Domain-wide delegation"}, noConnect: true,
		},
		{
			name: "invalid_grant: service account key deleted",
			setup: func(t *testing.T, e *env, m map[string]any, _ string) {
				// The account's key file with another account's private key:
				// what Google sees once the key was deleted and replaced.
				other, err := e.g.NewServiceAccount("other", nil)
				if err != nil {
					t.Fatal(err)
				}
				var a, b map[string]any
				if json.Unmarshal(e.saKey, &a) != nil || json.Unmarshal(other, &b) != nil {
					t.Fatal("parse key files")
				}
				a["private_key"] = b["private_key"]
				delete(a, "private_key_id")
				raw, _ := json.Marshal(a)
				m["service_account_file"] = writeFile(t, t.TempDir(), "sa.json", raw)
			},
			code: "invalid_grant", remedy: []string{"new key"}, noConnect: true,
		},
		{
			name: "invalid_grant: refresh token revoked", login: true,
			setup: func(_ *testing.T, e *env, _ map[string]any, credential string) {
				e.g.RevokeRefreshToken(credential)
			},
			code: "invalid_grant", remedy: []string{"tocsin oauth login"}, noConnect: true,
		},
		{
			name: "invalid_client: the client's secret was reset", login: true,
			setup: func(t *testing.T, e *env, m map[string]any, _ string) {
				raw := strings.Replace(string(mustRead(t, e.clientFile)), e.secret, "GOCSPX-resetResetReset", 1)
				m["client_file"] = writeFile(t, filepath.Dir(e.clientFile), "old_client.json", []byte(raw))
			},
			code: "invalid_client", remedy: []string{"download the client's JSON again"}, noConnect: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testserver.GoogleOAuthOptions{})
			m, credential := e.saSettings(), ""
			if tt.login {
				m, credential = e.clientSettings(), e.refreshToken(t)
			}
			if tt.setup != nil {
				tt.setup(t, e, m, credential)
			}
			if tt.reply != nil {
				e.smtp.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
					if stage == tt.stage {
						return tt.reply
					}
					return nil
				})
			}
			tr := googleoauth.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "gmail", From: mailbox, Settings: settings(t, m), Credential: credential, SaveCredential: func(string) {}})
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
				t.Error("no reply kept")
			}
			for _, s := range tt.remedy {
				if !strings.Contains(de.Remedy, s) {
					t.Errorf("remedy %q does not say %q", de.Remedy, s)
				}
			}
			for _, secret := range []string{e.secret, credential, privateKey(t, e.saKey)} {
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
