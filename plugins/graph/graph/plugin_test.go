package graph_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/graph/graph"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestPlugin_acceptance sends a message with text, HTML, an attachment and
// every kind of recipient through the real plugin process to the Graph
// stand-in, and checks what Graph received.
func TestPlugin_acceptance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	tr, logs := sdktest.StartPlugin(t, graph.Name, "github.com/tocsin-dev/tocsin/plugins/graph")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	d, err := tr.Describe(ctx)
	if err != nil || d.Name != graph.Name || d.Version == "" {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	diags, err := tr.Configure(ctx, sdk.Config{Transport: "m365", From: "Tocsin alerts <" + mailbox + ">", Settings: settingsOf(t, e.settings(nil))})
	if err != nil || len(diags) != 0 {
		t.Fatalf("Configure = %+v, %v", diags, err)
	}
	if err := tr.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}

	attachment := []byte("line 1\nline 2\x00\xff binary tail\n")
	m := &sdk.Message{
		ID:      "20261123T120000.4f2a@node1.contoso.example",
		Date:    time.Now(),
		From:    sdk.Address{Name: "Tocsin", Address: mailbox},
		To:      []sdk.Address{{Name: "On call", Address: "oncall@contoso.example"}},
		Cc:      []sdk.Address{{Name: "Ops lead", Address: "lead@contoso.example"}},
		Bcc:     []sdk.Address{{Address: "audit@contoso.example"}},
		Subject: "[FIRING] disk full on db1",
		Text:    "The disk /var on db1 is 99% full.\n",
		HTML:    "<p>The disk <b>/var</b> on db1 is 99% full.</p>",
		Attachments: []sdk.Attachment{
			{Filename: "df.txt", ContentType: "text/plain", Data: attachment},
		},
		Headers: []sdk.Header{{Name: "X-Tocsin-Rule", Value: "disk-full"}, {Name: "Auto-Submitted", Value: "auto-generated"}},
	}
	results, err := tr.Send(ctx, []*sdk.Message{m})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(results) != 1 || results[0].Err != nil || results[0].MessageID != m.ID || results[0].Receipt != graph.Receipt {
		t.Fatalf("results = %+v, want one receipt %q", results, graph.Receipt)
	}

	got := e.graph.Messages()
	if len(got) != 1 {
		t.Fatalf("Graph accepted %d messages, want 1", len(got))
	}
	g := got[0]
	if g.User != mailbox {
		t.Errorf("user = %q, want %q", g.User, mailbox)
	}
	if g.SaveToSentItems {
		t.Error("saveToSentItems = true, want false by default")
	}
	msg := g.Message
	if msg.Subject != m.Subject {
		t.Errorf("subject = %q", msg.Subject)
	}
	if msg.Body.ContentType != "HTML" || msg.Body.Content != m.HTML {
		t.Errorf("body = %+v, want the HTML", msg.Body)
	}
	wantRcpt := func(field string, got []testserver.GraphRecipient, want []sdk.Address) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s = %+v, want %+v", field, got, want)
			return
		}
		for i := range want {
			if got[i].EmailAddress != (testserver.GraphEmailAddress{Address: want[i].Address, Name: want[i].Name}) {
				t.Errorf("%s[%d] = %+v, want %+v", field, i, got[i].EmailAddress, want[i])
			}
		}
	}
	wantRcpt("toRecipients", msg.ToRecipients, m.To)
	wantRcpt("ccRecipients", msg.CcRecipients, m.Cc)
	wantRcpt("bccRecipients", msg.BccRecipients, m.Bcc)
	if len(msg.Attachments) != 1 {
		t.Fatalf("attachments = %+v", msg.Attachments)
	}
	if a := msg.Attachments[0]; a.ODataType != "#microsoft.graph.fileAttachment" || a.Name != "df.txt" || a.ContentType != "text/plain" || !bytes.Equal(a.ContentBytes, attachment) {
		t.Errorf("attachment = %+v, want df.txt with the attached bytes", a)
	}
	headers := map[string]string{}
	for _, h := range msg.InternetMessageHeaders {
		headers[h.Name] = h.Value
	}
	if headers[graph.MessageIDHeader] != m.ID || headers["X-Tocsin-Rule"] != "disk-full" || len(headers) != 2 {
		t.Errorf("headers = %v, want %s = %s and X-Tocsin-Rule", headers, graph.MessageIDHeader, m.ID)
	}

	// A classified error crosses the process boundary whole.
	e.graph.Throttle(1, 5*time.Second)
	results, err = tr.Send(ctx, []*sdk.Message{message("throttled@node")})
	if err != nil || len(results) != 1 {
		t.Fatalf("Send = %+v, %v; want one result", results, err)
	}
	if de := checkDeliveryError(t, results[0].Err, sdk.Temporary, "ApplicationThrottled", "slow down"); de.RetryAfter != 5*time.Second || !strings.HasPrefix(de.Reply, "429 Too Many Requests ApplicationThrottled: ") {
		t.Errorf("RetryAfter %v, reply %q; want 5s and Graph's reply", de.RetryAfter, de.Reply)
	}

	// Nothing the plugin logged holds the secret or a token. (It logs the
	// header it dropped, so its log does reach this test.)
	tr.Kill() // flush the plugin's stderr into logs
	secrets := append(e.seenTokens(), secret)
	if len(secrets) < 2 {
		t.Fatal("Graph saw no token")
	}
	sdktest.NoSecrets(t, secrets, []string{"plugin log"}, logs.String())
	if !strings.Contains(logs.String(), "Auto-Submitted") {
		t.Errorf("the plugin did not log the header it dropped; log:\n%s", logs.String())
	}
}
