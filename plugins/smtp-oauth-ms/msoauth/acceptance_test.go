package msoauth_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send/xoauth2test"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms/msoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const pluginPkg = "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms"

// TestAcceptance sends a message with a text and an HTML part and an
// attachment through the real plugin process, started as the agent starts
// it, in app-only and in delegated mode, and checks what the SMTP server
// received and who logged in.
func TestAcceptance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		delegated bool
	}{
		{name: "app-only"},
		{name: "delegated", delegated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, testserver.MicrosoftOptions{})
			m, credential := e.appSettings(), ""
			secrets := []string{appSecret}
			if tt.delegated {
				m, credential = e.delegatedSettings(), e.login(t)
				secrets = []string{delegatedSec, credential}
			}
			var rotated saved
			in, logs := sdktest.StartPlugin(t, msoauth.Name, pluginPkg)
			ctx := xoauth2test.Context(t, 60*time.Second)
			diags, err := in.Configure(ctx, sdk.Config{
				Transport: "o365", From: mailbox, Settings: settings(t, m),
				Credential: credential, SaveCredential: rotated.save,
			})
			if err != nil || len(diags) != 0 {
				t.Fatalf("Configure: %v %+v", err, diags)
			}
			if err := in.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
			msg := xoauth2test.RichMessage("acceptance-"+tt.name+"@tocsin.test", mailbox)
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

			grant := testserver.GrantClientCredentials
			if tt.delegated {
				grant = testserver.GrantRefreshToken
			}
			if n := e.ms.Requests(grant); n != 1 {
				t.Errorf("%d %s token requests for Check and Send, want 1", n, grant)
			}
			if tt.delegated {
				// The stand-in rotates refresh tokens, as Microsoft does:
				// the agent got the new one, the old one is spent.
				got := rotated.list()
				if len(got) != 1 || got[0] == credential || !e.refreshWorks(t, got[0]) {
					t.Errorf("saved credentials %d, want the one working rotated refresh token", len(got))
				}
				secrets = append(secrets, got...)
			} else if len(rotated.list()) != 0 {
				t.Errorf("app-only mode saved a credential")
			}
			lc, err := in.LoginConfig(ctx)
			if tt.delegated {
				if err != nil || lc.Account != mailbox || lc.ClientID != delegatedID || !slices.Equal(lc.Scopes, msoauth.DelegatedScopes) {
					t.Errorf("LoginConfig: %+v, %v", lc, err)
				}
			} else if err == nil {
				t.Errorf("LoginConfig in app mode: %+v, want an error", lc)
			}
			if len(e.tokens()) == 0 {
				t.Fatal("the SMTP server saw no token")
			}
			secrets = append(secrets, e.tokens()...)
			sdktest.NoSecrets(t, secrets, []string{"plugin log", "receipt"}, logs.String(), results[0].Receipt)
		})
	}
}
