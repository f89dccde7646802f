package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/server"
)

// TestAgent_PlainHTTPWarnedAtEveryStart: insecure_plain_http on a
// network address serves plain HTTP, as the operator asked, and every
// start says so in the log with the fix; it is an accepted risk, not a
// degradation. On loopback, where plain HTTP is the default, nothing is
// said.
func TestAgent_PlainHTTPWarnedAtEveryStart(t *testing.T) {
	const warning = "Plain HTTP on the network"
	src := func(dataDir, listen string) string {
		return fmt.Sprintf("agent {\n  node = \"n1\"\n  data_dir = %q\n  listen = %q\n  insecure_plain_http = true\n}\n", dataDir, listen)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	for i := range 2 {
		cfg := loadSource(t, src(dataDir, "0.0.0.0:0"))
		logs := &syncBuffer{}
		a, diags := Start(context.Background(), cfg, hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info}))
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		_, port, _ := net.SplitHostPort(a.Addr())
		var h server.Health
		code := getJSON(t, "http://127.0.0.1:"+port+"/healthz", &h)
		if err := a.Stop(context.Background()); err != nil {
			t.Error(err)
		}
		if code != http.StatusOK || h.Status != server.StatusOK {
			t.Errorf("start %d: plain HTTP /healthz = %d %+v; want served, ok", i+1, code, h)
		}
		if got := strings.Count(logs.String(), warning); got != 1 || !strings.Contains(logs.String(), "remove insecure_plain_http") ||
			!strings.Contains(logs.String(), "[WARN]") {
			t.Errorf("start %d: %d warnings %q with the fix, want 1:\n%s", i+1, got, warning, logs)
		}
	}

	logs := &syncBuffer{}
	a, diags := Start(context.Background(), loadSource(t, src(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0")), hclog.New(&hclog.LoggerOptions{Output: logs}))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_ = a.Stop(context.Background())
	if strings.Contains(logs.String(), warning) {
		t.Errorf("plain HTTP on loopback is warned about:\n%s", logs)
	}
}
