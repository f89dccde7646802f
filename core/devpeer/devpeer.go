// Package devpeer is dev mode's simulated partner: an HTTP server on
// 127.0.0.1 that answers /v1/status like a Tocsin agent on the primary of
// an HA pair, until a scripted fault makes it stop answering.
package devpeer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// Peer is a running simulated partner.
type Peer struct {
	status facts.NodeStatus
	ln     net.Listener
	srv    *http.Server
	done   chan struct{}

	mu     sync.Mutex
	failed bool
}

// Start serves node as the partner's status on a free port of 127.0.0.1.
func Start(node facts.NodeStatus, agentVersion string) (*Peer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dev peer: %w", err)
	}
	p := &Peer{status: node, ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+facts.StatusPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(facts.Status{Node: p.status, AgentVersion: agentVersion, Time: time.Now().UTC()})
	})
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed by Fail or Close
		}
	}()
	return p, nil
}

// URL returns the partner agent's base URL, for a peer block.
func (p *Peer) URL() string { return "http://" + p.ln.Addr().String() }

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
