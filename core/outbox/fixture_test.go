package outbox

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// The outbox files under testdata were written by earlier releases, one
// per format: testdata/outbox-v<N>.db. TestWriteFixtures writes the file
// of the current format with the code as it is; it runs only when
// TOCSIN_WRITE_FIXTURES=1 and is run once per format, when the format
// changes, never to overwrite an older one. TestFixtures opens every
// committed file with today's code: every entry must survive, and the
// file must be migrated to the current format.

// fixtureEnv asks TestWriteFixtures to write the current format's file.
const fixtureEnv = "TOCSIN_WRITE_FIXTURES"

// fixtureT0 is the fixtures' clock start.
var fixtureT0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// fixtureEntries are the entries of the v1 fixture, as it holds them:
// pending ones fresh and with failed attempts on several hops and
// transports, a dead one, and a large one that takes overflow pages.
func fixtureEntries() []*Entry {
	big := make([]byte, 6000)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	at := func(min int) time.Time { return fixtureT0.Add(time.Duration(min) * time.Minute) }
	return []*Entry{
		{
			ID: "20261201T080000Z.fresh@appliance-a", Rule: "disk_full", Event: "fire", Contact: "ops",
			Via: []string{"smtp"}, Hop: 0, State: Pending,
			Mail: Mail{
				To:      []sdk.Address{{Name: "Ops", Address: "ops@example.com"}},
				Subject: "appliance-a: disk full", Text: "97% full", HTML: "<p>97% full</p>",
				Headers: []sdk.Header{{Name: "X-Tocsin-Event", Value: "fire"}},
			},
			EnqueuedAt: at(0), NextAttempt: at(0),
		},
		{
			ID: "20261201T080100Z.retrying@appliance-a", Rule: "backup_isolated", Event: "fire", Contact: "ops",
			Via: []string{"smtp", "graph"}, Hop: 0, State: Pending,
			Mail:       Mail{To: []sdk.Address{{Address: "ops@example.com"}}, Subject: "appliance-a: backup isolated", Text: "no peer"},
			EnqueuedAt: at(1), HopSince: at(1), NextAttempt: at(9),
			Attempts: 3, TotalAttempts: 3,
			Last: &Attempt{At: at(5), Transport: "smtp", Kind: "temporary", Code: "421", Reply: "421 4.3.2 try again later", Remedy: "The server is busy; tocsin retries.", Error: "temporary error 421: try again later"},
		},
		{
			ID: "20261201T080200Z.fellback@appliance-a", Rule: "sync_stale", Event: "repeat", Contact: "boss",
			Via: []string{"smtp", "graph", "gmail"}, Hop: 2, State: Pending,
			Mail: Mail{
				To:          []sdk.Address{{Name: "Boss", Address: "boss@example.com"}, {Address: "cc@example.com"}},
				Subject:     "appliance-a: sync stale",
				Text:        "stale",
				Attachments: []sdk.Attachment{{Filename: "tail.log", ContentType: "text/plain", Data: big}},
			},
			EnqueuedAt: at(2), HopSince: at(30), NextAttempt: at(31),
			Attempts: 1, TotalAttempts: 12,
			Last:      &Attempt{At: at(30), Transport: "gmail", Kind: "temporary", Error: "temporary error: dial tcp 192.0.2.1:587: connection refused", Wait: 90 * time.Second},
			RetriedAt: at(20),
		},
		{
			ID: "20261201T080300Z.dead@appliance-a", Rule: "daily_heartbeat", Event: "fire", Contact: "ops",
			Via: []string{"graph"}, Hop: 1, State: Dead,
			Mail:       Mail{To: []sdk.Address{{Address: "ops@example.com"}}, Subject: "appliance-a: heartbeat"},
			EnqueuedAt: at(3), HopSince: at(3), NextAttempt: at(3),
			Attempts: 1, TotalAttempts: 1,
			Last: &Attempt{At: at(4), Transport: "graph", Kind: "permanent", Code: "ErrorSendAsDenied", Reply: `{"error":{"code":"ErrorSendAsDenied"}}`, Remedy: "Grant Send As to the app.", Error: "permanent error ErrorSendAsDenied: not allowed to send as"},
		},
	}
}

// TestWriteFixtures writes testdata/outbox-v<formatVersion>.db with the
// current code. Run it once for a new format:
//
//	TOCSIN_WRITE_FIXTURES=1 go test -run TestWriteFixtures ./core/outbox/
func TestWriteFixtures(t *testing.T) {
	if os.Getenv(fixtureEnv) != "1" {
		t.Skip("set " + fixtureEnv + "=1 to write the fixture of the current format")
	}
	dst := filepath.Join("testdata", fixtureName(formatVersion))
	if _, err := os.Stat(dst); err == nil {
		t.Fatalf("%s exists: a fixture of a released format is never rewritten", dst)
	}
	c := &clock{now: fixtureT0}
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range fixtureEntries() {
		fresh := *e
		fresh.State, fresh.Last, fresh.Attempts, fresh.TotalAttempts, fresh.Hop = Pending, nil, 0, 0, 0
		if err := o.Enqueue(ctx, &fresh); err != nil {
			t.Fatal(err)
		}
		if err := o.Save(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	// Something enqueued and sent leaves free pages behind, as in use.
	sent := &Entry{ID: "sent@appliance-a", Rule: "r", Event: "fire", Contact: "ops", Via: []string{"smtp"}}
	if err := o.Enqueue(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(ctx, sent.ID); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, path, dst)
	t.Logf("wrote %s", dst)
}

// fixtureName is the file name of format v's fixture.
func fixtureName(v int) string { return "outbox-v" + strconv.Itoa(v) + ".db" }

// copyFile copies src to dst (mode 0600).
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// openFixture copies the fixture of format v to a temporary directory and
// returns the copy's path.
func openFixture(t *testing.T, v int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	copyFile(t, filepath.Join("testdata", fixtureName(v)), path)
	return path
}

// TestFixtures opens the outbox files of every earlier format with
// today's code: every entry survives, in its state, with its attempts and
// last error, and the file is migrated to the current format.
func TestFixtures(t *testing.T) {
	for v := 1; v <= formatVersion; v++ {
		t.Run("v"+strconv.Itoa(v), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join("testdata", fixtureName(v))); err != nil {
				t.Fatalf("the fixture of format %d is missing (TOCSIN_WRITE_FIXTURES=1 go test -run TestWriteFixtures writes the current one): %v", v, err)
			}
			path := openFixture(t, v)
			c := &clock{now: fixtureT0.Add(time.Hour)}
			o, err := Open(path, Options{Now: c.Now})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer o.Close()
			checkFixtureEntries(t, o)
			if got, err := o.format(); err != nil || got != formatVersion {
				t.Errorf("format after Open = %d, %v; want %d", got, err, formatVersion)
			}
			// What a migrated file holds works: the due entries come out,
			// and a reopen finds them again.
			due, _, err := o.Due(0)
			if err != nil || len(due) != 3 {
				t.Errorf("Due = %d entries, %v; want the 3 pending ones", len(due), err)
			}
			o = reopen(t, o)
			checkFixtureEntries(t, o)
			st, err := o.Stats()
			if err != nil || st.Pending != 3 || st.Dead != 1 || !st.OldestPending.Equal(fixtureT0) {
				t.Errorf("Stats = %+v, %v; want 3 pending (oldest %s) and 1 dead", st, err, fixtureT0)
			}
		})
	}
}

// checkFixtureEntries checks that o holds exactly fixtureEntries.
func checkFixtureEntries(t *testing.T, o *Outbox) {
	t.Helper()
	want := fixtureEntries()
	got, err := o.List("")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("List = %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameEntry(got[i], want[i]) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// sameEntry compares entries, times by instant.
func sameEntry(a, b *Entry) bool {
	norm := func(e *Entry) Entry {
		c := *e
		for _, p := range []*time.Time{&c.EnqueuedAt, &c.HopSince, &c.NextAttempt, &c.RetriedAt} {
			*p = p.UTC()
		}
		if c.Last != nil {
			l := *c.Last
			l.At = l.At.UTC()
			c.Last = &l
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// A future format's migration runs once, in order, and the version is
// recorded; a new file gets the current format at once.
func TestMigrate(t *testing.T) {
	path := openFixture(t, 1)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ran []int
	steps := map[int]func(*bolt.Tx) error{
		1: func(tx *bolt.Tx) error { ran = append(ran, 1); return nil },
		2: func(tx *bolt.Tx) error {
			ran = append(ran, 2)
			_, err := tx.CreateBucket([]byte("idempotency"))
			return err
		},
	}
	for range 2 {
		if err := db.Update(func(tx *bolt.Tx) error { return migrate(tx, 3, steps) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(ran) != 2 || ran[0] != 1 || ran[1] != 2 {
		t.Fatalf("steps ran %v; want [1 2] once", ran)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if v, err := fileFormat(tx); v != 3 || err != nil {
			t.Errorf("format = %d, %v; want 3", v, err)
		}
		if tx.Bucket([]byte("idempotency")) == nil {
			t.Error("step 2 did not run in the transaction")
		}
		return nil
	})
	err = db.Update(func(tx *bolt.Tx) error { return migrate(tx, 5, steps) })
	if err == nil || !strings.Contains(err.Error(), "no migration from format 3 to 4") {
		t.Fatalf("missing step: %v", err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return migrate(tx, 2, steps) })
	if nf := (*newerFormat)(nil); !errors.As(err, &nf) || nf.version != 3 {
		t.Fatalf("newer file: %v", err)
	}
	// A new file: no steps, the current format.
	nb, err := bolt.Open(filepath.Join(t.TempDir(), "new.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	ran = nil
	_ = nb.Update(func(tx *bolt.Tx) error {
		if err := migrate(tx, 3, steps); err != nil {
			t.Fatal(err)
		}
		if v, _ := fileFormat(tx); v != 3 || len(ran) != 0 {
			t.Errorf("new file: format %d, steps %v; want 3 and none", v, ran)
		}
		return nil
	})
}

// CommitFault fails writes as a full disk does, and nothing is stored;
// once it stops, writes succeed again.
func TestOpen_CommitFault(t *testing.T) {
	var full atomic.Bool
	enospc := &fs.PathError{Op: "write", Path: "outbox.db", Err: syscall.ENOSPC}
	o, err := Open(filepath.Join(t.TempDir(), "outbox.db"), Options{CommitFault: func() error {
		if full.Load() {
			return enospc
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	full.Store(true)
	err = o.Enqueue(ctx, &Entry{ID: "a@x", Via: []string{"smtp"}})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Enqueue on a full disk = %v; want ENOSPC", err)
	}
	if st, _ := o.Stats(); st.Pending != 0 {
		t.Fatalf("stored %d entries on a full disk", st.Pending)
	}
	full.Store(false)
	if err := o.Enqueue(ctx, &Entry{ID: "a@x", Via: []string{"smtp"}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := o.Stats(); st.Pending != 1 {
		t.Fatalf("stored %d entries, want 1", st.Pending)
	}
}
