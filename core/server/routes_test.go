package server_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/server"
)

func okHandler(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(body + " " + r.PathValue("id")))
	})
}

func TestListen_routes(t *testing.T) {
	s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: func() server.Health { return server.Health{Status: "ok", Node: "n1"} },
		Routes: map[string]http.Handler{
			"GET /v1/things/{id}":  okHandler("thing"),
			"POST /v1/things/{id}": server.LocalOnly(okHandler("changed")),
		},
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{method: http.MethodGet, path: "/v1/things/a%2Fb", status: http.StatusOK, body: "thing a/b"},
		{method: http.MethodPost, path: "/v1/things/x", status: http.StatusOK, body: "changed x"}, // from 127.0.0.1
		{method: http.MethodDelete, path: "/v1/things/x", status: http.StatusMethodNotAllowed},
		{method: http.MethodGet, path: "/healthz", status: http.StatusOK, body: `"node":"n1"`},
	}
	for _, tt := range tests {
		resp, body, err := get(ctx, tt.method, "http://"+s.Addr()+tt.path)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.status, tt.body)
		}
	}
}

func TestListen_badRoutes(t *testing.T) {
	tests := []struct {
		name   string
		routes map[string]http.Handler
		want   string
	}{
		{name: "conflicts with healthz", routes: map[string]http.Handler{"GET /healthz": okHandler("x")}, want: `route "GET /healthz"`},
		{name: "not a pattern", routes: map[string]http.Handler{"GET /a/{": okHandler("x")}, want: `route "GET /a/{"`},
		{name: "no handler", routes: map[string]http.Handler{"GET /a": nil}, want: `route "GET /a": no handler`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A free port; Listen must fail before it binds it.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			_ = ln.Close()
			h := server.Handlers{Health: func() server.Health { return server.Health{} }, Routes: tt.routes}
			if _, err := server.Listen(hclog.NewNullLogger(), addr, h); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Listen = %v, want an error with %q", err, tt.want)
			}
			ln, err = net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("the failed Listen left %s bound: %v", addr, err)
			}
			_ = ln.Close()
		})
	}
}

func TestLocalOnly(t *testing.T) {
	local := &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 9870}
	tests := []struct {
		name   string
		remote string
		local  net.Addr
		ok     bool
	}{
		{name: "IPv4 loopback", remote: "127.0.0.1:4000", ok: true},
		{name: "IPv6 loopback", remote: "[::1]:4000", ok: true},
		{name: "IPv4-mapped loopback", remote: "[::ffff:127.0.0.1]:4000", ok: true},
		{name: "this host's address to itself", remote: "192.0.2.10:4000", local: local, ok: true},
		{name: "network", remote: "192.0.2.7:4000"},
		{name: "network to this host's address", remote: "192.0.2.7:4000", local: local},
		{name: "unspecified local address", remote: "0.0.0.0:4000", local: &net.TCPAddr{IP: net.IPv4zero}},
		{name: "IPv6 network", remote: "[2001:db8::7]:4000"},
		{name: "no port", remote: "127.0.0.1"},
		{name: "garbage", remote: "not an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := server.LocalOnly(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
			req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:9870/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.RemoteAddr = tt.remote
			if tt.local != nil {
				req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, tt.local))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if called != tt.ok {
				t.Fatalf("handler called = %v, want %v", called, tt.ok)
			}
			if tt.ok {
				return
			}
			var body struct{ Error string }
			if rec.Code != http.StatusForbidden || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error == "" {
				t.Errorf("refusal = %d %q, want 403 with a JSON error", rec.Code, rec.Body)
			}
			// Why (whatever the credential), and what to do.
			for _, part := range []string{"own host", "whatever the credential", "run the tocsin command on the agent's host"} {
				if !strings.Contains(body.Error, part) {
					t.Errorf("refusal %q does not say %q", body.Error, part)
				}
			}
		})
	}
}
