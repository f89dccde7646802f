// Package server serves the agent's HTTP endpoints for operators and peers:
// /healthz now; /metrics and /v1/status join it as the agent grows.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Health is the answer of /healthz.
type Health struct {
	Status  string `json:"status"`
	Node    string `json:"node"`
	Version string `json:"version"`
	// Transports lists the configured transports.
	Transports []string `json:"transports"`
	Started    string   `json:"started"`
}

// Server is the agent's HTTP server.
type Server struct {
	logger hclog.Logger
	ln     net.Listener
	srv    *http.Server
	done   chan error

	once     sync.Once
	serveErr error
}

// Handlers are what the server answers with.
type Handlers struct {
	// Health is served at /healthz.
	Health func() Health
	// Status is served as JSON at /v1/status; nil serves 404.
	Status func() any
}

// Listen binds addr (host:port). Binding happens here, not in Serve, so a
// taken port is reported before the agent claims to be up.
func Listen(logger hclog.Logger, addr string, h Handlers) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.Health())
	})
	if h.Status != nil {
		mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(h.Status())
		})
	}
	s := &Server{
		logger: logger.Named("server"),
		ln:     ln,
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done:   make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.once.Do(func() { s.serveErr = <-s.done })
	if s.serveErr != nil && err == nil {
		err = s.serveErr
	}
	if err != nil {
		return fmt.Errorf("stop server: %w", err)
	}
	return nil
}
