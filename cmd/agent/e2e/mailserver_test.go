package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The mail server of the suite: a private Postfix instance (its own
// config_directory, queue and log under one temporary directory, listening
// on 127.0.0.1 only) with submission + STARTTLS on one port and implicit TLS
// (smtps) on another, SASL through a private Dovecot's auth socket (PLAIN
// and LOGIN, users from a passwd-file), and Postfix's virtual delivery
// agent writing into a Maildir per mailbox, which the tests read. The
// machine's own Postfix and Dovecot are never configured or started.

// Domain is the only domain the server accepts mail for.
const domain = "e2e.test"

// The mailboxes: a login that may send, and the recipients.
const (
	senderUser = "alerts@" + domain
	senderPass = "s3cret-e2e"
	opsBox     = "ops"
	otherBox   = "other"
)

// requireServers skips the test unless the suite was asked for
// (TOCSIN_E2E=1, as `make e2e` sets) and can run: as root, with Postfix,
// Dovecot and swaks installed. Under CI=true a skip for a missing piece
// is a failure instead: CI must run the suite.
func requireServers(t *testing.T) {
	t.Helper()
	if os.Getenv("TOCSIN_E2E") != "1" {
		t.Skip("the real-mail-server suite runs with TOCSIN_E2E=1 (make e2e)")
	}
	skip := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("e2e cannot run under CI: %s", why)
		}
		t.Skip("e2e skipped: " + why)
	}
	if os.Geteuid() != 0 {
		skip("not root: Postfix's master must start as root (run make e2e as root, or in CI)")
	}
	for _, bin := range []string{"postfix", "dovecot", "swaks"} {
		if _, err := exec.LookPath(bin); err != nil {
			skip(bin + " is not installed: .ci/e2e/install installs it (as root)")
		}
	}
}

// mailServer is a running Postfix + Dovecot pair.
type mailServer struct {
	t       *testing.T
	dir     string // everything lives here
	caFile  string // the CA the server's certificate is signed by
	subAddr string // submission, STARTTLS required before AUTH
	tlsAddr string // smtps, TLS from the first byte
	dovecot *exec.Cmd
	// introspect is the OAuth token introspection endpoint Dovecot's
	// oauth2 passdb asks (RFC 7662, plain HTTP on 127.0.0.1); it answers
	// with the mailbox validate gives a token, if any.
	introspect *httptest.Server
	mu         sync.Mutex
	validate   func(token string) (mailbox string, ok bool)
}

// startMailServer writes the configurations and starts Dovecot then
// Postfix; both are stopped when the test ends.
func startMailServer(t *testing.T) *mailServer {
	t.Helper()
	requireServers(t)
	// Not t.TempDir: its directories are 0700, and Postfix's delivery
	// agent (as the mailbox owner) and Dovecot's auth process (as user
	// dovecot) must reach into this one.
	dir, err := os.MkdirTemp("", "tocsin-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("TOCSIN_E2E_KEEP") == "1" {
			t.Logf("mail server files (configs, logs, Maildirs) kept in %s", dir)
		} else {
			_ = os.RemoveAll(dir)
		}
	})
	must(t, os.Chmod(dir, 0o755))
	s := &mailServer{t: t, dir: dir, subAddr: freePort(t), tlsAddr: freePort(t)}
	s.caFile = writeCerts(t, dir)
	s.introspect = httptest.NewServer(http.HandlerFunc(s.serveIntrospection))
	t.Cleanup(s.introspect.Close)

	owner, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(owner.Uid)
	gid, _ := strconv.Atoi(owner.Gid)
	mailDir := filepath.Join(dir, "mail")
	must(t, os.MkdirAll(mailDir, 0o755))
	must(t, os.Chown(mailDir, uid, gid))
	// Postfix makes the queue's subdirectories (owned by its user) at
	// start; data_directory must be its user's already.
	for _, sub := range []string{"postfix", "spool", "data", "dovecot"} {
		must(t, os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	pf, err := user.Lookup("postfix")
	must(t, err)
	pfUID, _ := strconv.Atoi(pf.Uid)
	pfGID, _ := strconv.Atoi(pf.Gid)
	must(t, os.Chown(filepath.Join(dir, "data"), pfUID, pfGID))

	write(t, filepath.Join(dir, "vmailbox"), 0o644,
		fmt.Sprintf("%s@%s %s/\n%s@%s %s/\n", opsBox, domain, opsBox, otherBox, domain, otherBox))
	write(t, filepath.Join(dir, "dovecot", "users"), 0o644,
		fmt.Sprintf("%s:{PLAIN}%s\n", senderUser, senderPass))
	s.writeDovecotConf()
	s.writePostfixConf(uid, gid)

	s.startDovecot()
	s.postfix("start")
	t.Cleanup(func() { s.postfix("stop") })
	s.awaitListening()
	return s
}

func (s *mailServer) writeDovecotConf() {
	d := filepath.Join(s.dir, "dovecot")
	conf := fmt.Sprintf(`# Dovecot only authenticates, for Postfix's SASL: no mail protocols.
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = none
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login xoauth2 oauthbearer
disable_plaintext_auth = no
auth_verbose = yes
# Refusals answer at once: the suite refuses logins on purpose.
auth_failure_delay = 0
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %[1]s/oauth2.conf.ext
}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/home/%%u
}
# No growing penalty (anvil's) for repeated failures from 127.0.0.1 either.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener %[1]s/auth {
    mode = 0666
  }
}
`, d)
	write(s.t, filepath.Join(d, "dovecot.conf"), 0o644, conf)
	// The token's mailbox must be the one logging in.
	write(s.t, filepath.Join(d, "oauth2.conf.ext"), 0o644, fmt.Sprintf(`introspection_mode = post
introspection_url = %s/introspect
force_introspection = yes
username_attribute = email
active_attribute = active
active_value = true
`, s.introspect.URL))
}

func (s *mailServer) writePostfixConf(uid, gid int) {
	main := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/spool
data_directory = %[1]s/data
maillog_file = %[1]s/postfix.log
maillog_file_prefixes = %[1]s
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.%[2]s
mydomain = %[2]s
myorigin = %[2]s
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
alias_maps =
alias_database =
local_recipient_maps =
relayhost =
default_transport = error:the e2e server sends no mail out
virtual_mailbox_domains = %[2]s
virtual_mailbox_maps = texthash:%[1]s/vmailbox
virtual_mailbox_base = %[1]s/mail
virtual_uid_maps = static:%[3]d
virtual_gid_maps = static:%[4]d
virtual_minimum_uid = 1
smtpd_tls_cert_file = %[1]s/server.pem
smtpd_tls_key_file = %[1]s/server.key
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = %[1]s/dovecot/auth
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_helo_required = yes
smtpd_error_sleep_time = 0
# RFC 4954's minimum for an AUTH line: XOAUTH2 with a real-size token
# (the stand-ins issue 4 KiB ones) is over Postfix's default of 2048.
line_length_limit = 12288
`, s.dir, domain, uid, gid)
	_, subPort, _ := net.SplitHostPort(s.subAddr)
	_, tlsPort, _ := net.SplitHostPort(s.tlsAddr)
	master := fmt.Sprintf(`127.0.0.1:%s inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
127.0.0.1:%s inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, subPort, tlsPort)
	write(s.t, filepath.Join(s.dir, "postfix", "main.cf"), 0o644, main)
	write(s.t, filepath.Join(s.dir, "postfix", "master.cf"), 0o644, master)
}

func (s *mailServer) startDovecot() {
	s.t.Helper()
	cmd := exec.Command("dovecot", "-F", "-c", filepath.Join(s.dir, "dovecot", "dovecot.conf"))
	out, err := os.Create(filepath.Join(s.dir, "dovecot", "stdout.log"))
	must(s.t, err)
	cmd.Stdout, cmd.Stderr = out, out
	must(s.t, cmd.Start())
	_ = out.Close()
	s.dovecot = cmd
	s.t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	sock := filepath.Join(s.dir, "dovecot", "auth")
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(out.Name())
			l, _ := os.ReadFile(filepath.Join(s.dir, "dovecot", "dovecot.log"))
			s.t.Fatalf("dovecot made no auth socket in 15s:\n%s\n%s", b, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveIntrospection answers Dovecot's POST token=... with
// {"active":true,"email":MAILBOX} for a token validate knows, else
// {"active":false}.
func (s *mailServer) serveIntrospection(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	validate := s.validate
	s.mu.Unlock()
	resp := map[string]any{"active": false}
	if validate != nil {
		if mailbox, ok := validate(r.PostForm.Get("token")); ok {
			resp = map[string]any{"active": true, "email": mailbox}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// setValidator says which access tokens the server accepts, and for which
// mailbox.
func (s *mailServer) setValidator(v func(token string) (mailbox string, ok bool)) {
	s.mu.Lock()
	s.validate = v
	s.mu.Unlock()
}

// postfix runs `postfix -c DIR verb` (start, stop, ...).
func (s *mailServer) postfix(verb string) {
	s.t.Helper()
	cmd := exec.Command("postfix", "-c", filepath.Join(s.dir, "postfix"), verb)
	if b, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("postfix %s: %v\n%s\n%s", verb, err, b, s.log())
	}
}

// stop stops Postfix (the master and its daemons); start starts it again
// and waits until both ports answer.
func (s *mailServer) stop() {
	s.t.Helper()
	s.postfix("stop")
	deadline := time.Now().Add(20 * time.Second)
	for s.answers(s.subAddr) || s.answers(s.tlsAddr) {
		if time.Now().After(deadline) {
			s.t.Fatal("postfix still listens 20s after stop")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *mailServer) start() {
	s.t.Helper()
	s.postfix("start")
	s.awaitListening()
}

func (s *mailServer) awaitListening() {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !s.answers(s.subAddr) || !s.answers(s.tlsAddr) {
		if time.Now().After(deadline) {
			s.t.Fatalf("postfix does not listen on %s and %s:\n%s", s.subAddr, s.tlsAddr, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *mailServer) answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// log returns Postfix's and Dovecot's logs, for failure messages.
func (s *mailServer) log() string {
	p, _ := os.ReadFile(filepath.Join(s.dir, "postfix.log"))
	d, _ := os.ReadFile(filepath.Join(s.dir, "dovecot", "dovecot.log"))
	return "--- postfix.log\n" + tail(string(p), 6000) + "--- dovecot.log\n" + tail(string(d), 3000)
}

// arrival is a mail in the Maildir: when it was written, and its headers.
type arrival struct {
	at     time.Time
	header mail.Header
}

// arrivals reads the mailbox's mails with their mailbox times.
func (s *mailServer) arrivals(mailbox string) []arrival {
	s.t.Helper()
	var out []arrival
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(s.dir, "mail", mailbox, sub)
		ents, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		}
		must(s.t, err)
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			info, err := os.Stat(p)
			if os.IsNotExist(err) {
				continue // moved from new/ to cur/ meanwhile
			}
			must(s.t, err)
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				continue
			}
			must(s.t, err)
			m, err := mail.ReadMessage(bytes.NewReader(b))
			if err != nil {
				s.t.Fatalf("unparsable message %s: %v", p, err)
			}
			out = append(out, arrival{at: info.ModTime(), header: m.Header})
		}
	}
	slices.SortFunc(out, func(a, b arrival) int { return a.at.Compare(b.at) })
	return out
}

// delivered reads the Maildir of mailbox (new/ and cur/) and returns each
// message's headers, in the order they were written.
func (s *mailServer) delivered(mailbox string) []mail.Header {
	s.t.Helper()
	var out []mail.Header
	for _, a := range s.arrivals(mailbox) {
		out = append(out, a.header)
	}
	return out
}

// distinct is the number of distinct Message-IDs in mailbox.
func (s *mailServer) distinct(mailbox string) int {
	ids := map[string]bool{}
	for _, h := range s.delivered(mailbox) {
		ids[h.Get("Message-ID")] = true
	}
	return len(ids)
}

// queued is the number of messages in Postfix's queue (not yet delivered).
func (s *mailServer) queued() int {
	s.t.Helper()
	n := 0
	for _, q := range []string{"incoming", "active", "deferred", "maildrop", "hold"} {
		_ = filepath.Walk(filepath.Join(s.dir, "spool", q), func(_ string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				n++
			}
			return nil
		})
	}
	return n
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and
// mail.e2e.test signed by it, writes server.pem, server.key and ca.pem into
// dir, and returns ca.pem's path.
func writeCerts(t *testing.T, dir string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Tocsin e2e CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "mail." + domain},
		DNSNames:     []string{"mail." + domain, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	pemOf := func(typ string, b []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}))
	}
	write(t, filepath.Join(dir, "server.pem"), 0o644, pemOf("CERTIFICATE", der)+pemOf("CERTIFICATE", caDER))
	write(t, filepath.Join(dir, "server.key"), 0o600, pemOf("PRIVATE KEY", keyDER))
	caFile := filepath.Join(dir, "ca.pem")
	write(t, caFile, 0o644, pemOf("CERTIFICATE", caDER))
	return caFile
}

func write(t *testing.T, path string, mode os.FileMode, content string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), mode))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// swaks runs the independent client against the server and returns its
// output and whether it exited 0.
func (s *mailServer) swaks(args ...string) (string, bool) {
	s.t.Helper()
	cmd := exec.Command("swaks", append([]string{"--server", "127.0.0.1", "--helo", "client.e2e.test", "--timeout", "20"}, args...)...)
	b, err := cmd.CombinedOutput()
	return string(b), err == nil
}

func splitPort(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	must(t, err)
	return host, port
}

// tlsConfig trusts the server's CA.
func (s *mailServer) tlsConfig() *tls.Config {
	s.t.Helper()
	pemBytes, err := os.ReadFile(s.caFile)
	must(s.t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}
