package devpeer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// newIdentity generates an identity in a directory of its own.
func newIdentity(t *testing.T) *identity.Identity {
	t.Helper()
	id, err := identity.Load(filepath.Join(t.TempDir(), "data"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPeer_AnswersThenFails checks the simulated partner with the real
// peer check over the pinned link, as dev mode sets it up: it answers the
// backup it pins as a primary, then refuses connections.
func TestPeer_AnswersThenFails(t *testing.T) {
	backupDir := filepath.Join(t.TempDir(), "data")
	backup, err := identity.Load(backupDir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(facts.NodeStatus{Name: "primary", Role: "primary", Version: "7.2"}, "dev", newIdentity(t), backup.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if !strings.HasPrefix(p.URL(), "https://127.0.0.1:") {
		t.Errorf("URL = %s, want https on loopback", p.URL())
	}
	spec := facts.Spec{Name: "partner", Kind: facts.KindPeer, Timeout: 2 * time.Second,
		Peer: &facts.PeerSpec{URL: p.URL(), Fingerprint: p.Fingerprint(), IdentityDir: backupDir}}
	f := facts.Run(context.Background(), spec, time.Now)
	if !f.OK || f.Values["role"].AsString() != "primary" || f.Values["version"].AsString() != "7.2" {
		t.Fatalf("before the fault: %+v", f)
	}
	p.Fail()
	if !p.Failed() {
		t.Error("Failed() = false after Fail")
	}
	f = facts.Run(context.Background(), spec, time.Now)
	if f.OK || f.Values["reachable"].True() {
		t.Fatalf("after the fault the partner still answers: %+v", f)
	}
}

// TestPeer_PinnedBothWays: the partner answers only the backup it pins,
// and a backup that pins another certificate does not believe it.
func TestPeer_PinnedBothWays(t *testing.T) {
	backup := newIdentity(t)
	p, err := Start(facts.NodeStatus{Name: "primary", Role: "primary"}, "dev", newIdentity(t), backup.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	tests := []struct {
		name string
		peer facts.PeerSpec
		want string
	}{
		{name: "another agent", want: "the partner refuses this agent",
			peer: facts.PeerSpec{URL: p.URL(), Fingerprint: p.Fingerprint(), IdentityDir: filepath.Join(t.TempDir(), "other")}},
		{name: "no client certificate", want: "the partner refuses this agent",
			peer: facts.PeerSpec{URL: p.URL(), Fingerprint: p.Fingerprint()}},
		{name: "another pin", want: "not the partner",
			peer: facts.PeerSpec{URL: p.URL(), Fingerprint: newIdentity(t).Fingerprint(), ClientCertFile: backup.CertFile(), ClientKeyFile: backup.KeyFile()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := facts.Run(context.Background(), facts.Spec{Name: "partner", Kind: facts.KindPeer, Timeout: 2 * time.Second, Peer: &tt.peer}, time.Now)
			if f.OK || !strings.Contains(f.Error, tt.want) || !f.Values["role"].IsNull() {
				t.Errorf("fact = ok %v, error %q; want failed with %q and no data", f.OK, f.Error, tt.want)
			}
		})
	}
}

// TestStart_refusesWithoutSecurity: the partner is never served without
// its identity or a valid pin of the backup.
func TestStart_refusesWithoutSecurity(t *testing.T) {
	if _, err := Start(facts.NodeStatus{}, "dev", nil, newIdentity(t).Fingerprint()); err == nil {
		t.Error("started without an identity")
	}
	if _, err := Start(facts.NodeStatus{}, "dev", newIdentity(t), "sha256:nope"); err == nil {
		t.Error("started with an invalid pin")
	}
}
