package pluginpython_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// conformance runs the SDK's conformance kit against the Python plugin:
// each instance the kit asks for is a plugin process of its own, reached
// through the SDK's gRPC client, which the kit then serves through its
// shim as it does an in-process transport. Besides the kit's own checks,
// the processes' log output (which the kit cannot see) must hold no
// secret and no value the kit planted in a sensitive setting.
func conformance(t *testing.T, opts sdktest.Conformance) {
	var (
		mu      sync.Mutex
		plugins []*pyPlugin
	)
	sdktest.RunConformance(t, func() sdk.Transport {
		p := startPlugin(t)
		mu.Lock()
		plugins = append(plugins, p)
		mu.Unlock()
		return p.Transport
	}, opts)
	for i, p := range plugins {
		p.client.Kill()
		logs := p.logs.String()
		sdktest.NoSecrets(t, opts.Secrets, []string{"the log of plugin process " + string(rune('1'+i))}, logs)
		if strings.Contains(logs, "tocsin-planted-") {
			t.Errorf("a value the kit planted in a sensitive setting leaked into the log of plugin process %d:\n%s", i+1, logs)
		}
	}
}

// TestConformance_Dir: the plugin writing files passes the kit.
func TestConformance_Dir(t *testing.T) {
	pluginPath(t)
	conformance(t, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			dir := t.TempDir()
			return map[string]any{"dir": dir}, func() [][]byte { return readDrops(dir) }
		},
	})
}

// TestConformance_URL: the plugin POSTing to a webhook passes the kit,
// with a bearer token the kit checks for in everything the plugin said.
func TestConformance_URL(t *testing.T) {
	pluginPath(t)
	const token = "pydrop-conformance-token-5d2e8a91c4"
	conformance(t, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			hook := newHook(token)
			srv := httptest.NewServer(hook)
			t.Cleanup(srv.Close)
			return map[string]any{"url": srv.URL + "/hook", "token": token, "timeout": "10s"}, hook.bodies
		},
		Secrets: []string{token},
	})
}

// readDrops returns the .eml files in dir, by name.
func readDrops(dir string) [][]byte {
	names, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	sort.Strings(names)
	var out [][]byte
	for _, n := range names {
		if b, err := os.ReadFile(n); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// hook is a webhook that keeps every message/rfc822 body POSTed with the
// right bearer token and refuses anything else with 401.
type hook struct {
	token string
	mu    sync.Mutex
	got   [][]byte
}

func newHook(token string) *hook { return &hook{token: token} }

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "message/rfc822" {
		http.Error(w, "want a POST of message/rfc822", http.StatusBadRequest)
		return
	}
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.got = append(h.got, b)
	h.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (h *hook) bodies() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.got...)
}
