package alertmanager_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/alertmanager"
	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient/amtest"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestPlugin_process runs the real plugin binary against two fake
// instances: a delivery while one refuses (logged, without the token), and
// a 429 from both whose wait crosses the process boundary.
func TestPlugin_process(t *testing.T) {
	a, b := amtest.New(t), amtest.New(t)
	b.SetAnswer(func(amtest.Request) (int, http.Header, string) { return 503, nil, "" })
	tr, logs := sdktest.StartPlugin(t, alertmanager.Name, "github.com/tocsin-dev/tocsin/plugins/alertmanager")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	d, err := tr.Describe(ctx)
	if err != nil || d.Name != alertmanager.Name || !d.Batch {
		t.Fatalf("Describe = %+v, %v", d, err)
	}
	diags, err := tr.Configure(ctx, sdk.Config{Transport: "fleet", From: "tocsin@node.example", Settings: settingsOf(t, map[string]any{
		"urls": []string{a.Server.URL, b.Server.URL}, "bearer_token": token, "allow_insecure_auth": true,
	})})
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure = %+v, %v", diags, err)
	}
	res, err := tr.Send(ctx, []*sdk.Message{message("p1@node", "fire")})
	if err != nil || len(res) != 1 || res[0].Err != nil || !strings.HasPrefix(res[0].Receipt, "accepted by 1 of 2") {
		t.Fatalf("Send = %+v, %v", res, err)
	}

	slow := func(amtest.Request) (int, http.Header, string) {
		return http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}, "slow down"
	}
	a.SetAnswer(slow)
	b.SetAnswer(slow)
	res, err = tr.Send(ctx, []*sdk.Message{message("p2@node", "fire")})
	if err != nil || len(res) != 1 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	de := deliveryError(t, res[0].Err, sdk.Temporary)
	if de.RetryAfter != 7*time.Second || de.Code != "429" {
		t.Errorf("error %+v, want 429 with a 7s wait", de)
	}

	tr.Kill() // flush the plugin's stderr into logs
	if !strings.Contains(logs.String(), "did not take the alerts") || !strings.Contains(logs.String(), b.Server.URL) {
		t.Errorf("no warning about the instance that refused in the plugin's log:\n%s", logs)
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the token is in the plugin's log")
	}
}
