package devpeer

import (
	"context"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// TestPeer_AnswersThenFails checks the simulated partner with the real
// peer check: it answers as a primary, then refuses connections.
func TestPeer_AnswersThenFails(t *testing.T) {
	p, err := Start(facts.NodeStatus{Name: "primary", Role: "primary", Version: "7.2"}, "dev")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	spec := facts.Spec{Name: "partner", Kind: facts.KindPeer, Timeout: 2 * time.Second, Peer: &facts.PeerSpec{URL: p.URL()}}
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
