package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/outboxapi"
	"github.com/tocsin-dev/tocsin/core/server"
)

// fakeAgent stands in for an agent that follows the contract of the
// secured API: /healthz tells its node only to a caller with the token,
// and the outbox needs the token. It records the Authorization headers it
// was sent.
type fakeAgent struct {
	node, token string

	mu   sync.Mutex
	auth []string
}

// noCredential is the fake agent's error for a request without the token.
const noCredential = "this endpoint needs a credential with the admin role (fake)"

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get("Authorization")
	f.mu.Lock()
	f.auth = append(f.auth, got)
	f.mu.Unlock()
	ok := f.token != "" && got == "Bearer "+f.token
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/healthz" && ok:
		_ = json.NewEncoder(w).Encode(server.Health{Status: "ok", Node: f.node})
	case r.URL.Path == "/healthz":
		_ = json.NewEncoder(w).Encode(server.Health{Status: "ok"})
	case !ok:
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(outboxapi.Error{Message: noCredential})
	case r.URL.Path == outboxapi.Path:
		_ = json.NewEncoder(w).Encode(outboxapi.List{Entries: []outboxapi.Entry{{ID: "x@node-a"}}})
	default:
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(outboxapi.Error{Message: "the credential has the read role (fake)"})
	}
}

// headers returns the Authorization headers received so far.
func (f *fakeAgent) headers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// serveTLS serves h over TLS on 127.0.0.1 with id's certificate.
func serveTLS(t *testing.T, id *identity.Identity, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{id.Certificate()}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// loadIdentity generates an identity in dataDir/tls, as the agent does.
func loadIdentity(t *testing.T, dataDir string) *identity.Identity {
	t.Helper()
	id, err := identity.Load(dataDir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// port is the port of srv's address.
func port(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAgentClient_TLS: the client trusts the agent's own certificate and
// nothing else, and sends the admin token on every request.
func TestAgentClient_TLS(t *testing.T) {
	type setup struct {
		cfg   config.Agent
		agent *fakeAgent
		token string
	}
	tests := []struct {
		name string
		// prepare makes the data_dir and the server; cfg.Listen is
		// then completed with the server's port.
		prepare func(t *testing.T) setup
		// wantNode is the node the probe must learn ("" for none).
		wantNode string
		// check looks at the probe, the list's error and what the
		// server received.
		check func(t *testing.T, s setup, p probe, listErr error)
	}{
		{
			name: "generated identity and token",
			prepare: func(t *testing.T) setup {
				data := t.TempDir()
				id := loadIdentity(t, data)
				token, err := apiauth.EnsureLocalToken(data)
				if err != nil {
					t.Fatal(err)
				}
				fa := &fakeAgent{node: "node-a", token: token}
				srv := serveTLS(t, id, fa)
				// Not loopback, no cert file: TLS with data_dir/tls.
				return setup{cfg: config.Agent{Node: "node-a", DataDir: data, Listen: "0.0.0.0:" + port(t, srv)}, agent: fa, token: token}
			},
			wantNode: "node-a",
			check: func(t *testing.T, s setup, p probe, listErr error) {
				if listErr != nil {
					t.Errorf("list: %v", listErr)
				}
				for _, h := range s.agent.headers() {
					if h != "Bearer "+s.token {
						t.Errorf("Authorization %q; want the token on every request", h)
					}
				}
				if n := len(s.agent.headers()); n != 2 {
					t.Errorf("%d requests, want 2 (healthz, list)", n)
				}
			},
		},
		{
			name: "operator's certificate on loopback",
			prepare: func(t *testing.T) setup {
				data := t.TempDir()
				id := loadIdentity(t, t.TempDir()) // not in data_dir
				token, err := apiauth.EnsureLocalToken(data)
				if err != nil {
					t.Fatal(err)
				}
				fa := &fakeAgent{node: "node-a", token: token}
				srv := serveTLS(t, id, fa)
				return setup{cfg: config.Agent{Node: "node-a", DataDir: data, Listen: "127.0.0.1:" + port(t, srv),
					TLSCertFile: id.CertFile(), TLSKeyFile: id.KeyFile()}, agent: fa, token: token}
			},
			wantNode: "node-a",
			check: func(t *testing.T, _ setup, _ probe, listErr error) {
				if listErr != nil {
					t.Errorf("list: %v", listErr)
				}
			},
		},
		{
			name: "another certificate answers",
			prepare: func(t *testing.T) setup {
				data := t.TempDir()
				loadIdentity(t, data)
				token, err := apiauth.EnsureLocalToken(data)
				if err != nil {
					t.Fatal(err)
				}
				impostor := loadIdentity(t, t.TempDir())
				fa := &fakeAgent{node: "node-a", token: token}
				srv := serveTLS(t, impostor, fa)
				return setup{cfg: config.Agent{Node: "node-a", DataDir: data, Listen: "0.0.0.0:" + port(t, srv)}, agent: fa, token: token}
			},
			check: func(t *testing.T, s setup, p probe, listErr error) {
				for _, err := range []error{p.err, listErr} {
					var pe *identity.PinError
					if !errors.As(err, &pe) {
						t.Fatalf("error %v; want a *identity.PinError", err)
					}
					if !strings.Contains(err.Error(), pe.Error()) || !strings.Contains(err.Error(), "is not the agent whose certificate is ") {
						t.Errorf("error %q does not hold the pin error's text %q and what it means", err, pe.Error())
					}
					if strings.Contains(err.Error(), s.token) {
						t.Errorf("the error shows the token: %v", err)
					}
				}
				if h := s.agent.headers(); len(h) != 0 {
					t.Errorf("the impostor got %d requests: %q", len(h), h)
				}
			},
		},
		{
			name: "no token file",
			prepare: func(t *testing.T) setup {
				data := t.TempDir()
				id := loadIdentity(t, data)
				fa := &fakeAgent{node: "node-a", token: "the-agents-token-0123456789"}
				srv := serveTLS(t, id, fa)
				return setup{cfg: config.Agent{Node: "node-a", DataDir: data, Listen: "0.0.0.0:" + port(t, srv)}, agent: fa}
			},
			check: func(t *testing.T, s setup, p probe, listErr error) {
				fix := []string{"run tocsin as the agent's user or root", apiauth.LocalTokenPath(s.cfg.DataDir) + " when it starts"}
				if !p.anon {
					t.Errorf("probe %+v; want an anonymous answer", p)
				}
				for _, w := range append(fix, "does not tell a caller without credential which node it is") {
					if p.err == nil || !strings.Contains(p.err.Error(), w) {
						t.Errorf("probe error %v; want %q", p.err, w)
					}
				}
				for _, w := range append(fix, noCredential, "401 Unauthorized") {
					if listErr == nil || !strings.Contains(listErr.Error(), w) {
						t.Errorf("list error %v; want %q", listErr, w)
					}
				}
				for _, h := range s.agent.headers() {
					if h != "" {
						t.Errorf("Authorization %q sent without a token file", h)
					}
				}
			},
		},
		{
			name: "token not accepted",
			prepare: func(t *testing.T) setup {
				data := t.TempDir()
				id := loadIdentity(t, data)
				token, err := apiauth.EnsureLocalToken(data)
				if err != nil {
					t.Fatal(err)
				}
				fa := &fakeAgent{node: "node-a", token: "another-agents-token-0123456789"}
				srv := serveTLS(t, id, fa)
				return setup{cfg: config.Agent{Node: "node-a", DataDir: data, Listen: "0.0.0.0:" + port(t, srv)}, agent: fa, token: token}
			},
			check: func(t *testing.T, s setup, p probe, listErr error) {
				if !p.anon || p.err == nil || !strings.Contains(p.err.Error(), "did not take the admin token in "+apiauth.LocalTokenPath(s.cfg.DataDir)) {
					t.Errorf("probe %+v; want an anonymous answer that names the token file", p)
				}
				if listErr == nil || !strings.Contains(listErr.Error(), noCredential) || !strings.Contains(listErr.Error(), "did not accept the admin token") {
					t.Errorf("list error %v; want the agent's error and the token refused", listErr)
				}
				for _, err := range []error{p.err, listErr} {
					if err != nil && strings.Contains(err.Error(), s.token) {
						t.Errorf("the error shows the token: %v", err)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.prepare(t)
			ctx := context.Background()
			client, p := probeAgent(ctx, s.cfg)
			if client == nil {
				t.Fatalf("no client: %v", p.err)
			}
			if !strings.HasPrefix(client.base, "https://127.0.0.1:") {
				t.Errorf("base %q; want https on loopback", client.base)
			}
			if p.node != tt.wantNode || (tt.wantNode != "") != (p.err == nil) {
				t.Errorf("probe found node %q, %v; want %q", p.node, p.err, tt.wantNode)
			}
			_, listErr := newAPIStore(client).list(ctx, "")
			tt.check(t, s, p, listErr)
		})
	}
}

// TestAgentClient_forbidden: a 403 is reported with the agent's own error.
func TestAgentClient_forbidden(t *testing.T) {
	data := t.TempDir()
	token, err := apiauth.EnsureLocalToken(data)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&fakeAgent{node: "node-a", token: token})
	t.Cleanup(srv.Close)
	client, err := newAgentClient(config.Agent{DataDir: data, Listen: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	err = newAPIStore(client).drop(context.Background(), "x@node-a")
	for _, w := range []string{"DELETE " + outboxapi.Path + "/x@node-a", "403 Forbidden", "the credential has the read role (fake)"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("drop: %v; want %q", err, w)
		}
	}
}

// TestAgentClient_plainHTTP: a loopback agent without a certificate is
// reached over plain HTTP; the token goes along when its file exists and
// no Authorization header when it does not.
func TestAgentClient_plainHTTP(t *testing.T) {
	for _, withToken := range []bool{true, false} {
		t.Run(map[bool]string{true: "token", false: "no token file"}[withToken], func(t *testing.T) {
			data := t.TempDir()
			want := ""
			if withToken {
				token, err := apiauth.EnsureLocalToken(data)
				if err != nil {
					t.Fatal(err)
				}
				want = "Bearer " + token
			}
			// An agent that does not check credentials yet.
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("Authorization"))
				mu.Unlock()
				_ = json.NewEncoder(w).Encode(server.Health{Status: "ok", Node: "node-a"})
			}))
			t.Cleanup(srv.Close)
			client, p := probeAgent(context.Background(), config.Agent{DataDir: data, Listen: srv.Listener.Addr().String()})
			if p.err != nil || p.node != "node-a" {
				t.Fatalf("probe: %+v", p)
			}
			if !strings.HasPrefix(client.base, "http://") {
				t.Errorf("base %q; want plain HTTP", client.base)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || got[0] != want {
				t.Errorf("Authorization headers %q; want [%q]", got, want)
			}
		})
	}
}

// TestNewAgentClient_noCertificate: without the agent's certificate the
// client is not made, and the error says what to do.
func TestNewAgentClient_noCertificate(t *testing.T) {
	data := t.TempDir()
	missing := filepath.Join(t.TempDir(), "op.crt")
	notPEM := filepath.Join(t.TempDir(), "op.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  config.Agent
		want []string
	}{
		{name: "generated, not yet", cfg: config.Agent{DataDir: data, Listen: "0.0.0.0:9870"},
			want: []string{"read the agent's certificate", "no such file", "run tocsin as the agent's user or root",
				"the agent creates " + filepath.Join(data, "tls", "agent.crt") + " when it starts"}},
		{name: "operator's file missing", cfg: config.Agent{DataDir: data, Listen: "127.0.0.1:9870", TLSCertFile: missing, TLSKeyFile: missing + ".key"},
			want: []string{missing, "no such file", "run tocsin as the agent's user or root", "tls_cert_file"}},
		{name: "operator's file not PEM", cfg: config.Agent{DataDir: data, Listen: "127.0.0.1:9870", TLSCertFile: notPEM, TLSKeyFile: notPEM + ".key"},
			want: []string{notPEM, "no PEM CERTIFICATE block"}},
		{name: "bad listen", cfg: config.Agent{DataDir: data, Listen: "no-port"},
			want: []string{`listen address "no-port"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newAgentClient(tt.cfg)
			if err == nil {
				t.Fatalf("client %+v, no error", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want %q", err, w)
				}
			}
		})
	}
}

// securedAgent serves a fakeAgent over TLS with the identity generated in
// the data_dir of a config for node-a on 0.0.0.0 (so TLS), and returns
// the config's path, its data_dir and the fake. With token, the data_dir
// holds the admin token the fake accepts; without, the fake wants another.
func securedAgent(t *testing.T, token bool) (cfg, data string, fa *fakeAgent) {
	t.Helper()
	cfg, ob := outboxConfig(t, "0.0.0.0:1")
	data = filepath.Dir(ob)
	id := loadIdentity(t, data)
	fa = &fakeAgent{node: "node-a", token: "the-agents-token-0123456789"}
	if token {
		secret, err := apiauth.EnsureLocalToken(data)
		if err != nil {
			t.Fatal(err)
		}
		fa.token = secret
	}
	srv := serveTLS(t, id, fa)
	src, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(src), "0.0.0.0:1", "0.0.0.0:"+port(t, srv), 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, data, fa
}

// TestOutbox_securedAgent: the outbox commands reach an agent that serves
// TLS with its generated identity and wants the admin token; without the
// token, while the agent holds the file, they say what to do, and recover
// refuses.
func TestOutbox_securedAgent(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		cfg, _, _ := securedAgent(t, true)
		wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitOK, []string{"x@node-a"}, nil)
	})
	t.Run("no token", func(t *testing.T) {
		cfg, data, fa := securedAgent(t, false)
		path := agent.OutboxPath(data)
		seedOutboxFile(t, path)
		ob, err := outbox.Open(path, outbox.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitError, nil, []string{
			"cannot reach the outbox: an agent answers at 127.0.0.1:", "but does not say which node it is",
			"run tocsin as the agent's user or root", "admin.token when it starts", "is in use by another process"})
		wantOutput(t, runCLI(t, "outbox", "recover", "-config", cfg), exitError, nil, []string{
			"an agent answers at 127.0.0.1:", `may be node "node-a"'s`, "stop it first"})
		if h := fa.headers(); len(h) != 2 || h[0] != "" || h[1] != "" {
			t.Errorf("Authorization headers %q; want two requests without", h)
		}
	})
}

// TestOutbox_notTheAgentsUser: a user who cannot read data_dir (here: a
// data_dir of mode 0) is told to run tocsin as the agent's user or root.
// Root reads any file, so the test needs another user: it is skipped as
// root (go test -c, then run the binary as an unprivileged user).
func TestOutbox_notTheAgentsUser(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file; run as another user")
	}
	cfg, ob := outboxConfig(t, "0.0.0.0:9")
	data := filepath.Dir(ob)
	seedOutboxFile(t, ob)
	loadIdentity(t, data)
	if err := os.Chmod(data, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(data, 0o700) })
	wantOutput(t, runCLI(t, "outbox", "list", "-config", cfg), exitError, nil, []string{
		"cannot reach the outbox: cannot ask the agent at 127.0.0.1:9 (read the agent's certificate",
		"run tocsin as the agent's user or root", "permission denied"})
}
