package smtpsend

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// busyRemedy is the remedy classify gives a 4xx reply no remedy matches.
const busyRemedy = "The server is busy or not ready; Tocsin retries later. If this lasts, check the server's queue and logs."

// testTimeout bounds each SMTP command, so a broken test fails instead of
// hanging; no test asserts on how long anything takes.
const testTimeout = 20 * time.Second

// genericRemedy returns the text of the generic remedy for the given
// fields, so tests compare remedies exactly without copying the sentences.
func genericRemedy(t *testing.T, code, enhanced, contains string) string {
	t.Helper()
	for _, r := range GenericRemedies {
		if r.Code == code && r.Enhanced == enhanced && r.Contains == contains {
			return r.Text
		}
	}
	t.Fatalf("no generic remedy with code %q, enhanced %q, contains %q", code, enhanced, contains)
	return ""
}

// newCA returns a throw-away CA and the path of its certificate file.
func newCA(t *testing.T) (*testserver.CA, string) {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	path, err := ca.WriteCertFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca, path
}

// serverTLS returns a server TLS configuration signed by ca for hosts.
func serverTLS(t *testing.T, ca *testserver.CA, hosts ...string) *tls.Config {
	t.Helper()
	cfg, err := ca.ServerTLSConfig(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newSender calls New and fails the test on an error; the Sender is
// closed when the test ends.
func newSender(t *testing.T, opts Options) *Sender {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Before the servers' cleanups, which may wait for the connections
	// to end.
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// secret returns an Options.Secret giving s.
func secret(s string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return s, nil }
}

// closedPort returns a port on 127.0.0.1 where nothing listens, nor
// will while the test runs.
func closedPort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(testserver.ClosedAddr(t))
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// message returns a valid message with the given ID.
func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Address: "alerts@example.test"},
		To:      []sdk.Address{{Name: "Ops", Address: "ops@example.test"}},
		Subject: "disk full on " + id,
		Text:    "The disk is full.\n",
	}
}

// checkDeliveryError compares err with want field by field (Err is not
// compared; callers check the cause with errors.Is or errors.As).
func checkDeliveryError(t *testing.T, err error, want *sdk.DeliveryError) *sdk.DeliveryError {
	t.Helper()
	de, ok := err.(*sdk.DeliveryError)
	if !ok {
		t.Fatalf("error %T (%v), want *sdk.DeliveryError", err, err)
	}
	if de.Kind != want.Kind {
		t.Errorf("Kind = %v, want %v (error: %v)", de.Kind, want.Kind, de)
	}
	if de.Code != want.Code {
		t.Errorf("Code = %q, want %q", de.Code, want.Code)
	}
	if de.Reply != want.Reply {
		t.Errorf("Reply = %q, want %q", de.Reply, want.Reply)
	}
	if de.Remedy != want.Remedy {
		t.Errorf("Remedy = %q, want %q", de.Remedy, want.Remedy)
	}
	return de
}

// rawServer is a hand-written SMTP server on 127.0.0.1 for the replies
// the testserver cannot give (a dying connection at a chosen command). It
// serves one connection, and refuses any after it (the listener closes):
// it greets, answers EHLO with 8BITMIME, reads a message after DATA up to
// the final ".", and asks reply for every command (for DATA, a 4xx or 5xx
// reply refuses it, any other lets the message come; and for "." at the
// end of DATA). When hangup is true it closes the connection after the
// reply; an empty reply is not sent, and the server reads on. Every
// command is recorded.
type rawServer struct {
	ln    net.Listener
	reply func(cmd string) (resp string, hangup bool)
	done  chan struct{}

	mu   sync.Mutex
	cmds []string
}

func startRawServer(t *testing.T, reply func(cmd string) (resp string, hangup bool)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, reply: reply, done: make(chan struct{})}
	go s.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		<-s.done
	})
	return s
}

func (s *rawServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// commands returns the commands received so far.
func (s *rawServer) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func (s *rawServer) serve() {
	defer close(s.done)
	c, err := s.ln.Accept()
	_ = s.ln.Close()
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	tp := textproto.NewConn(c)
	if err := tp.PrintfLine("220 raw.example.test ESMTP"); err != nil {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.cmds = append(s.cmds, line)
		s.mu.Unlock()
		verb := strings.ToUpper(strings.Fields(line + " ")[0])
		var resp string
		hangup := false
		switch verb {
		case "EHLO", "HELO":
			resp = "250-raw.example.test\r\n250 8BITMIME"
		case "DATA":
			if r, h := s.reply(verb); r != "" && (r[0] == '4' || r[0] == '5') {
				resp, hangup = r, h // DATA refused
				break
			}
			if err := tp.PrintfLine("354 go ahead"); err != nil {
				return
			}
			if _, err := tp.ReadDotBytes(); err != nil {
				return
			}
			resp, hangup = s.reply(".")
		default:
			resp, hangup = s.reply(verb)
		}
		if resp == "" && !hangup {
			continue
		}
		if err := tp.PrintfLine("%s", resp); err != nil {
			return
		}
		if hangup {
			return
		}
	}
}

// expiredTLS returns a server TLS configuration whose self-signed
// certificate for 127.0.0.1 expired an hour ago, and the path of a CA file
// that trusts it, so that expiry is the only thing wrong with it.
func expiredTLS(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(-time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "expired.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, path
}
