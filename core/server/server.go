// Package server serves the agent's HTTP endpoints for operators and peers:
// /healthz and /v1/status, and the routes the agent adds (Handlers.Routes),
// such as the outbox API. LocalOnly keeps a route to callers on this host
// when the server listens on the network for the HA peer.
//
// Every connection and request is bounded (Limits): timeouts, header and
// body sizes, and the connections open at once, in all and per client, so
// that idle or slow clients cannot starve the peer, Prometheus or the
// agent's own checks of answers or file descriptors. Every route but
// /healthz answers a request without a credential only when its Host
// header is an IP address, localhost, or one of Handlers.Hosts, against
// DNS rebinding. The agent guards its routes with credentials
// (Handlers.Guard) and may serve TLS (Handlers.TLS).
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// The Status of /healthz.
const (
	// StatusOK: the agent works.
	StatusOK = "ok"
	// StatusDegraded: the agent runs and answers, but something keeps it
	// from doing its job in full (Health.Problems says what): a full
	// disk under data_dir. /healthz still answers 200 OK: the agent is
	// alive, and restarting it would not help.
	StatusDegraded = "degraded"
)

// Health is the answer of /healthz, always with 200 OK while the agent
// serves: Status is StatusOK or StatusDegraded.
type Health struct {
	Status string `json:"status"`
	// Problems says, while Status is StatusDegraded, what is wrong and
	// what to do; absent when the agent is healthy.
	Problems []string `json:"problems,omitempty"`
	// Node, Version, Transports (the configured transports) and Started
	// are left out for a caller without a credential (Handlers.FullHealth).
	Node       string   `json:"node,omitempty"`
	Version    string   `json:"version,omitempty"`
	Transports []string `json:"transports,omitempty"`
	Started    string   `json:"started,omitempty"`
}

// Server is the agent's HTTP server.
type Server struct {
	logger hclog.Logger
	ln     net.Listener
	srv    *http.Server
	limits Limits
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
	// Routes are more handlers, keyed by http.ServeMux patterns with a
	// method, such as "GET /v1/outbox/{id}". A pattern that is not valid,
	// or that conflicts with another one, makes Listen fail. Wrap a route
	// in LocalOnly when the network must not reach it.
	Routes map[string]http.Handler
	// Hosts are the names, besides IP addresses and localhost, that
	// requests may call the server by (their Host header): the names the
	// agent is known by, such as its host name. Any other name gets 421
	// Misdirected Request on every route but /healthz, unless the request
	// carries a credential (which the Guard then judges).
	Hosts []string
	// Limits bound connections and requests; the zero Limits is
	// DefaultLimits.
	Limits Limits
	// TLS, when set, makes the server serve TLS with it (plain HTTP to
	// it gets 400).
	TLS *tls.Config
	// Guard, when set, wraps the handler of every route but /healthz
	// (/v1/status and Routes): the credential check of the route's
	// pattern.
	Guard func(pattern string, h http.Handler) http.Handler
	// StatusFor, when set, is served at /v1/status instead of Status: the
	// status as the caller of r may see it.
	StatusFor func(r *http.Request) any
	// FullHealth, when set, tells whether the caller of r may see the
	// whole Health; the others get its Status only, so that /healthz
	// stays open and reveals nothing but liveness.
	FullHealth func(r *http.Request) bool
}

// JSONWriter is a status that writes its own JSON, in the format
// json.Encoder with an indent of two spaces gives, straight to the
// answer. With 10,000 rules the status is a few MB of JSON; encoding it
// whole first costs several times its size in buffers at each request.
type JSONWriter interface {
	WriteJSON(w io.Writer) error
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Listen binds addr (host:port). Binding happens here, not in Serve, so a
// taken port is reported before the agent claims to be up.
func Listen(logger hclog.Logger, addr string, h Handlers) (*Server, error) {
	limits, err := h.Limits.resolve()
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	hosts, err := newHostCheck(h.Hosts)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		health := h.Health()
		if h.FullHealth != nil && !h.FullHealth(r) {
			health = Health{Status: health.Status}
		}
		_ = json.NewEncoder(w).Encode(health)
	})
	guard := func(pattern string, hd http.Handler) http.Handler {
		if h.Guard == nil {
			return hd
		}
		return h.Guard(pattern, hd)
	}
	if h.Status != nil || h.StatusFor != nil {
		status := func(r *http.Request) any {
			if h.StatusFor != nil {
				return h.StatusFor(r)
			}
			return h.Status()
		}
		mux.Handle("GET /v1/status", guard("GET /v1/status", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			st := status(r)
			// Each piece of the answer gets its own write deadline, from
			// when it starts: see Limits.WriteTimeout.
			pw := newProgressWriter(w, limits.WriteTimeout)
			if jw, ok := st.(JSONWriter); ok {
				cw := &countWriter{w: pw}
				bw := bufio.NewWriterSize(cw, 64<<10)
				err := jw.WriteJSON(bw)
				switch {
				case err == nil:
					_ = bw.Flush()
				case cw.n == 0:
					// Nothing has gone out yet: the answer can still
					// be an error.
					http.Error(w, err.Error(), http.StatusInternalServerError)
				}
				// Otherwise the answer has begun (and the error is most
				// likely the client's connection): it ends short.
				return
			}
			b, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, _ = pw.Write(append(b, '\n'))
		})))
	}
	routes := h.Routes
	if h.Guard != nil {
		routes = make(map[string]http.Handler, len(h.Routes))
		for p, hd := range h.Routes {
			if hd != nil {
				hd = h.Guard(p, hd)
			}
			routes[p] = hd
		}
	}
	if err := handleRoutes(mux, routes); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	logger = logger.Named("server")
	cl := newConnLimiter(ln, limits.MaxConns, limits.MaxConnsPerClient, logger)
	s := &Server{
		logger: logger,
		ln:     cl,
		srv: &http.Server{
			Handler:           hosts.wrap(limitBody(limits.MaxBodyBytes, mux)),
			ReadHeaderTimeout: limits.ReadHeaderTimeout,
			ReadTimeout:       limits.ReadTimeout,
			WriteTimeout:      limits.WriteTimeout,
			IdleTimeout:       limits.IdleTimeout,
			MaxHeaderBytes:    limits.MaxHeaderBytes,
			ConnState:         cl.connState,
			// Handshake errors (plain HTTP to TLS, a scanner) go to the
			// agent's log at debug, not to stderr.
			ErrorLog: logger.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		},
		limits: limits,
		done:   make(chan error, 1),
	}
	var serveLn net.Listener = cl
	if h.TLS != nil {
		serveLn = tls.NewListener(cl, h.TLS)
	}
	go func() {
		err := s.srv.Serve(serveLn)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Limits returns the limits the server applies, defaults filled in.
func (s *Server) Limits() Limits { return s.limits }

// Handler returns the handler every request is served with (the Host
// check, the body limit and the routes), without the listener's limits
// and TLS: for tests that present a caller a loopback connection cannot,
// such as one from another host's address.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

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

// handleRoutes registers routes on mux, in the order of their patterns.
// ServeMux panics on a bad or conflicting pattern; that becomes an error.
func handleRoutes(mux *http.ServeMux, routes map[string]http.Handler) error {
	patterns := make([]string, 0, len(routes))
	for p := range routes {
		patterns = append(patterns, p)
	}
	sort.Strings(patterns)
	for _, p := range patterns {
		if routes[p] == nil {
			return fmt.Errorf("route %q: no handler", p)
		}
		if err := handle(mux, p, routes[p]); err != nil {
			return err
		}
	}
	return nil
}

// handle registers one route, turning ServeMux's panic into an error.
func handle(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("route %q: %v", pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// LocalOnly wraps h so that it answers only requests made on this host:
// from a loopback address, or from the very address the request was sent
// to (the agent listening on one of the host's addresses, and the CLI
// calling that address). Any other caller gets 403 Forbidden with a JSON
// {"error": ...} body that says why and what to do. The agent may listen
// on every address for its HA peer; routes that change state are wrapped
// in LocalOnly so that the network cannot reach them. It is defence in
// depth, never the credential: the agent's Guard checks the caller's
// credential and role first, and LocalOnly only narrows who may use an
// admin credential. A reverse proxy on this host in front of the server
// defeats the check: do not put one there.
func LocalOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromThisHost(r) {
			writeError(w, http.StatusForbidden, "this endpoint changes state and answers only requests made on the agent's own host, whatever the credential, so that a credential used from the network cannot drop or resend an alert: run the tocsin command on the agent's host (for example tocsin outbox retry or tocsin outbox drop) (see README, Security)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeError answers code with a JSON {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// fromThisHost reports whether r comes from a loopback address or from the
// local address of its own connection.
func fromThisHost(r *http.Request) bool {
	remote, ok := hostAddr(r.RemoteAddr)
	if !ok {
		return false
	}
	if remote.IsLoopback() {
		return true
	}
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || local == nil {
		return false
	}
	l, ok := hostAddr(local.String())
	return ok && !l.IsUnspecified() && l == remote
}

// hostAddr parses the IP of a host:port, without its zone and with an
// IPv4-mapped IPv6 address made IPv4.
func hostAddr(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}
