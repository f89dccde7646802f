package webhook_test

import (
	"encoding/json"
	"net/mail"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/webhook/webhook"
)

// TestConformance runs the SDK's conformance kit against the webhook
// transport with format = "json", signed, over TLS trusted through
// ca_file. The receiver keeps each body whose signature verifies and
// renders it as the message it describes, for the kit to read.
func TestConformance(t *testing.T) {
	sdktest.RunConformance(t, func() sdk.Transport { return webhook.New("test") }, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			rc := startReceiver(t, true)
			settings := map[string]any{
				"url":         rc.hookURL(),
				"format":      "json",
				"hmac_secret": hmacSecret,
				"headers":     []string{"Authorization: " + authValue},
				"ca_file":     rc.caFile(t),
				"timeout":     "10s",
			}
			return settings, func() [][]byte {
				var raw [][]byte
				for _, r := range rc.got() {
					// Bodies signed with a planted secret are not the
					// target's to count.
					if webhook.Verify([]byte(hmacSecret), r.Header.Get(webhook.TimestampHeader), r.Header.Get(webhook.DefaultSignatureHeader), r.Body, timeNow(), maxSkew) != nil {
						continue
					}
					if b := rfc822(r.Body); b != nil {
						raw = append(raw, b)
					}
				}
				return raw
			}
		},
		Secrets: []string{hookToken, hookSig, hmacSecret, authValue},
	})
}

// rfc822 renders a json-format body as the mail it describes, or nil.
func rfc822(body []byte) []byte {
	var n webhook.Notification
	if json.Unmarshal(body, &n) != nil {
		return nil
	}
	m := &sdk.Message{ID: n.ID, Date: n.Date, Subject: n.Subject, Text: n.Text, HTML: n.HTML}
	if a, err := mail.ParseAddress(n.From); err == nil {
		m.From = *a
	}
	for _, s := range append(n.To, n.Cc...) {
		if a, err := mail.ParseAddress(s); err == nil {
			m.To = append(m.To, *a)
		}
	}
	for name, v := range n.Headers {
		m.Headers = append(m.Headers, sdk.Header{Name: name, Value: v})
	}
	for _, a := range n.Attachments {
		m.Attachments = append(m.Attachments, sdk.Attachment{Filename: a.Filename, ContentType: a.ContentType, Data: a.Data})
	}
	b, err := m.Bytes()
	if err != nil {
		return nil
	}
	return b
}
