//go:build linux

package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/server"
)

// The slowloris attack on the TLS listener: connections of four kinds
// from many loopback addresses, held open and opened again when the
// server closes them.
const (
	idleKeptAlive    = iota // a handshake and one request, then nothing
	silent                  // nothing at all, not even a ClientHello
	trickling               // a handshake, then a request's headers one byte a second
	stalledHandshake        // a ClientHello, then nothing (the server has answered it)
	attackKinds
)

var kindNames = [attackKinds]string{"idle kept-alive", "silent", "trickling", "stalled handshake"}

// slowlorisRun is what a peer and the process saw during an attack.
type slowlorisRun struct {
	latencies  []time.Duration // of the peer's /v1/status, answered 200
	failures   []string        // the peer's other outcomes
	fileErrors []string        // opening /dev/null, as a check would
	maxServer  int             // the most server-side sockets seen open
	maxFiles   int             // the most file descriptors seen open
	held       [attackKinds]int
	dials      int // attack connections opened
}

// slowloris attacks the server of tg for d with perKind connections of
// each kind, spread over 64 loopback addresses (127.0.0.1 among them),
// while a peer from 127.0.0.2 asks /v1/status every 100 ms as the agent's
// peer check does: a new connection each time, the server's certificate
// pinned, the peer token sent. attack false runs the peer alone. Every
// goroutine it starts ends before it returns.
func slowloris(tb testing.TB, tg slowlorisTarget, perKind int, d time.Duration, attack bool) slowlorisRun {
	tb.Helper()
	addr := tg.s.Addr()
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		run slowlorisRun
	)
	// The peer.
	wg.Go(func() {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: patience}
		c := &http.Client{Timeout: patience, Transport: &http.Transport{
			DialContext: dialer.DialContext, TLSClientConfig: tg.peerTLS,
			DisableKeepAlives: true, ForceAttemptHTTP2: true,
		}}
		defer c.CloseIdleConnections()
		for ctx.Err() == nil {
			start := time.Now()
			status, err := peerGet(c, "https://"+addr+"/v1/status", tg.token)
			took := time.Since(start)
			mu.Lock()
			if err == nil && status == http.StatusOK {
				run.latencies = append(run.latencies, took)
			} else if ctx.Err() == nil {
				run.failures = append(run.failures, fmt.Sprintf("after %v: status %d, %v", took.Round(time.Millisecond), status, err))
			}
			mu.Unlock()
			sleep(ctx, 100*time.Millisecond)
		}
	})
	// The agent's checks open files; the process's descriptors, and the
	// server's sockets among them, are counted.
	wg.Go(func() {
		for ctx.Err() == nil {
			f, err := os.Open(os.DevNull)
			if err == nil {
				_ = f.Close()
			}
			n, ferr := serverFDs(port)
			files := openFiles()
			mu.Lock()
			if err != nil {
				run.fileErrors = append(run.fileErrors, err.Error())
			}
			if ferr != nil {
				run.fileErrors = append(run.fileErrors, ferr.Error())
			}
			run.maxServer = max(run.maxServer, n)
			run.maxFiles = max(run.maxFiles, files)
			mu.Unlock()
			sleep(ctx, 200*time.Millisecond)
		}
	})
	if attack {
		var sources []net.IP
		sources = append(sources, net.IPv4(127, 0, 0, 1))
		for i := 1; i < 64; i++ {
			sources = append(sources, net.IPv4(127, 0, 1, byte(i)))
		}
		for kind := range attackKinds {
			wg.Go(func() {
				held, dials := attackWith(ctx, addr, kind, perKind, sources, tg.hello)
				mu.Lock()
				run.held[kind] = held
				run.dials += dials
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	return run
}

// peerGet asks url with the bearer token and reads the whole answer.
func peerGet(c *http.Client, url, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// attackWith keeps n connections of kind open to addr until ctx ends,
// from sources in turn: each second it sends a byte on each trickling
// connection, finds those the server closed and opens them again (at most
// n/4 a second). A stalled handshake sends hello, a ClientHello record.
// It returns how many were open at the end, and how many it opened in
// all.
func attackWith(ctx context.Context, addr string, kind, n int, sources []net.IP, hello []byte) (held, dials int) {
	conns := make([]net.Conn, n)
	sent := make([]int, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				held++
				_ = c.Close()
			}
		}
	}()
	header := []byte("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("s", 10000))
	probe := make([]byte, 1<<10)
	for ctx.Err() == nil {
		budget := max(n/4, 1)
		for i := range conns {
			if ctx.Err() != nil {
				return held, dials
			}
			c := conns[i]
			if c == nil {
				if budget == 0 {
					continue
				}
				budget--
				dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: sources[(i+kind)%len(sources)]}, Timeout: time.Second}
				nc, err := dialer.DialContext(ctx, "tcp", addr)
				if err != nil {
					continue
				}
				c, err := openAttack(nc, kind, hello)
				if err != nil {
					_ = nc.Close()
					continue
				}
				dials++
				conns[i], sent[i] = c, 0
				continue
			}
			if kind == trickling && sent[i] < len(header) {
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				if _, err := c.Write(header[sent[i] : sent[i]+1]); err != nil {
					_ = c.Close()
					conns[i] = nil
					continue
				}
				sent[i]++
			}
			// Closed by the server? A read that does not wait tells.
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Microsecond))
			if _, err := c.Read(probe); err != nil {
				var ne net.Error
				if !(errors.As(err, &ne) && ne.Timeout()) {
					_ = c.Close()
					conns[i] = nil
				}
			}
		}
		sleep(ctx, time.Second)
	}
	return held, dials
}

// openAttack starts an attack connection of kind on nc: the TLS
// handshake (the attacker trusts any certificate) and, for an idle
// kept-alive one, a request whose answer it reads; the ClientHello alone
// for a stalled handshake; nothing for a silent one. It returns the
// connection to hold.
func openAttack(nc net.Conn, kind int, hello []byte) (net.Conn, error) {
	switch kind {
	case silent:
		return nc, nil
	case stalledHandshake:
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, err := nc.Write(hello)
		return nc, err
	}
	_ = nc.SetDeadline(time.Now().Add(time.Second))
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	if kind == idleKeptAlive {
		// One request, its answer read; then nothing.
		if _, err := io.WriteString(tc, getRaw("/healthz")); err == nil {
			if resp, err := http.ReadResponse(bufio.NewReader(tc), nil); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return tc, nil
}

// clientHello returns the first record a TLS client sends: its
// ClientHello.
func clientHello(tb testing.TB) []byte {
	tb.Helper()
	client, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(client, &tls.Config{InsecureSkipVerify: true}).Handshake()
	}()
	defer func() {
		_ = srv.Close()
		_ = client.Close()
		<-done
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(srv, hdr); err != nil {
		tb.Fatal(err)
	}
	rec := make([]byte, 5+int(hdr[3])<<8|int(hdr[4]))
	copy(rec, hdr)
	if _, err := io.ReadFull(srv, rec[5:]); err != nil {
		tb.Fatal(err)
	}
	return rec
}

// percentile returns the p-th percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, int(float64(len(ds))*p/100))]
}

// attackSize is how many connections of each kind the attack holds: 3,000,
// or fewer when the process's file descriptor limit leaves less room
// beside the server's bound.
func attackSize(tb testing.TB, maxConns int) int {
	limit := nofile()
	n := min(3000, (int(min(limit, 1<<20))-maxConns-512)/attackKinds)
	tb.Logf("RLIMIT_NOFILE %d, server MaxConns %d: %d connections of each kind", limit, maxConns, n)
	if n < 100 {
		tb.Skipf("RLIMIT_NOFILE %d leaves too little room for an attack", limit)
	}
	return n
}

// slowlorisTarget is a server as the agent serves it on the network, and
// what its partner needs to read its status.
type slowlorisTarget struct {
	s *server.Server
	// peerTLS pins the server's certificate.
	peerTLS *tls.Config
	// token is the peer role's bearer token.
	token string
	// hello is a ClientHello record, for the stalled handshakes.
	hello []byte
}

// listenForSlowloris starts a server as the agent serves one on the
// network: TLS with a generated identity (core/identity), every route
// but /healthz guarded by credentials (core/apiauth), /v1/status needing
// the peer role; the default limits, and a /v1/status of 512 KiB.
func listenForSlowloris(tb testing.TB) slowlorisTarget {
	tb.Helper()
	id, err := identity.Load(tb.TempDir(), "", "")
	if err != nil {
		tb.Fatal(err)
	}
	serverTLS, err := identity.ServerConfig(id, "")
	if err != nil {
		tb.Fatal(err)
	}
	peerTLS, err := identity.ClientConfig(id.Fingerprint(), "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	const token = "peer-token-0123456789abcdef"
	cred, err := apiauth.NewToken("the-peer", apiauth.RolePeer, token)
	if err != nil {
		tb.Fatal(err)
	}
	auth, err := apiauth.NewAuthenticator([]apiauth.Credential{cred})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: func() server.Health { return server.Health{Status: "ok", Node: "n1"} },
		Status: func() any { return bigStatus{512 << 10} },
		TLS:    serverTLS,
		Guard: func(_ string, h http.Handler) http.Handler {
			return auth.Require(apiauth.RolePeer, h)
		},
		FullHealth: func(r *http.Request) bool {
			_, err := auth.Authenticate(r)
			return err == nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return slowlorisTarget{s: s, peerTLS: peerTLS, token: token, hello: clientHello(tb)}
}

// TestSlowloris: under thousands of idle, silent, trickling and stalled
// TLS connections from 64 addresses, the authenticated peer's /v1/status
// always answers 200 within 5 s, the server's sockets stay within
// MaxConns, and files open. No latency is asserted: BenchmarkSlowloris
// measures it.
func TestSlowloris(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 15 s of attack")
	}
	tg := listenForSlowloris(t)
	lim := tg.s.Limits()
	run := slowloris(t, tg, attackSize(t, lim.MaxConns), 15*time.Second, true)
	slices.Sort(run.latencies)
	t.Logf("peer: %d answers, p50 %v, p99 %v, max %v; %d failures", len(run.latencies),
		percentile(run.latencies, 50), percentile(run.latencies, 99), percentile(run.latencies, 100), len(run.failures))
	var held []string
	for k, n := range run.held {
		held = append(held, fmt.Sprintf("%d %s", n, kindNames[k]))
	}
	t.Logf("attack: %d connections opened, held at the end %s; server sockets at most %d (MaxConns %d, per client %d); process files at most %d",
		run.dials, strings.Join(held, ", "), run.maxServer, lim.MaxConns, lim.MaxConnsPerClient, run.maxFiles)
	for _, f := range run.failures {
		t.Errorf("peer: %s", f)
	}
	if len(run.latencies) == 0 {
		t.Error("the peer got no answer")
	}
	for _, f := range run.fileErrors {
		t.Errorf("open a file: %s", f)
	}
	// The listener, MaxConns connections, and those closed for a new
	// one whose descriptor the runtime has yet to release.
	if bound := lim.MaxConns + 1 + slack; run.maxServer > bound {
		t.Errorf("the server held %d sockets, over MaxConns %d + 1 + %d", run.maxServer, lim.MaxConns, slack)
	}
	if run.dials < attackKinds*100 {
		t.Errorf("the attack opened only %d connections: it proves nothing", run.dials)
	}
}

// slack is how many sockets over the bound TestSlowloris allows: a
// connection closed for a new one releases its descriptor once the
// goroutine reading it wakes up.
const slack = 16

// BenchmarkSlowloris measures the latency of an authenticated peer's
// /v1/status (512 KiB over TLS, a new connection each time, as the
// agent's peer check reads it) with the default limits, quiet and under
// the attack of TestSlowloris, reported as p50-ms, p99-ms and max-ms;
// each iteration lasts 10 s. Run it with -benchtime 1x.
func BenchmarkSlowloris(b *testing.B) {
	for _, attack := range []bool{false, true} {
		name := "quiet"
		if attack {
			name = "attack"
		}
		b.Run(name, func(b *testing.B) {
			tg := listenForSlowloris(b)
			n := attackSize(b, tg.s.Limits().MaxConns)
			var all []time.Duration
			var failures, maxServer int
			for b.Loop() {
				run := slowloris(b, tg, n, 10*time.Second, attack)
				all = append(all, run.latencies...)
				failures += len(run.failures)
				maxServer = max(maxServer, run.maxServer)
			}
			slices.Sort(all)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(percentile(all, 50)), "p50-ms")
			b.ReportMetric(ms(percentile(all, 99)), "p99-ms")
			b.ReportMetric(ms(percentile(all, 100)), "max-ms")
			b.ReportMetric(float64(failures), "peer-failures")
			b.ReportMetric(float64(maxServer), "server-sockets")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// serverFDs counts this process's file descriptors that are TCP sockets
// with the local port: the listener and the connections it accepted, not
// the clients' ends.
func serverFDs(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read sockets: %w", err)
		}
		want := fmt.Sprintf(":%04X", port)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && strings.HasSuffix(fs[1], want) {
				inodes[fs[9]] = true
			}
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("read fds: %w", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(target, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			n++
		}
	}
	return n, nil
}

// openFiles is the number of this process's open file descriptors.
func openFiles() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}

func nofile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return uint64(rl.Cur)
}
