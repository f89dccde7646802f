package googleoauth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send/xoauth2test"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google/googleoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const pluginPkg = "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google"

// TestAcceptance sends a message with a text and an HTML part and an
// attachment through the real plugin process, started as the agent starts
// it, with a service account acting for the mailbox and with a user's
// login, and checks what the SMTP server received and who logged in.
func TestAcceptance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		login bool
	}{
		{name: "service account"},
		{name: "login", login: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testserver.GoogleOAuthOptions{})
			m, credential := e.saSettings(), ""
			secrets := []string{privateKey(t, e.saKey)}
			if tt.login {
				m, credential = e.clientSettings(), e.refreshToken(t)
				secrets = []string{e.secret, credential}
			}
			in, logs := sdktest.StartPlugin(t, googleoauth.Name, pluginPkg)
			ctx := xoauth2test.Context(t, 60*time.Second)
			diags, err := in.Configure(ctx, sdk.Config{
				Transport: "gmail", From: mailbox, Settings: settings(t, m),
				Credential: credential, SaveCredential: func(string) {},
			})
			if err != nil || len(diags) != 0 {
				t.Fatalf("Configure: %v %+v", err, diags)
			}
			if err := in.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
			msg := xoauth2test.RichMessage("acceptance-"+strings.ReplaceAll(tt.name, " ", "-")+"@tocsin.test", mailbox)
			results, err := in.Send(ctx, []*sdk.Message{msg})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(results) != 1 || results[0].Err != nil || results[0].MessageID != msg.ID || !strings.HasPrefix(results[0].Receipt, "250") {
				t.Fatalf("results %+v", results)
			}
			got := e.smtp.Messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			xoauth2test.CheckReceived(t, got[0], msg, mailbox)
			c := e.g.Counts()
			if n := c.JWTBearer + c.RefreshToken; n != 1 || c.Errors != 0 {
				t.Errorf("token requests %+v, want one for Check and Send", c)
			}
			if len(e.tokens()) == 0 {
				t.Fatal("the SMTP server saw no token")
			}
			secrets = append(secrets, e.tokens()...)
			sdktest.NoSecrets(t, secrets, []string{"plugin log", "receipt"}, logs.String(), results[0].Receipt)
		})
	}
}

// privateKey returns the PEM private key of a service account key file,
// the secret in it.
func privateKey(t *testing.T, keyJSON []byte) string {
	t.Helper()
	i := strings.Index(string(keyJSON), "-----BEGIN PRIVATE KEY-----")
	if i < 0 {
		t.Fatal("no private key in the service account file")
	}
	// The key's body, without the escaped newlines of the JSON string.
	body := string(keyJSON[i+len("-----BEGIN PRIVATE KEY-----"):])
	body = strings.TrimPrefix(body, `\n`)
	return body[:64]
}
