// Package devpeer is dev mode's simulated partner: an HTTPS server on
// 127.0.0.1 that answers /v1/status like a Tocsin agent on the primary of
// an HA pair, until a scripted fault makes it stop answering.
//
// It is set up as a real pair is: it serves TLS with an identity of its
// own (the backup pins its fingerprint), and answers only the backup it
// pins in turn, by the certificate the backup presents, as a real agent
// answers the partner named by its peer_fingerprint.
package devpeer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// Peer is a running simulated partner.
type Peer struct {
	status facts.NodeStatus
	id     *identity.Identity
	ln     net.Listener
	srv    *http.Server
	done   chan struct{}

	mu     sync.Mutex
	failed bool
}

// Start serves node as the partner's status over TLS on a free port of
// 127.0.0.1, with id as the partner's identity. Only a caller presenting
// the client certificate whose fingerprint is backup (the backup agent's
// identity, as `tocsin identity` prints it) gets the status; any other
// gets the JSON 401 a real agent answers.
func Start(node facts.NodeStatus, agentVersion string, id *identity.Identity, backup string) (*Peer, error) {
	if id == nil {
		return nil, errors.New("dev peer: no TLS identity")
	}
	fp, err := identity.ParseFingerprint(backup)
	if err != nil {
		return nil, fmt.Errorf("dev peer: the backup's fingerprint: %w", err)
	}
	pin, err := apiauth.NewCertPin("peer dev-backup", apiauth.RolePeer, fp)
	if err != nil {
		return nil, fmt.Errorf("dev peer: %w", err)
	}
	auth, err := apiauth.NewAuthenticator([]apiauth.Credential{pin})
	if err != nil {
		return nil, fmt.Errorf("dev peer: %w", err)
	}
	tc, err := identity.ServerConfig(id, "")
	if err != nil {
		return nil, fmt.Errorf("dev peer: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dev peer: %w", err)
	}
	p := &Peer{status: node, id: id, ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET "+facts.StatusPath, auth.Require(apiauth.RolePeer, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(facts.Status{Node: p.status, AgentVersion: agentVersion, Time: time.Now().UTC()})
	})))
	// Handshakes refused (a caller pinning another certificate) are the
	// caller's to report: dev mode's output stays the agent's.
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, TLSConfig: tc, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(tls.NewListener(ln, tc)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed by Fail or Close
		}
	}()
	return p, nil
}

// URL returns the partner agent's base URL, for a peer block.
func (p *Peer) URL() string { return "https://" + p.ln.Addr().String() }

// Fingerprint returns the fingerprint of the partner's certificate: what
// the backup pins (peer_fingerprint).
func (p *Peer) Fingerprint() string { return p.id.Fingerprint() }

// Fail makes the partner stop answering: connections are refused from now
// on, as when the primary's host is down.
func (p *Peer) Fail() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed {
		return
	}
	p.failed = true
	_ = p.srv.Close()
	<-p.done
}

// Failed reports whether Fail was called.
func (p *Peer) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// Close stops the partner.
func (p *Peer) Close(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dev peer: %w", err)
	}
	return nil
}
