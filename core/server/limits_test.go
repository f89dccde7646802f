//go:build linux

package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/server"
)

// patience bounds every wait of these tests: a limit that works acts well
// within it, one that is missing (a default of 10 s or more) does not.
const patience = 5 * time.Second

// limitServer is a server with limits and routes to test them.
type limitServer struct {
	*server.Server
	entered chan struct{} // a request to /block arrived
	release chan struct{} // closed: /block answers
	drops   atomic.Int64  // calls of DELETE /v1/things/{id}
}

// listenLimited starts a server on 127.0.0.1 with lim and hosts, and the
// routes GET /block (waits for release), POST /echo (answers the body),
// POST /ignore (reads nothing) and DELETE /v1/things/{id} (counts).
func listenLimited(t testing.TB, lim server.Limits, hosts ...string) *limitServer {
	t.Helper()
	ls := &limitServer{entered: make(chan struct{}, 100), release: make(chan struct{})}
	s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
		Health: func() server.Health { return server.Health{Status: "ok", Node: "n1"} },
		Status: func() any { return map[string]string{"node": "n1"} },
		Routes: map[string]http.Handler{
			"GET /block": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				ls.entered <- struct{}{}
				<-ls.release
				_, _ = io.WriteString(w, "released")
			}),
			"POST /echo": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				_, _ = w.Write(b)
			}),
			"POST /ignore": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNoContent)
			}),
			"DELETE /v1/things/{id}": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				ls.drops.Add(1)
				w.WriteHeader(http.StatusNoContent)
			}),
		},
		Hosts:  hosts,
		Limits: lim,
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ls.Server = s
	t.Cleanup(func() {
		select {
		case <-ls.release:
		default:
			close(ls.release)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return ls
}

// dialFrom connects to addr from the loopback address src (all of
// 127.0.0.0/8 is this host's).
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: patience}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exchange sends a raw request on c and reads the answer; an error
// reading its body comes with the answer.
func exchange(c net.Conn, br *bufio.Reader, raw string) (*http.Response, []byte, error) {
	_ = c.SetDeadline(time.Now().Add(patience))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func getRaw(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
}

// closedWithin reports whether the server closes c within d, reading
// (and dropping) what it sends meanwhile.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// waitEntered waits for n requests to reach /block.
func (ls *limitServer) waitEntered(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-ls.entered:
		case <-time.After(patience):
			t.Fatal("a request never reached /block")
		}
	}
}

// TestLimits_headerSize: headers over MaxHeaderBytes (plus the 4 KiB
// net/http allows) get 431.
func TestLimits_headerSize(t *testing.T) {
	t.Parallel()
	s := listenLimited(t, server.Limits{MaxHeaderBytes: 1 << 10})
	for _, tt := range []struct {
		name string
		size int
		want int
	}{
		{"small", 512, http.StatusOK},
		{"over the bound and the slack", 8 << 10, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", s.Addr())
			raw := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + strings.Repeat("a", tt.size) + "\r\n\r\n"
			// The server closes the connection after a 431, with the rest
			// of the request unread, after shutting down its writing side
			// (CloseWrite), so the answer is read whole, not reset.
			resp, _, err := exchange(c, bufio.NewReader(c), raw)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestLimits_bodySize: a body over MaxBodyBytes gets 413 with a JSON
// error on every route, whether the route reads it or not, with a length
// or chunked; the route does not run.
func TestLimits_bodySize(t *testing.T) {
	t.Parallel()
	const bound = 100
	s := listenLimited(t, server.Limits{MaxBodyBytes: bound})
	for _, tt := range []struct {
		name    string
		path    string
		size    int
		chunked bool
		want    int
	}{
		{"at the bound", "/echo", bound, false, http.StatusOK},
		{"over the bound", "/echo", bound + 1, false, http.StatusRequestEntityTooLarge},
		{"chunked at the bound", "/echo", bound, true, http.StatusOK},
		{"chunked over the bound", "/echo", bound + 1, true, http.StatusRequestEntityTooLarge},
		{"route that reads nothing", "/ignore", bound + 1, false, http.StatusRequestEntityTooLarge},
		{"chunked, route that reads nothing", "/ignore", bound + 1, true, http.StatusRequestEntityTooLarge},
		{"empty, route that reads nothing", "/ignore", 0, false, http.StatusNoContent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("b"), tt.size)
			var r io.Reader = bytes.NewReader(body)
			if tt.chunked {
				r = io.MultiReader(r) // no length known: chunked
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.Addr()+tt.path, r)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, got, tt.want)
			}
			switch tt.want {
			case http.StatusOK, http.StatusNoContent:
				if !bytes.Equal(got, body) {
					t.Errorf("echo of %d bytes: %d bytes", len(body), len(got))
				}
			case http.StatusRequestEntityTooLarge:
				var e struct{ Error string }
				if json.Unmarshal(got, &e) != nil || !strings.Contains(e.Error, "send a smaller body") || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("413 answer %q (%s), want a JSON error that says what to do", got, resp.Header.Get("Content-Type"))
				}
			}
		})
	}
}

// TestLimits_bodySize_announced: a body announced larger than
// MaxBodyBytes gets 413 before it is sent; a chunked one, once the bound
// is passed.
func TestLimits_bodySize_announced(t *testing.T) {
	t.Parallel()
	s := listenLimited(t, server.Limits{MaxBodyBytes: 100})
	for _, tt := range []struct{ name, raw string }{
		{"length", "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10485760\r\n\r\n"},
		{"chunked", "POST /ignore HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nc8\r\n" + strings.Repeat("b", 200) + "\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, "127.0.0.1", s.Addr())
			resp, body, err := exchange(c, bufio.NewReader(c), tt.raw)
			if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("answer %v %q, %v; want 413", resp, body, err)
			}
			if !closedWithin(c, patience) {
				t.Error("the connection stayed open with a body unread")
			}
		})
	}
}

// TestLimits_slowClients: idle, silent and trickling connections are
// closed by their timeout, the others being a minute.
func TestLimits_slowClients(t *testing.T) {
	t.Parallel()
	const short = 200 * time.Millisecond
	for _, tt := range []struct {
		name string
		lim  server.Limits
		act  func(t *testing.T, c net.Conn)
	}{
		{"kept alive, idle after one request", server.Limits{IdleTimeout: short}, func(t *testing.T, c net.Conn) {
			resp, _, err := exchange(c, bufio.NewReader(c), getRaw("/healthz"))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("first request: %v", err)
			}
		}},
		{"silent from the start", server.Limits{ReadHeaderTimeout: short}, func(*testing.T, net.Conn) {}},
		{"trickling headers", server.Limits{ReadHeaderTimeout: short}, func(_ *testing.T, c net.Conn) {
			go func() {
				for _, b := range []byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + strings.Repeat("s", 200)) {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}},
		{"trickling body", server.Limits{ReadTimeout: short}, func(_ *testing.T, c net.Conn) {
			go func() {
				if _, err := io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"); err != nil {
					return
				}
				for range 100 {
					if _, err := c.Write([]byte{'b'}); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			minute := func(d time.Duration) time.Duration {
				if d == 0 {
					return time.Minute
				}
				return d
			}
			s := listenLimited(t, server.Limits{
				ReadHeaderTimeout: minute(tt.lim.ReadHeaderTimeout),
				ReadTimeout:       minute(tt.lim.ReadTimeout),
				IdleTimeout:       minute(tt.lim.IdleTimeout),
			})
			c := dialFrom(t, "127.0.0.1", s.Addr())
			tt.act(t, c)
			if !closedWithin(c, patience) {
				t.Errorf("still open after %v", patience)
			}
		})
	}
}

// TestLimits_perClient: a client at MaxConnsPerClient, all its
// connections busy, gets its next one closed at once; other clients are
// served; once its connections are idle, a new one takes the place of
// the oldest.
func TestLimits_perClient(t *testing.T) {
	t.Parallel()
	s := listenLimited(t, server.Limits{MaxConnsPerClient: 2, MaxConns: 100, ReadHeaderTimeout: time.Minute})
	var busy []net.Conn
	for range 2 {
		c := dialFrom(t, "127.0.0.3", s.Addr())
		if _, err := io.WriteString(c, getRaw("/block")); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	s.waitEntered(t, 2)
	if c := dialFrom(t, "127.0.0.3", s.Addr()); !closedWithin(c, patience) {
		t.Fatal("a third connection of a client at its bound of 2 stayed open")
	}
	other := dialFrom(t, "127.0.0.4", s.Addr())
	if resp, _, err := exchange(other, bufio.NewReader(other), getRaw("/healthz")); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("another client: %v", err)
	}
	close(s.release)
	for i, c := range busy {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("busy connection %d: %v", i, err)
		}
		_ = resp.Body.Close()
	}
	// Both are idle now (once the server marks them so): a new one of the
	// client is served in place of the first.
	deadline := time.Now().Add(patience)
	for {
		c := dialFrom(t, "127.0.0.3", s.Addr())
		resp, _, err := exchange(c, bufio.NewReader(c), getRaw("/healthz"))
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a client at its bound with idle connections was refused: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// One of the two made room (which one is up to the order in which
	// the server marked them idle); the other stays.
	deadline = time.Now().Add(patience)
	for i := 0; ; i = 1 - i {
		if closedWithin(busy[i], 50*time.Millisecond) {
			if closedWithin(busy[1-i], 200*time.Millisecond) {
				t.Error("both idle connections of the client were closed for one new")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no idle connection of the client was closed")
		}
	}
}

// TestLimits_global: at MaxConns a new client takes the place of an idle
// kept-alive connection; when every connection is busy, the new one is
// closed at once.
func TestLimits_global(t *testing.T) {
	t.Parallel()
	s := listenLimited(t, server.Limits{MaxConns: 3, MaxConnsPerClient: 3, ReadHeaderTimeout: time.Minute})
	var busy []net.Conn
	for _, ip := range []string{"127.0.0.5", "127.0.0.6"} {
		c := dialFrom(t, ip, s.Addr())
		if _, err := io.WriteString(c, getRaw("/block")); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	s.waitEntered(t, 2)
	idle := dialFrom(t, "127.0.0.7", s.Addr())
	if resp, _, err := exchange(idle, bufio.NewReader(idle), getRaw("/healthz")); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("idle-to-be connection: %v", err)
	}
	var fresh net.Conn
	deadline := time.Now().Add(patience)
	for {
		fresh = dialFrom(t, "127.0.0.8", s.Addr())
		resp, _, err := exchange(fresh, bufio.NewReader(fresh), getRaw("/healthz"))
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a new client at the bound, with an idle connection open, was refused: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !closedWithin(idle, patience) {
		t.Error("the idle connection stayed open")
	}
	// All three busy: the next connection is closed at once.
	if _, err := io.WriteString(fresh, getRaw("/block")); err != nil {
		t.Fatal(err)
	}
	s.waitEntered(t, 1)
	if c := dialFrom(t, "127.0.0.9", s.Addr()); !closedWithin(c, patience) {
		t.Error("a connection over a bound of busy connections stayed open")
	}
	close(s.release)
	for i, c := range append(busy, fresh) {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("busy connection %d: %v", i, err)
			continue
		}
		_ = resp.Body.Close()
	}
}

// TestHostCheck: requests by an IP address, localhost or an allowed name
// are served; any other Host gets 421 with a JSON error, and the route
// does not run. /healthz answers to any Host.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	s := listenLimited(t, server.Limits{}, "agent.example.net", "n1:9870")
	for _, tt := range []struct {
		host   string
		method string
		path   string
		want   int
	}{
		{"127.0.0.1", "DELETE", "/v1/things/x", 204},
		{"", "DELETE", "/v1/things/x", 204}, // the test server's own address
		{"127.0.0.1:9870", "DELETE", "/v1/things/x", 204},
		{"[::1]:9870", "DELETE", "/v1/things/x", 204},
		{"[::1]", "DELETE", "/v1/things/x", 204},
		{"192.0.2.10:9870", "DELETE", "/v1/things/x", 204},
		{"[2001:db8::1]:9870", "DELETE", "/v1/things/x", 204},
		{"localhost", "DELETE", "/v1/things/x", 204},
		{"LocalHost.:9870", "DELETE", "/v1/things/x", 204},
		{"agent.example.net:9870", "DELETE", "/v1/things/x", 204},
		{"AGENT.Example.NET.", "DELETE", "/v1/things/x", 204},
		{"n1", "DELETE", "/v1/things/x", 204},
		{"rebind.evil.example", "DELETE", "/v1/things/x", 421},
		{"rebind.evil.example:9870", "DELETE", "/v1/things/x", 421},
		{"localhost.evil.example", "DELETE", "/v1/things/x", 421},
		{"evil.localhost", "DELETE", "/v1/things/x", 421},
		{"127.0.0.1.evil.example", "DELETE", "/v1/things/x", 421},
		{"agent.example.net.evil.example", "DELETE", "/v1/things/x", 421},
		{"example.net", "DELETE", "/v1/things/x", 421},
		{"rebind.evil.example", "GET", "/v1/status", 421},
		{"rebind.evil.example", "GET", "/nope", 421},
		{"rebind.evil.example", "GET", "/healthz", 200},
	} {
		t.Run(tt.method+" "+tt.path+" as "+tt.host, func(t *testing.T) {
			before := s.drops.Load()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, "http://"+s.Addr()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tt.host
			resp, err := client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d %q, want %d", resp.StatusCode, body, tt.want)
			}
			ran := s.drops.Load() != before
			if tt.path == "/v1/things/x" && ran != (tt.want == 204) {
				t.Errorf("route ran = %v with status %d", ran, tt.want)
			}
			if tt.want == 421 {
				var e struct{ Error string }
				if json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, "call it by its IP address") || resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("421 answer %q, want a JSON error that names the fix", body)
				}
			}
		})
	}
	t.Run("HTTP/1.0 without a Host", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", s.Addr())
		resp, _, err := exchange(c, bufio.NewReader(c), "DELETE /v1/things/x HTTP/1.0\r\n\r\n")
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("answer %v, %v; want 204", resp, err)
		}
	})
}

// TestListen_badLimits: negative limits and host names that are not names
// make Listen fail and say which.
func TestListen_badLimits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		h     server.Handlers
		wants string
	}{
		{"negative timeout", server.Handlers{Limits: server.Limits{IdleTimeout: -time.Second}}, "limit IdleTimeout is negative"},
		{"negative bound", server.Handlers{Limits: server.Limits{MaxConnsPerClient: -1}}, "limit MaxConnsPerClient is negative"},
		{"empty host", server.Handlers{Hosts: []string{""}}, `allowed host "" is not a host name`},
		{"host with a space", server.Handlers{Hosts: []string{"a b"}}, `allowed host "a b"`},
		{"URL", server.Handlers{Hosts: []string{"http://a/"}}, `allowed host "http://a/"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.h.Health = func() server.Health { return server.Health{} }
			s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", tt.h)
			if err == nil {
				_ = s.Shutdown(context.Background())
				t.Fatal("Listen succeeded")
			}
			if !strings.Contains(err.Error(), tt.wants) {
				t.Errorf("error %q, want %q", err, tt.wants)
			}
		})
	}
	s := listenLimited(t, server.Limits{MaxConns: 8})
	if l := s.Limits(); l.MaxConns != 8 || l.MaxConnsPerClient != 2 || l.IdleTimeout != server.DefaultIdleTimeout {
		t.Errorf("Limits() = %+v, want the given ones with defaults", l)
	}
}

// bigStatus is a status of size bytes of JSON, written by WriteJSON, or
// marshalled when asMap.
type bigStatus struct{ size int }

func (b bigStatus) WriteJSON(w io.Writer) error {
	_, err := fmt.Fprintf(w, "{\"pad\": %q}\n", strings.Repeat("p", b.size))
	return err
}

// TestLimits_writeTimeout: a large /v1/status to a client that reads
// slowly, for much longer than WriteTimeout, is whole; to a client that
// stops reading for longer than WriteTimeout, it is cut. Another route's
// answer is cut after WriteTimeout in all.
func TestLimits_writeTimeout(t *testing.T) {
	t.Parallel()
	// More than loopback's socket buffers hold, so the server waits for
	// the reader.
	const size = 8 << 20
	const writeTimeout = time.Second
	for _, tt := range []struct {
		name   string
		path   string
		status any
		stall  time.Duration // before the first read
		pause  time.Duration // between reads of 256 KiB
		whole  bool
	}{
		{"slow reader, JSONWriter", "/v1/status", bigStatus{size}, 0, 100 * time.Millisecond, true},
		{"slow reader, marshalled", "/v1/status", map[string]string{"pad": strings.Repeat("p", size)}, 0, 100 * time.Millisecond, true},
		{"stalled reader", "/v1/status", bigStatus{size}, 3 * writeTimeout, 0, false},
		{"another route, stalled reader", "/big", nil, 3 * writeTimeout, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{
				Health: func() server.Health { return server.Health{} },
				Status: func() any { return tt.status },
				Routes: map[string]http.Handler{"GET /big": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write(bytes.Repeat([]byte("b"), size+1))
				})},
				Limits: server.Limits{WriteTimeout: writeTimeout},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
			// A small receive buffer: no autotuning lets loopback hold
			// the whole answer.
			d := net.Dialer{Timeout: patience, Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
				}); err != nil {
					return err
				}
				return serr
			}}
			c, err := d.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, getRaw(tt.path)); err != nil {
				t.Fatal(err)
			}
			// The answer has begun: making a large status takes a while
			// under -race, and that time must not count.
			buf := make([]byte, 256<<10)
			_ = c.SetReadDeadline(time.Now().Add(3 * patience))
			got, err := io.ReadFull(c, buf[:1<<10])
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			time.Sleep(tt.stall)
			for {
				time.Sleep(tt.pause)
				_ = c.SetReadDeadline(time.Now().Add(patience))
				n, err := io.ReadFull(c, buf)
				got += n
				if err != nil {
					break
				}
			}
			took := time.Since(start)
			whole := got > size
			if whole != tt.whole {
				t.Errorf("read %d bytes of a %d-byte status in %v (write timeout %v); whole = %v, want %v", got, size, took, writeTimeout, whole, tt.whole)
			}
			if tt.whole && took < 2*writeTimeout {
				t.Errorf("the read took %v only: the test proves nothing", took)
			}
		})
	}
}

func TestOwnNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		node, listen string
		want         []string
	}{
		{"alpha", "0.0.0.0:9870", []string{"alpha"}},
		{"alpha", "alpha.example.net:9870", []string{"alpha", "alpha.example.net"}},
		{"Alpha", "ALPHA.:9870", []string{"alpha"}},
		{"web 1", "127.0.0.1:9870", nil},
		{"192.0.2.1", "[::1]:9870", nil},
		{"localhost", "localhost:9870", nil},
		{"", ":9870", nil},
		{"alpha", "not an address", []string{"alpha"}},
	} {
		got := server.OwnNames(tt.node, tt.listen)
		if !slices.Equal(got, tt.want) {
			t.Errorf("OwnNames(%q, %q) = %q, want %q", tt.node, tt.listen, got, tt.want)
		}
		// What it returns, Listen takes.
		s, err := server.Listen(hclog.NewNullLogger(), "127.0.0.1:0", server.Handlers{Health: func() server.Health { return server.Health{} }, Hosts: got})
		if err != nil {
			t.Errorf("Listen with %q: %v", got, err)
			continue
		}
		_ = s.Shutdown(context.Background())
	}
}
