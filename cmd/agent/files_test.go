//go:build unix

package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// basicTransport is a transport whose plugin takes no login.
const basicTransport = `
transport "basic" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host = "127.0.0.1"
    port = 2525
    auth = "none"
  }
}
`

// tokenSetup is newDelegatedSetup with a transport "basic" that takes no
// login, and a token stored for m365 with a key in data_dir/token.key.
func tokenSetup(t *testing.T) (s *delegatedSetup, keyFile string) {
	t.Helper()
	s = newDelegatedSetup(t)
	f, err := os.OpenFile(s.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(basicTransport); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	var k tokenstore.Key
	_, _ = rand.Read(k[:])
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(s.dataDir, "token.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(k[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := tokenstore.Open(filepath.Join(s.dataDir, "tokens"), k)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(tokenstore.Entry{Transport: "m365", RefreshToken: "rt-stored", Account: msMailbox}); err != nil {
		t.Fatal(err)
	}
	return s, keyFile
}

// runBounded runs the CLI and fails the test if it does not return: a
// guard against a hang, not a timing assertion.
func runBounded(t *testing.T, args ...string) cliResult {
	t.Helper()
	done := make(chan cliResult, 1)
	go func() { done <- runCLI(t, args...) }()
	select {
	case r := <-done:
		return r
	case <-time.After(2 * time.Minute):
		t.Fatalf("tocsin %s did not return", strings.Join(args, " "))
		return cliResult{}
	}
}

// Issue 11, 19: validate and oauth status say that the key is missing
// instead of generating one and blaming the stored login.
func TestTokenKey_MissingIsReportedNotGenerated(t *testing.T) {
	s, keyFile := tokenSetup(t)
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "-config", s.config},
		{"oauth", "status", "-config", s.config},
	} {
		r := runBounded(t, args...)
		out := r.stdout + r.stderr
		if !strings.Contains(out, keyFile+" does not exist") {
			t.Errorf("%s does not say the key file is missing:\n%s", args[0], out)
		}
		if strings.Contains(out, "not the one the token was stored with") {
			t.Errorf("%s blames the stored login:\n%s", args[0], out)
		}
		if _, err := os.Lstat(keyFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s generated the key file", args[0])
		}
	}
}

// Issue 11, 22: a token store problem is reported against the transports
// that have a token, not against one that takes no login.
func TestTokenStore_ProblemNamesItsTransports(t *testing.T) {
	s, keyFile := tokenSetup(t)
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBounded(t, "validate", "-config", s.config)
	out := r.stdout + r.stderr
	if !strings.Contains(out, `transport "m365" by tocsin oauth login cannot be read`) || !strings.Contains(out, "chmod 600") {
		t.Errorf("validate does not report the key against m365:\n%s", out)
	}
	if strings.Contains(out, `transport "basic" by tocsin oauth login`) {
		t.Errorf("validate reports the token store against basic, which has no login:\n%s", out)
	}
}

// Issue 11, 20: a FIFO at tokens/NAME.token is refused, not waited on.
func TestTokenStore_FIFOIsRefused(t *testing.T) {
	s, _ := tokenSetup(t)
	fifo := filepath.Join(s.dataDir, "tokens", "m365.token")
	if err := os.Remove(fifo); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "-config", s.config},
		{"oauth", "status", "-config", s.config},
	} {
		r := runBounded(t, args...)
		if out := r.stdout + r.stderr; !strings.Contains(out, "FIFO") {
			t.Errorf("%s does not refuse the FIFO:\n%s", args[0], out)
		}
	}
}

// Issue 11, 21: tocsin oauth login run as root against a data_dir of the
// agent's user leaves the key, the tokens directory and the token to that
// user.
func TestOAuthLogin_RootLeavesFilesToDataDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	s := newDelegatedSetup(t)
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(s.dataDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	codeLine := regexp.MustCompile(`enter the code (\S+)$`)
	r := s.login(t, func(line string) {
		if m := codeLine.FindStringSubmatch(line); m != nil {
			if err := s.id.Approve(m[1]); err != nil {
				t.Errorf("approve %s: %v", m[1], err)
			}
		}
	}, "-device")
	if r.code != exitOK {
		t.Fatalf("oauth login: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{
		filepath.Join(s.dataDir, "token.key"),
		filepath.Join(s.dataDir, "tokens"),
		filepath.Join(s.dataDir, "tokens", "m365.token"),
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s belongs to %d:%d, want 65534:65534", p, st.Uid, st.Gid)
		}
	}
}

// Issue 11, 18: the agent refuses a data_dir that others may write, and a
// link planted there, saying what to do, and creates nothing elsewhere.
func TestRun_UnsafeDataDirRefused(t *testing.T) {
	withPlugins(t)
	srv := testserver.StartT(t, testserver.Options{})
	path, dataDir := burstConfig{rules: 1, contacts: 1, transports: map[string]string{"relay": srv.Addr()}, via: []string{"relay"}}.write(t, freePort(t))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dataDir, 0o777); err != nil {
		t.Fatal(err)
	}
	r := runBounded(t, "run", "-config", path)
	if r.code != exitError || !strings.Contains(r.stderr, "chmod go-w "+dataDir) {
		t.Fatalf("run with a world-writable data_dir: exit %d\n%s", r.code, r.stderr)
	}

	if err := os.Chmod(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "planted")
	if err := os.Symlink(elsewhere, filepath.Join(dataDir, "state.db")); err != nil {
		t.Fatal(err)
	}
	r = runBounded(t, "run", "-config", path)
	if r.code != exitError || !strings.Contains(r.stderr, "symbolic link") {
		t.Fatalf("run with a link at state.db: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Lstat(elsewhere); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the agent created the link's target: %v", err)
	}
}

// Issue 11, 21: tocsin outbox retry run as root on the outbox file leaves
// it to data_dir's owner, even one that an earlier root command left to
// root.
func TestOutboxRetry_RootLeavesFileToDataDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cfg, ob := outboxConfig(t, deadListen(t))
	seedOutboxFile(t, ob)
	if err := os.Chown(filepath.Dir(ob), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "outbox", "retry", deadID, "-config", cfg)
	if r.code != exitOK {
		t.Fatalf("outbox retry: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fi, err := os.Stat(ob)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("outbox.db belongs to %d:%d, want 65534:65534", st.Uid, st.Gid)
	}
}
