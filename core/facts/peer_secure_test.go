package facts

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/core/identity"
)

// pairServer serves a peer status over TLS with the identity generated in
// dir, on 127.0.0.1, and records the client certificate and the
// Authorization header of the last request.
type pairServer struct {
	url      string
	id       *identity.Identity
	lastCert string // fingerprint of the client certificate presented
	lastAuth string
}

func newPairServer(t *testing.T, dir, node string) *pairServer {
	t.Helper()
	id, err := identity.Load(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := identity.ServerConfig(id, "")
	if err != nil {
		t.Fatal(err)
	}
	ps := &pairServer{id: id}
	body, _ := json.Marshal(Status{Node: NodeStatus{Name: node, Role: "primary"}})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fp, ok := identity.PeerFingerprint(r.TLS); ok {
			ps.lastCert = fp
		}
		ps.lastAuth = r.Header.Get("Authorization")
		if r.Header.Get("Authorization") == "Bearer refused-token-0123456789" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error": "this endpoint needs a credential with the peer role"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, tc)) }()
	t.Cleanup(func() { _ = srv.Close() })
	ps.url = "https://" + ln.Addr().String()
	return ps
}

// TestCheckPeer_Pinned: the peer link believes only the partner whose
// certificate it pinned. An impostor answering at the partner's address,
// or a partner whose identity changed, is a failed fact whose error names
// both fingerprints, and none of its data is used.
func TestCheckPeer_Pinned(t *testing.T) {
	t.Parallel()
	partner := newPairServer(t, t.TempDir(), "appliance-a")
	impostor := newPairServer(t, t.TempDir(), "impostor")
	self := t.TempDir() // this agent's data_dir: its identity is presented

	f := runCheck(t, Spec{Name: "partner", Kind: KindPeer, Peer: &PeerSpec{URL: partner.url, Fingerprint: partner.id.Fingerprint(), IdentityDir: self}})
	wantOK(t, f, true, "")
	if got := str(t, f, "name"); got != "appliance-a" {
		t.Errorf("name = %q", got)
	}
	own, err := identity.Load(self, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if partner.lastCert != own.Fingerprint() {
		t.Errorf("the partner saw client certificate %q; want this agent's %s", partner.lastCert, own.Fingerprint())
	}

	// The impostor answers where the partner is pinned.
	f = runCheck(t, Spec{Name: "partner", Kind: KindPeer, Peer: &PeerSpec{URL: impostor.url, Fingerprint: partner.id.Fingerprint(), IdentityDir: self}})
	wantOK(t, f, false, "not the partner: the partner presented certificate "+impostor.id.Fingerprint()+" ; the pinned fingerprint is "+partner.id.Fingerprint())
	if boolean(t, f, "reachable") || !isNull(t, f, "name") || !isNull(t, f, "role") {
		t.Errorf("the impostor's answer was used: reachable %v, name %v, role %v", value(t, f, "reachable"), value(t, f, "name"), value(t, f, "role"))
	}
	if impostor.lastAuth != "" || impostor.lastCert != "" {
		t.Errorf("a request reached the impostor (certificate %q)", impostor.lastCert)
	}
}

func TestCheckPeer_InsecureRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec PeerSpec
		want string // "" for no refusal
	}{
		{name: "plain HTTP off this host", spec: PeerSpec{URL: "http://192.0.2.1:9870"}, want: "not read: http://192.0.2.1:9870 is plain HTTP"},
		{name: "verification off", spec: PeerSpec{URL: "https://192.0.2.1:9870", TLSSkipVerify: true}, want: "not read: certificate verification is off"},
		{name: "plain HTTP accepted", spec: PeerSpec{URL: "http://192.0.2.1:9870", Insecure: true}},
		{name: "plain HTTP on loopback", spec: PeerSpec{URL: "http://127.0.0.1:9870"}},
		{name: "localhost", spec: PeerSpec{URL: "http://LOCALHOST:9870"}},
		{name: "IPv6 loopback", spec: PeerSpec{URL: "http://[::1]:9870"}},
		{name: "https", spec: PeerSpec{URL: "https://192.0.2.1:9870"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			err := insecurePeer(&spec)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v; want it to contain %q", err, tt.want)
			}
		})
	}
	// And the check itself sends nothing: the fact fails with the error.
	f := runCheck(t, Spec{Name: "partner", Kind: KindPeer, Peer: &PeerSpec{URL: "http://192.0.2.1:9870"}})
	wantOK(t, f, false, "use https:// with the partner's fingerprint")
	if boolean(t, f, "reachable") {
		t.Error("reachable is true for a peer that was not asked")
	}
}

func TestCheckPeer_Token(t *testing.T) {
	t.Parallel()
	partner := newPairServer(t, t.TempDir(), "appliance-a")
	dir := t.TempDir()
	token := filepath.Join(dir, "partner.token")
	if err := os.WriteFile(token, []byte("token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := runCheck(t, Spec{Name: "partner", Kind: KindPeer, Peer: &PeerSpec{URL: partner.url, Fingerprint: partner.id.Fingerprint(), TokenFile: token}})
	wantOK(t, f, true, "")
	if partner.lastAuth != "Bearer token-0123456789abcdef" {
		t.Errorf("Authorization %q", partner.lastAuth)
	}

	refused := filepath.Join(dir, "refused.token")
	if err := os.WriteFile(refused, []byte("refused-token-0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	f = runCheck(t, Spec{Name: "partner", Kind: KindPeer, Peer: &PeerSpec{URL: partner.url, Fingerprint: partner.id.Fingerprint(), TokenFile: refused}})
	wantOK(t, f, false, "the partner refuses this agent (401 Unauthorized: this endpoint needs a credential with the peer role): pin this agent on the partner")
	if strings.Contains(f.Error, "refused-token") {
		t.Errorf("the token is in the error: %s", f.Error)
	}

	open := filepath.Join(dir, "open.token")
	if err := os.WriteFile(open, []byte("token-0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	f = runCheck(t, Spec{Name: "partner", Kind: KindPeer, Peer: &PeerSpec{URL: partner.url, Fingerprint: partner.id.Fingerprint(), TokenFile: open}})
	wantOK(t, f, false, "chmod 600")
}
