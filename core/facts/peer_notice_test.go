package facts

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/identity"
)

// TestPeerNotices_running: a notice is forgotten only by an answer as
// running that the peer gave after its notice; one on its way when the
// notice came keeps it.
func TestPeerNotices_running(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		answered time.Time
		kept     bool
	}{
		{"answered before the notice", at.Add(-time.Second), true},
		{"answered at the notice", at, true},
		{"answered after the notice", at.Add(time.Second), false},
		{"answered without a time", time.Time{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := OpenPeerNotices("", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Set("partner", StopNotice{Node: "a", Reason: "signal SIGTERM", StoppedAt: at}); err != nil {
				t.Fatal(err)
			}
			if err := n.running("other", at.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := n.running("partner", tc.answered); err != nil {
				t.Fatal(err)
			}
			if _, kept := n.Get("partner"); kept != tc.kept {
				t.Errorf("kept = %v, want %v", kept, tc.kept)
			}
		})
	}
	var none *PeerNotices
	if err := none.Set("partner", StopNotice{}); err != nil {
		t.Errorf("nil notices: Set = %v", err)
	}
	if _, ok := none.Get("partner"); ok {
		t.Error("nil notices hold a notice")
	}
}

// TestPeerNotices_file: the notices outlive a restart of the agent (a new
// OpenPeerNotices of the same file), until the peer answers as running; a
// damaged file is an error that says what to do, with no notices.
func TestPeerNotices_file(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "peer_notices.json")
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	n, err := OpenPeerNotices(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := StopNotice{Node: "appliance-a", Reason: "signal SIGTERM", StoppedAt: at}
	if err := n.Set("partner", want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file: %v, %v; want mode 0600", fi, err)
	}
	again, err := OpenPeerNotices(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := again.Get("partner"); !ok || got != want {
		t.Fatalf("after a restart: %+v, %v; want %+v", got, ok, want)
	}
	if err := again.running("partner", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	third, err := OpenPeerNotices(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := third.Get("partner"); ok {
		t.Fatalf("the notice outlived the peer's answer as running: %+v", got)
	}

	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	damaged, err := OpenPeerNotices(path, nil)
	if err == nil || !strings.Contains(err.Error(), "remove the file") {
		t.Errorf("damaged file: error %v; want one that says to remove it", err)
	}
	if damaged == nil {
		t.Fatal("no notices for a damaged file")
	}
	if err := damaged.Set("partner", want); err != nil {
		t.Errorf("Set after a damaged file: %v", err)
	}
}

// TestCheckPeer_stopping: a peer whose status says it is stopping has
// stopping, stopped_at and stop_reason set and its notice kept; one that
// answers as running afterwards has stopping false and the notice gone.
func TestCheckPeer_stopping(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var (
		mu   sync.Mutex
		body string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	answer := func(st Status) {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		body = string(b)
		mu.Unlock()
	}
	n, err := OpenPeerNotices("", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := systemEnv(time.Now)
	e.notices = n
	spec := Spec{Name: "partner", Kind: KindPeer, Peer: &PeerSpec{URL: srv.URL}}

	answer(Status{Stopping: true, StoppedAt: &at, StopReason: "signal SIGTERM", Node: NodeStatus{Name: "appliance-a"}, Time: at.Add(time.Second)})
	f := runWith(t, spec, e)
	wantOK(t, f, true, "")
	if !boolean(t, f, "stopping") || str(t, f, "stopped_at") != "2026-12-06T12:00:00Z" || str(t, f, "stop_reason") != "signal SIGTERM" {
		t.Errorf("stopping peer: stopping %v, stopped_at %v, stop_reason %v", value(t, f, "stopping"), value(t, f, "stopped_at"), value(t, f, "stop_reason"))
	}
	if got, ok := n.Get("partner"); !ok || got.Node != "appliance-a" || !got.StoppedAt.Equal(at) {
		t.Errorf("notice kept: %+v, %v", got, ok)
	}

	answer(Status{Node: NodeStatus{Name: "appliance-a"}, Time: at.Add(time.Hour)})
	f = runWith(t, spec, e)
	if boolean(t, f, "stopping") || !isNull(t, f, "stopped_at") {
		t.Errorf("running peer: stopping %v, stopped_at %v", value(t, f, "stopping"), value(t, f, "stopped_at"))
	}
	if _, ok := n.Get("partner"); ok {
		t.Error("the notice outlived the peer's answer as running")
	}
	// A peer read with Run, without notices, has stopping false.
	if f := runCheck(t, spec); boolean(t, f, "stopping") {
		t.Error("stopping without a notice")
	}
}

// TestRunner_Renotice: a peer polled at the slowest interval (a day: its
// every has no upper bound, and here it runs once, at the start) carries
// a notice that comes between its runs at once, and Changed says so, so
// that the rules reading it are evaluated; the peer's next failed run
// still carries it.
func TestRunner_Renotice(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Status{Node: NodeStatus{Name: "appliance-a"}, Time: time.Now()})
	}))
	n, err := OpenPeerNotices("", nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "partner", Kind: KindPeer, Every: 24 * time.Hour, Peer: &PeerSpec{URL: srv.URL}}
	r, err := NewRunner(nil, []Spec{spec}, WithPeerNotices(n))
	if err != nil {
		t.Fatal(err)
	}
	r.Start(t.Context())
	t.Cleanup(r.Stop)
	if err := r.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	if f := r.Snapshot()["partner"]; !f.OK || boolean(t, f, "stopping") {
		t.Fatalf("first run: ok %v, stopping %v", f.OK, value(t, f, "stopping"))
	}
	if r.Renotice("partner") {
		select {
		case <-r.Changed():
			t.Error("a renotice without a notice changed the fact")
		default:
		}
	}

	at := time.Now().UTC().Truncate(time.Second)
	if err := n.Set("partner", StopNotice{Node: "appliance-a", Reason: "signal SIGTERM", StoppedAt: at}); err != nil {
		t.Fatal(err)
	}
	if !r.Renotice("partner") || r.Renotice("nothing") {
		t.Fatal("Renotice: the peer's fact, and no other, is recorded again")
	}
	f := r.Snapshot()["partner"]
	if !boolean(t, f, "stopping") || str(t, f, "stopped_at") != at.Format(time.RFC3339) || str(t, f, "stop_reason") != "signal SIGTERM" {
		t.Errorf("after the notice: stopping %v, stopped_at %v, stop_reason %v", value(t, f, "stopping"), value(t, f, "stopped_at"), value(t, f, "stop_reason"))
	}
	select {
	case <-r.Changed():
	default:
		t.Error("the notice is not a change")
	}
	if ch := r.TakeChanged()["partner"]; boolean(t, ch.Before, "stopping") || !boolean(t, ch.After, "stopping") {
		t.Errorf("change: before %v, after %v", value(t, ch.Before, "stopping"), value(t, ch.After, "stopping"))
	}

	// The peer is gone: its next run fails, and still carries the notice.
	srv.Close()
	failed := Run(t.Context(), spec, nil)
	failed.Check = spec.Name
	r.record(failed) // as the loop records the peer's next run
	f = r.Snapshot()["partner"]
	if f.OK || !boolean(t, f, "stopping") {
		t.Errorf("failed run after the notice: ok %v, stopping %v", f.OK, value(t, f, "stopping"))
	}
}

// TestAnnounceStop: the notice goes to the peer's StopNoticePath over the
// pinned link, with this agent's identity and the peer's token; an
// impostor at the partner's address is not told; a peer that refuses
// gives an error with its answer.
func TestAnnounceStop(t *testing.T) {
	t.Parallel()
	type seen struct {
		path, cert, auth string
		notice           StopNotice
	}
	serve := func(t *testing.T, status int) (*identity.Identity, string, func() []seen) {
		id, err := identity.Load(t.TempDir(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		tc, err := identity.ServerConfig(id, "")
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu  sync.Mutex
			got []seen
		)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := seen{path: r.Method + " " + r.URL.Path, auth: r.Header.Get("Authorization")}
			s.cert, _ = identity.PeerFingerprint(r.TLS)
			s.notice, _ = DecodeStopNotice(r.Body)
			mu.Lock()
			got = append(got, s)
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			if status >= 400 {
				fmt.Fprint(w, `{"error": "only the partner may announce its stop"}`)
			}
		})}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(tls.NewListener(ln, tc)) }()
		t.Cleanup(func() { _ = srv.Close() })
		return id, "https://" + ln.Addr().String(), func() []seen {
			mu.Lock()
			defer mu.Unlock()
			return append([]seen(nil), got...)
		}
	}
	self := t.TempDir()
	own, err := identity.Load(self, "", "")
	if err != nil {
		t.Fatal(err)
	}
	token := writeFile(t, "token", "peer-token-0123456789abcdef")
	if err := os.Chmod(token, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	notice := StopNotice{Node: "appliance-a", Reason: "signal SIGTERM", StoppedAt: at}

	partner, url, got := serve(t, http.StatusNoContent)
	if err := AnnounceStop(t.Context(), &PeerSpec{URL: url, Fingerprint: partner.Fingerprint(), IdentityDir: self, TokenFile: token}, notice); err != nil {
		t.Fatalf("AnnounceStop: %v", err)
	}
	if g := got(); len(g) != 1 || g[0].path != "POST "+StopNoticePath || g[0].cert != own.Fingerprint() ||
		g[0].auth != "Bearer peer-token-0123456789abcdef" || g[0].notice != notice {
		t.Errorf("the partner saw %+v; want one POST %s with this agent's certificate %s, its token and %+v", g, StopNoticePath, own.Fingerprint(), notice)
	}

	_, impostorURL, impostorGot := serve(t, http.StatusNoContent)
	err = AnnounceStop(t.Context(), &PeerSpec{URL: impostorURL, Fingerprint: partner.Fingerprint(), IdentityDir: self}, notice)
	if err == nil || !strings.Contains(err.Error(), "not the partner") || len(impostorGot()) != 0 {
		t.Errorf("impostor: %v, it saw %d requests; want not the partner, and none", err, len(impostorGot()))
	}

	refusing, refusingURL, _ := serve(t, http.StatusForbidden)
	err = AnnounceStop(t.Context(), &PeerSpec{URL: refusingURL, Fingerprint: refusing.Fingerprint(), IdentityDir: self}, notice)
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden: only the partner may announce its stop") {
		t.Errorf("refused: %v", err)
	}

	// Off this host over plain HTTP, without insecure: not sent at all.
	err = AnnounceStop(t.Context(), &PeerSpec{URL: "http://192.0.2.1:9870"}, notice)
	if err == nil || !strings.Contains(err.Error(), "not told: http://192.0.2.1:9870 is plain HTTP") {
		t.Errorf("plain HTTP off the host: %v", err)
	}
}
