package pluginhost_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// pluginDir builds the bundled plugins the tests use, once per run.
func pluginDir(t *testing.T) string {
	t.Helper()
	return pluginDirB(t)
}

func pluginDirB(t testing.TB) string {
	t.Helper()
	return sdktest.PluginDir(t, map[string]string{
		"smtp-basic": "github.com/tocsin-dev/tocsin/plugins/smtp-basic",
	})
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newHost returns a host over a fresh plugin dir whose log (the plugins'
// stderr included) goes to the returned buffer.
func newHost(t *testing.T) (*pluginhost.Host, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs})
	h := pluginhost.New(logger, pluginDir(t))
	t.Cleanup(h.Close)
	return h, logs
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// configure starts smtp-basic for a transport and configures it with
// settings; it fails the test on errors unless wantErr.
func configure(t *testing.T, h *pluginhost.Host, settings map[string]any) (*pluginhost.Instance, sdk.Diagnostics) {
	t.Helper()
	in := h.Instance(pluginhost.Spec{Name: "relay", Plugin: "smtp-basic"})
	s, err := sdk.SettingsFromMap(settings)
	if err != nil {
		t.Fatal(err)
	}
	diags, err := in.Configure(ctx(t), sdk.Config{Transport: "relay", From: "tocsin@example.com", Settings: s})
	if err != nil {
		t.Fatalf("configure: %v", err)
	}
	return in, diags
}

func message(id, to string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Name: "Tocsin", Address: "tocsin@example.com"},
		To:      []sdk.Address{{Address: to}},
		Subject: "Test " + id,
		Text:    "plain body of " + id,
	}
}
