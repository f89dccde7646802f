package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/server"
)

// testServer is a server that is shut down at the end of the test unless
// the test did it through shutdown.
type testServer struct {
	*server.Server
	stopped bool
}

// listen starts a server on a free port of 127.0.0.1.
func listen(t *testing.T, health func() server.Health) *testServer {
	t.Helper()
	s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: health,
		Status: func() any { return map[string]string{"node": "n1"} },
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ts := &testServer{Server: s}
	t.Cleanup(func() {
		if ts.stopped {
			return
		}
		// The bound keeps a broken Shutdown from hanging the suite.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ts
}

// shutdown stops the server; the test's cleanup then leaves it alone.
func (ts *testServer) shutdown(ctx context.Context) error {
	ts.stopped = true
	return ts.Shutdown(ctx)
}

// client does not keep connections alive, so every request dials.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func get(ctx context.Context, method, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestServer_healthz(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	health := func() server.Health {
		n := calls.Add(1)
		return server.Health{
			Status:     "ok",
			Node:       fmt.Sprintf("node-%d", n),
			Version:    "1.2.3",
			Transports: []string{"backup", "relay"},
			Started:    "2025-01-02T03:04:05Z",
		}
	}
	s := listen(t, health)
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") {
		t.Errorf("Addr = %q, want 127.0.0.1 and the chosen port", s.Addr())
	}
	url := "http://" + s.Addr() + "/healthz"

	for i := 1; i <= 2; i++ {
		resp, body, err := get(t.Context(), http.MethodGet, url)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", ct)
		}
		var got server.Health
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("decode %q: %v", body, err)
		}
		// Each request asks the health function again.
		want := server.Health{Status: "ok", Node: fmt.Sprintf("node-%d", i), Version: "1.2.3", Transports: []string{"backup", "relay"}, Started: "2025-01-02T03:04:05Z"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("request %d: got %+v, want %+v", i, got, want)
		}
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"status", "node", "version", "transports", "started"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("JSON %s has no %q", body, k)
			}
		}
	}
}

func TestServer_routes(t *testing.T) {
	t.Parallel()
	s := listen(t, func() server.Health { return server.Health{Status: "ok"} })
	tests := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{name: "healthz", method: http.MethodGet, path: "/healthz", want: http.StatusOK},
		{name: "HEAD healthz", method: http.MethodHead, path: "/healthz", want: http.StatusOK},
		{name: "unknown path", method: http.MethodGet, path: "/nope", want: http.StatusNotFound},
		{name: "root", method: http.MethodGet, path: "/", want: http.StatusNotFound},
		{name: "below healthz", method: http.MethodGet, path: "/healthz/extra", want: http.StatusNotFound},
		{name: "POST healthz", method: http.MethodPost, path: "/healthz", want: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := get(t.Context(), tt.method, "http://"+s.Addr()+tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
		})
	}
}

func TestListen_portTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	s, err := server.Listen(hclog.NewNullLogger(), addr, server.Handlers{Health: func() server.Health { return server.Health{} }})
	if err == nil {
		_ = s.Shutdown(t.Context())
		t.Fatal("Listen on a taken port succeeded")
	}
	if !strings.HasPrefix(err.Error(), "listen on "+addr+": ") {
		t.Errorf("error %q does not start with %q", err, "listen on "+addr+": ")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %v does not wrap EADDRINUSE", err)
	}
}

func TestServer_Shutdown(t *testing.T) {
	t.Parallel()
	s := listen(t, func() server.Health { return server.Health{Status: "ok"} })
	url := "http://" + s.Addr() + "/healthz"
	if _, _, err := get(t.Context(), http.MethodGet, url); err != nil {
		t.Fatalf("before Shutdown: %v", err)
	}
	if err := s.shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, _, err := get(t.Context(), http.MethodGet, url); err == nil {
		t.Error("a request after Shutdown succeeded")
	}
}

// TestServer_Shutdown_inFlight checks that Shutdown lets a request in
// flight finish.
func TestServer_Shutdown_inFlight(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	s := listen(t, func() server.Health {
		close(entered)
		<-release
		return server.Health{Status: "ok", Node: "slow"}
	})
	url := "http://" + s.Addr() + "/healthz"

	type result struct {
		status int
		body   []byte
		err    error
	}
	reqDone := make(chan result, 1)
	go func() {
		resp, body, err := get(context.Background(), http.MethodGet, url)
		r := result{body: body, err: err}
		if resp != nil {
			r.status = resp.StatusCode
		}
		reqDone <- r
	}()
	<-entered

	shutDone := make(chan error, 1)
	go func() { shutDone <- s.shutdown(context.Background()) }()
	// Once the listener is closed Shutdown is under way; it cannot end
	// while the request is held.
	for {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			break
		}
		c.Close()
		select {
		case <-t.Context().Done():
			t.Fatal("the listener was never closed")
		case <-time.After(time.Millisecond):
		}
	}
	select {
	case err := <-shutDone:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	r := <-reqDone
	if r.err != nil || r.status != http.StatusOK || !strings.Contains(string(r.body), `"node":"slow"`) {
		t.Errorf("request in flight: status %d, body %q, error %v", r.status, r.body, r.err)
	}
	if err := <-shutDone; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestServer_Shutdown_deadline checks that Shutdown gives up when its
// context ends before a request in flight does.
func TestServer_Shutdown_deadline(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	s := listen(t, func() server.Health {
		close(entered)
		<-release
		return server.Health{Status: "ok"}
	})
	reqDone := make(chan error, 1)
	go func() {
		_, _, err := get(context.Background(), http.MethodGet, "http://"+s.Addr()+"/healthz")
		reqDone <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "stop server: ") {
		t.Errorf("Shutdown = %v, want \"stop server: \" wrapping context.Canceled", err)
	}
	close(release)
	if err := <-reqDone; err != nil {
		t.Errorf("request in flight: %v", err)
	}
}

// TestServer_Shutdown_twice checks that a second Shutdown returns, as
// http.Server's does, so an agent stopped twice (a signal and a deferred
// Stop) does not hang.
func TestServer_Shutdown_twice(t *testing.T) {
	t.Parallel()
	s := listen(t, func() server.Health { return server.Health{Status: "ok"} })
	if err := s.shutdown(t.Context()); err != nil {
		t.Fatalf("first Shutdown: %v", err)
	}
	// The bound only turns a hang into a failure.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("second Shutdown = %v, want nil or http.ErrServerClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("the second Shutdown did not return although its context ended")
	}
}

func TestServer_status(t *testing.T) {
	t.Parallel()
	s := listen(t, func() server.Health { return server.Health{Status: "ok"} })
	resp, body, err := get(context.Background(), http.MethodGet, "http://"+s.Addr()+"/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil || got["node"] != "n1" {
		t.Errorf("body %s (%v)", body, err)
	}
}

// jsonWriter is a status that writes its own JSON: size bytes of it,
// then fails with err when err is set.
type jsonWriter struct {
	size int
	err  error
}

func (j jsonWriter) WriteJSON(w io.Writer) error {
	if _, err := w.Write(bytes.Repeat([]byte(" "), j.size)); err != nil {
		return err
	}
	if j.err != nil {
		return j.err
	}
	_, err := io.WriteString(w, `{"node": "n1"}`+"\n")
	return err
}

// TestStatus_JSONWriter: a status that writes its own JSON is served as
// it writes it; one that fails before anything went out is a 500 with
// the error; one that fails later ends the answer short.
func TestStatus_JSONWriter(t *testing.T) {
	for _, tt := range []struct {
		name     string
		w        jsonWriter
		code     int
		wantBody string
	}{
		{"written", jsonWriter{size: 3}, 200, `   {"node": "n1"}` + "\n"},
		{"large", jsonWriter{size: 200 << 10}, 200, strings.Repeat(" ", 200<<10) + `{"node": "n1"}` + "\n"},
		{"fails at once", jsonWriter{err: errors.New("encode: unsupported value")}, 500, "encode: unsupported value\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
				Health: func() server.Health { return server.Health{Status: "ok"} },
				Status: func() any { return tt.w },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			resp, body, err := get(context.Background(), http.MethodGet, "http://"+s.Addr()+"/v1/status")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.code || string(body) != tt.wantBody {
				t.Errorf("status %d, %d bytes %.40q; want %d, %d bytes %.40q", resp.StatusCode, len(body), body, tt.code, len(tt.wantBody), tt.wantBody)
			}
		})
	}
	// Failing after 100 kB went out: the answer ends short, never valid.
	s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: func() server.Health { return server.Health{Status: "ok"} },
		Status: func() any { return jsonWriter{size: 100 << 10, err: errors.New("broken")} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	resp, body, err := get(context.Background(), http.MethodGet, "http://"+s.Addr()+"/v1/status")
	if err == nil && (resp.StatusCode != 200 || strings.Contains(string(body), "node")) {
		t.Errorf("a status that failed midway: %d, %d bytes", resp.StatusCode, len(body))
	}
}
