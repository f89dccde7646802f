package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/webhook/webhook"
)

// TestPlugin_process runs the real plugin binary: a delivery, a 429 whose
// wait crosses the process boundary, and a log without the URL's secrets
// or the HMAC secret (the plugin logs the tls_skip_verify warning).
func TestPlugin_process(t *testing.T) {
	rc := startReceiver(t, true)
	tr, logs := sdktest.StartPlugin(t, webhook.Name, "github.com/tocsin-dev/tocsin/plugins/webhook")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	d, err := tr.Describe(ctx)
	if err != nil || d.Name != webhook.Name || d.Batch {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	diags, err := tr.Configure(ctx, sdk.Config{Transport: "chat", From: "tocsin@node.example", Settings: settingsOf(t, map[string]any{
		"url": rc.hookURL(), "format": "mattermost", "hmac_secret": hmacSecret, "tls_skip_verify": true,
	})})
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure = %+v, %v", diags, err)
	}
	res, err := tr.Send(ctx, []*sdk.Message{message("p1@node")})
	if err != nil || len(res) != 1 || res[0].Err != nil || res[0].Receipt != "200 OK" {
		t.Fatalf("Send = %+v, %v", res, err)
	}

	rc.setAnswer(func(request) (int, http.Header, string) {
		return http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}, `{"error": "slow down"}`
	})
	res, err = tr.Send(ctx, []*sdk.Message{message("p2@node")})
	if err != nil || len(res) != 1 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	de := deliveryError(t, res[0].Err, sdk.Temporary)
	if de.RetryAfter != 7*time.Second || de.Code != "429" || !strings.HasPrefix(de.Reply, "429 Too Many Requests") {
		t.Errorf("error %+v, want 429 with a 7s wait", de)
	}

	tr.Kill() // flush the plugin's stderr into logs
	if !strings.Contains(logs.String(), "verification is OFF") {
		t.Errorf("no tls_skip_verify warning in the plugin's log:\n%s", logs)
	}
	noSecret(t, "plugin log", logs.String())
}
