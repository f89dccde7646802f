package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Limits bound what one client, or all clients together, can take from
// the server, so that idle or slow clients cannot starve the HA peer,
// Prometheus or the local CLI, nor take the file descriptors the agent's
// own checks need. A zero field takes its value from DefaultLimits; a
// negative one makes Listen fail.
type Limits struct {
	// ReadHeaderTimeout is how long a client has to send a request's
	// headers, from the connection's start or from the first byte of a
	// request on a kept-alive connection. It ends connections that never
	// send a request and those that trickle their headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a client has to send a whole request,
	// headers and body.
	ReadTimeout time.Duration
	// WriteTimeout is how long an answer may take, from the end of the
	// request's headers. /v1/status, which can be a few MB of JSON for a
	// slow peer, is exempt from the whole-answer bound: each 64 KiB of it
	// gets WriteTimeout afresh, so only a client that stops reading is
	// cut, never one that reads slowly.
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request before the server closes it.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (net/http allows 4 KiB
	// more); a larger request gets 431 Request Header Fields Too Large.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request's body on every route; a larger one
	// gets 413 Content Too Large before the route's handler runs. A body
	// of unknown length (chunked) is read ahead, up to this bound, to
	// decide that: MaxConns times MaxBodyBytes bounds that memory.
	MaxBodyBytes int64
	// MaxConns bounds the connections open at once. At the bound, a new
	// connection takes the place of an idle one (a kept-alive connection
	// between requests, or one that has sent no whole request for a
	// while), preferring one of the client with the most connections;
	// when every connection is busy, the new one is closed at once.
	// The default is a quarter of the process's file descriptor limit
	// (RLIMIT_NOFILE), at most 1024.
	MaxConns int
	// MaxConnsPerClient bounds the connections of one client: one IPv4
	// address, or one IPv6 /64. At the bound, a new connection of the
	// client takes the place of its own idle one, or is closed at once.
	// The default is 32, and at most a quarter of MaxConns.
	MaxConnsPerClient int
}

// The default limits; see Limits for what each one does.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultMaxBodyBytes      = 1 << 20
	// MaxConnsCap caps the derived default of Limits.MaxConns: the agent
	// has a handful of legitimate clients.
	MaxConnsCap = 1024
	// DefaultMaxConnsPerClient is Limits.MaxConnsPerClient's default
	// when MaxConns leaves room for it.
	DefaultMaxConnsPerClient = 32
)

// staleNew is how long a connection may go without a whole request
// before it counts as idle, and may give its place to a new connection
// at the bound: a legitimate client sends its request at once, while a
// connection that stays silent or trickles its headers is an attack.
const staleNew = 2 * time.Second

// DefaultLimits returns the limits Listen applies to the zero Limits,
// with MaxConns derived from this process's file descriptor limit.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: DefaultReadHeaderTimeout,
		ReadTimeout:       DefaultReadTimeout,
		WriteTimeout:      DefaultWriteTimeout,
		IdleTimeout:       DefaultIdleTimeout,
		MaxHeaderBytes:    DefaultMaxHeaderBytes,
		MaxBodyBytes:      DefaultMaxBodyBytes,
		MaxConns:          defaultMaxConns(openFileLimit()),
	}.withPerClient()
}

// defaultMaxConns is a quarter of the file descriptor limit nofile, so
// that connections alone never take more than that; at most MaxConnsCap,
// and 256 when the limit is unknown (0).
func defaultMaxConns(nofile uint64) int {
	if nofile == 0 {
		return 256
	}
	return int(max(1, min(nofile/4, MaxConnsCap)))
}

// withPerClient sets MaxConnsPerClient, when it is zero, from MaxConns.
func (l Limits) withPerClient() Limits {
	if l.MaxConnsPerClient == 0 {
		l.MaxConnsPerClient = max(1, min(DefaultMaxConnsPerClient, l.MaxConns/4))
	}
	return l
}

// resolve returns l with its zero fields set from DefaultLimits, or an
// error naming a negative field.
func (l Limits) resolve() (Limits, error) {
	d := DefaultLimits()
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"ReadHeaderTimeout", int64(l.ReadHeaderTimeout)},
		{"ReadTimeout", int64(l.ReadTimeout)},
		{"WriteTimeout", int64(l.WriteTimeout)},
		{"IdleTimeout", int64(l.IdleTimeout)},
		{"MaxHeaderBytes", int64(l.MaxHeaderBytes)},
		{"MaxBodyBytes", l.MaxBodyBytes},
		{"MaxConns", int64(l.MaxConns)},
		{"MaxConnsPerClient", int64(l.MaxConnsPerClient)},
	} {
		if f.v < 0 {
			return Limits{}, fmt.Errorf("limit %s is negative (%d): leave it zero for the default", f.name, f.v)
		}
	}
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	l.ReadHeaderTimeout = or(l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	l.ReadTimeout = or(l.ReadTimeout, d.ReadTimeout)
	l.WriteTimeout = or(l.WriteTimeout, d.WriteTimeout)
	l.IdleTimeout = or(l.IdleTimeout, d.IdleTimeout)
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxConns == 0 {
		l.MaxConns = d.MaxConns
	}
	return l.withPerClient(), nil
}

// limitBody answers 413 Content Too Large, with a JSON error, to a request
// whose body is larger than max, before next sees it: at once when its
// Content-Length says so, after reading up to max bytes of a body of
// unknown length. Any other body reaches next through http.MaxBytesReader.
func limitBody(max int64, next http.Handler) http.Handler {
	msg := fmt.Sprintf("the request body is larger than the %d bytes this agent accepts; send a smaller body (the API takes small JSON documents)", max)
	tooLarge := func(w http.ResponseWriter) {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, msg)
		// The rest of the body is not waited for: without this the server
		// would read a chunked one on, until ReadTimeout.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			tooLarge(w)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		if r.ContentLength < 0 {
			b, err := io.ReadAll(r.Body)
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				tooLarge(w)
				return
			case err != nil:
				writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error())
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		next.ServeHTTP(w, r)
	})
}

// statusChunk is the piece of a long answer that gets its own write
// deadline (see progressWriter).
const statusChunk = 64 << 10

// progressWriter writes an answer in pieces of at most statusChunk bytes,
// each sent (flushed) under a write deadline of its own, d from its
// start. A whole-answer deadline would cut a legitimate multi-MB
// /v1/status to a peer on a slow link; a deadline per piece cuts only a
// client that stops reading (or reads less than 64 KiB in d).
type progressWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func newProgressWriter(w http.ResponseWriter, d time.Duration) *progressWriter {
	return &progressWriter{w: w, rc: http.NewResponseController(w), d: d}
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		piece := b[:min(len(b), statusChunk)]
		if err := p.rc.SetWriteDeadline(time.Now().Add(p.d)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return n, fmt.Errorf("set write deadline: %w", err)
		}
		m, err := p.w.Write(piece)
		n += m
		if err != nil {
			return n, err
		}
		if err := p.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return n, fmt.Errorf("flush: %w", err)
		}
		b = b[m:]
	}
	return n, nil
}
