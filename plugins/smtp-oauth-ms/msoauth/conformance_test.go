package msoauth_test

import (
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms/msoauth"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestConformance runs the SDK's conformance kit against smtp-oauth-ms in
// app-only mode: tokens from the Microsoft identity stand-in, mail to an
// XOAUTH2 server that accepts them for the mailbox, both over TLS from a
// throw-away CA.
func TestConformance(t *testing.T) {
	sdktest.RunConformance(t, func() sdk.Transport { return msoauth.New("test") }, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			e := newEnv(t, testserver.MicrosoftOptions{})
			return e.appSettings(), func() [][]byte {
				var raw [][]byte
				for _, m := range e.smtp.Messages() {
					raw = append(raw, m.Data)
				}
				return raw
			}
		},
		Secrets: []string{appSecret},
		From:    mailbox,
	})
}

// TestConformance_Delegated runs the kit in delegated mode, with a refresh
// token from a login at the stand-in (which rotates it on every refresh)
// as the stored credential.
func TestConformance_Delegated(t *testing.T) {
	e := newEnv(t, testserver.MicrosoftOptions{})
	credential := e.login(t)
	sdktest.RunConformance(t, func() sdk.Transport { return msoauth.New("test") }, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			return e.delegatedSettings(), func() [][]byte {
				var raw [][]byte
				for _, m := range e.smtp.Messages() {
					raw = append(raw, m.Data)
				}
				return raw
			}
		},
		Credential: credential,
		From:       mailbox,
	})
}
