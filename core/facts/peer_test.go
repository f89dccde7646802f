package facts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckPeer(t *testing.T) {
	t.Parallel()
	sync := time.Date(2026, 5, 4, 3, 2, 1, 0, time.FixedZone("X", 7200))
	full := Status{
		Node: NodeStatus{
			Name: "appliance-a", Role: "primary", Version: "7.4.1",
			SharedIPs: []string{"10.0.0.10"}, TestIPs: []string{"10.0.0.1", "10.0.0.254"},
			AutoFailover: true, LastSync: &sync,
		},
		AgentVersion: "1.2.3",
		Time:         sync,
	}
	serve := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept") != "application/json" {
				http.Error(w, "want json", http.StatusNotAcceptable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}
	}
	fullJSON, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /full/v1/status", serve(200, string(fullJSON)))
	mux.Handle("GET /sparse/v1/status", serve(200, `{"node": {"name": "b", "role": "backup", "last_sync": null}, "future_field": 1}`))
	mux.Handle("GET /error/v1/status", serve(500, `{}`))
	mux.Handle("GET /garbage/v1/status", serve(200, `<html>`))
	mux.Handle("GET /null/v1/status", serve(200, `null`))
	mux.Handle("GET /wrongtype/v1/status", serve(200, `{"node": {"name": 7}}`))
	mux.Handle("GET /v1/status", serve(200, string(fullJSON)))
	// An agent with 10,000 rules serves a few MB: its node comes first.
	rules := `[` + strings.Repeat(`{"name": "r00000", "phase": "inactive", "last_eval": "2026-12-05T07:00:00Z"},`, 40000) + `{}]`
	mux.Handle("GET /large/v1/status", serve(200, strings.TrimSuffix(string(fullJSON), "}")+`, "rules": `+rules+`, "checks": {}}`))
	mux.Handle("GET /late/v1/status", serve(200, `{"rules": `+rules+`, `+strings.TrimPrefix(string(fullJSON), "{")))
	mux.Handle("GET /cut/v1/status", serve(200, `{"node": {"name": "b", "role": "backup"}, "rules": `+rules))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	tlsSrv := newTLSServer(t, mux)
	t.Cleanup(tlsSrv.Close)

	tests := []struct {
		name      string
		peer      PeerSpec
		ok        bool
		errPart   string
		reachable bool
		check     func(t *testing.T, f Fact)
	}{
		{
			name: "full status", peer: PeerSpec{URL: srv.URL + "/full"}, ok: true, reachable: true,
			check: func(t *testing.T, f Fact) {
				for name, want := range map[string]string{
					"name": "appliance-a", "role": "primary", "version": "7.4.1",
					"agent_version": "1.2.3", "last_sync": "2026-05-04T01:02:01Z",
				} {
					if got := str(t, f, name); got != want {
						t.Errorf("%s = %q, want %q", name, got, want)
					}
				}
				if !boolean(t, f, "auto_failover") {
					t.Error("auto_failover = false")
				}
				if got := strs(t, f, "test_ips"); !slices.Equal(got, full.Node.TestIPs) {
					t.Errorf("test_ips = %q", got)
				}
				if got := strs(t, f, "shared_ips"); !slices.Equal(got, full.Node.SharedIPs) {
					t.Errorf("shared_ips = %q", got)
				}
			},
		},
		{
			name: "base url with a slash", peer: PeerSpec{URL: srv.URL + "/"}, ok: true, reachable: true,
		},
		{
			name: "sparse status", peer: PeerSpec{URL: srv.URL + "/sparse"}, ok: true, reachable: true,
			check: func(t *testing.T, f Fact) {
				if !isNull(t, f, "last_sync") || boolean(t, f, "auto_failover") || str(t, f, "role") != "backup" {
					t.Errorf("values = %v", f.Values)
				}
				if got := strs(t, f, "shared_ips"); len(got) != 0 {
					t.Errorf("shared_ips = %q, want empty", got)
				}
			},
		},
		{
			name: "large status, node first", peer: PeerSpec{URL: srv.URL + "/large"}, ok: true, reachable: true,
			check: func(t *testing.T, f Fact) {
				if str(t, f, "role") != "primary" || str(t, f, "agent_version") != "1.2.3" {
					t.Errorf("values = %v", f.Values)
				}
			},
		},
		{name: "node after more than the cap", peer: PeerSpec{URL: srv.URL + "/late"}, errPart: "content cut at its size cap", reachable: true},
		{
			// What comes after the node is not read: a status cut short
			// there still gives the node.
			name: "cut after the node", peer: PeerSpec{URL: srv.URL + "/cut"}, ok: true, reachable: true,
			check: func(t *testing.T, f Fact) {
				if str(t, f, "role") != "backup" || str(t, f, "agent_version") != "" {
					t.Errorf("values = %v", f.Values)
				}
			},
		},
		{name: "server error", peer: PeerSpec{URL: srv.URL + "/error"}, errPart: "status 500 Internal Server Error, want 200", reachable: true},
		{name: "not json", peer: PeerSpec{URL: srv.URL + "/garbage"}, errPart: "not a JSON object", reachable: true},
		{name: "json null", peer: PeerSpec{URL: srv.URL + "/null"}, errPart: "not a JSON object", reachable: true},
		{name: "wrong types", peer: PeerSpec{URL: srv.URL + "/wrongtype"}, errPart: "decode status from", reachable: true},
		{name: "not found", peer: PeerSpec{URL: srv.URL + "/elsewhere"}, errPart: "status 404", reachable: true},
		{name: "unreachable", peer: PeerSpec{URL: "http://" + closedPort(t)}, errPart: "connection refused"},
		{name: "tls with its ca", peer: PeerSpec{URL: tlsSrv.URL + "/full", CAFile: writeCA(t, tlsSrv)}, ok: true, reachable: true},
		{name: "tls unknown authority", peer: PeerSpec{URL: tlsSrv.URL + "/full"}, errPart: "certificate"},
		{name: "tls verification off", peer: PeerSpec{URL: tlsSrv.URL + "/full", TLSSkipVerify: true}, ok: true, reachable: true},
		{name: "ca file missing", peer: PeerSpec{URL: tlsSrv.URL, CAFile: "/nonexistent.pem"}, errPart: "peer.ca_file:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tt.peer
			f := runCheck(t, Spec{Name: "primary", Peer: &p})
			wantOK(t, f, tt.ok, tt.errPart)
			if got := boolean(t, f, "reachable"); got != tt.reachable {
				t.Errorf("reachable = %v, want %v", got, tt.reachable)
			}
			if str(t, f, "url") != tt.peer.URL {
				t.Errorf("url = %q", str(t, f, "url"))
			}
			if !tt.ok && !isNull(t, f, "name") {
				t.Errorf("name = %#v on failure, want null", value(t, f, "name"))
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestStatus_JSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Status{Node: NodeStatus{Name: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"stopping":false,"node":{"name":"a","role":"","version":"","shared_ips":null,"test_ips":null,"auto_failover":false,"last_sync":null},"agent_version":"","time":"0001-01-01T00:00:00Z"}`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
}
