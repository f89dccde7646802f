package basic_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// waitOpen waits until the server has n connections open, failing the
// test after 10 s.
func waitOpen(t *testing.T, srv *testserver.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", srv.Open(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sendAll sends n messages in one Send and fails the test unless all are
// delivered.
func sendAll(t *testing.T, tr *basic.Transport, prefix string, n int) {
	t.Helper()
	msgs := make([]*sdk.Message, n)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("%s%d@node", prefix, i))
	}
	results, err := tr.Send(t.Context(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for i, r := range results {
		if r.Err != nil || r.Receipt == "" {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
}

// TestTransport_pool checks the pool through the plugin's settings: the
// bound, reuse, and the old pool closed by a new Configure and by Close.
func TestTransport_pool(t *testing.T) {
	t.Parallel()
	srv := testserver.StartT(t, testserver.Options{})
	m := map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", "timeout": "20s", "max_connections": 2, "idle_timeout": "1m"}
	tr, diags := configure(t, m)
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %+v", diags)
	}
	sendAll(t, tr, "a", 40)
	sendAll(t, tr, "b", 40)
	first := srv.Connections()
	if first < 1 || first > 2 {
		t.Fatalf("%d connections for two batches of 40 with max_connections = 2, want 1 or 2", first)
	}
	waitOpen(t, srv, first)

	// A new Configure replaces the sender: the old one's connections are
	// closed, and the new one dials its own.
	m["max_connections"] = 3
	if diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "relay", Settings: settings(t, m)}); err != nil || len(diags) != 0 {
		t.Fatalf("Configure: %v %+v", err, diags)
	}
	waitOpen(t, srv, 0)
	sendAll(t, tr, "c", 40)
	if n := srv.Connections() - first; n < 1 || n > 3 {
		t.Errorf("%d new connections for the new Configure's batch, want 1 to 3", n)
	}

	// Error diagnostics leave no sender: its connections close too.
	m["max_connections"] = 0
	if diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "relay", Settings: settings(t, m)}); err != nil || !diags.HasErrors() {
		t.Fatalf("Configure: %v %+v, want error diagnostics", err, diags)
	}
	waitOpen(t, srv, 0)

	// Close, when the plugin stops.
	m["max_connections"] = 1
	if _, err := tr.Configure(t.Context(), sdk.Config{Transport: "relay", Settings: settings(t, m)}); err != nil {
		t.Fatal(err)
	}
	sendAll(t, tr, "d", 4)
	waitOpen(t, srv, 1)
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitOpen(t, srv, 0)
}

// TestTransport_pool_idleTimeout: idle_timeout closes unused connections.
func TestTransport_pool_idleTimeout(t *testing.T) {
	t.Parallel()
	srv := testserver.StartT(t, testserver.Options{})
	tr, diags := configure(t, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", "timeout": "20s", "idle_timeout": "20ms"})
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %+v", diags)
	}
	t.Cleanup(func() { _ = tr.Close() })
	sendAll(t, tr, "a", 16)
	if n := srv.PeakOpen(); n < 1 || n > 4 {
		t.Errorf("%d connections open at once with the default max_connections, want 1 to 4", n)
	}
	waitOpen(t, srv, 0)
}
