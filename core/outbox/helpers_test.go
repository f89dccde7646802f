package outbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// t0 is the tests' clock start.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// openTest opens an outbox in a temporary directory with a clock at t0.
func openTest(t testing.TB) (*Outbox, string, *clock) {
	t.Helper()
	c := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := Open(path, Options{Now: c.Now, ConfigPath: "/etc/tocsin/tocsin.hcl"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o, path, c
}

// reopen closes o and opens its file again.
func reopen(t testing.TB, o *Outbox) *Outbox {
	t.Helper()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o2, err := Open(o.path, Options{Now: o.now})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { _ = o2.Close() })
	return o2
}

// mailText and mailHTML are a realistic rendered alert, about 4 KB.
var mailText, mailHTML = func() (text, html string) {
	var tb, hb strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&tb, "disk /var/lib/postgres on db-%02d is 97%% full (threshold 90%%), growing 1.2 GB/h\n", i)
		fmt.Fprintf(&hb, "<tr><td>db-%02d</td><td>/var/lib/postgres</td><td>97%%</td><td>1.2 GB/h</td></tr>\n", i)
	}
	return tb.String(), "<html><body><table>" + hb.String() + "</table></body></html>"
}()

// newEntry is a pending entry with the fields a rule fills in.
func newEntry(id string) *Entry {
	return &Entry{
		ID:      id,
		Rule:    "disk_full",
		Event:   "db-07:/var/lib/postgres",
		Contact: "dba",
		Via:     []string{"graph", "smtp-backup"},
		Mail: Mail{
			To:      []sdk.Address{{Name: "DBA on call", Address: "dba@example.org"}, {Address: "ops@example.org"}},
			Subject: "[FIRING] disk_full db-07",
			Text:    mailText,
			HTML:    mailHTML,
			Headers: []sdk.Header{{Name: "X-Tocsin-Rule", Value: "disk_full"}},
		},
	}
}

// fullEntry is an entry with every field set, attachments included.
func fullEntry(id string) *Entry {
	e := newEntry(id)
	data := make([]byte, 3000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.IntN(256))
	}
	e.Mail.Attachments = []sdk.Attachment{
		{Filename: "df.txt", ContentType: "text/plain", Data: []byte("Filesystem 1K-blocks Used\n")},
		{Filename: "core.bin", Data: data},
	}
	e.Hop = 1
	e.State = Pending
	e.EnqueuedAt = t0.Add(-time.Hour)
	e.HopSince = t0.Add(-10 * time.Minute)
	e.NextAttempt = t0.Add(5 * time.Minute)
	e.Attempts = 3
	e.TotalAttempts = 7
	e.Last = &Attempt{
		At:        t0.Add(-time.Minute),
		Transport: "smtp-backup",
		Kind:      "temporary",
		Code:      "451",
		Reply:     "451 4.3.0 try again later",
		Remedy:    "the server is busy; tocsin retries",
		Error:     "send: 451 4.3.0 try again later",
		Wait:      90 * time.Second,
	}
	return e
}

// ids returns the IDs of entries.
func ids(entries []*Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

// indexCounts returns the number of keys in the due and states indexes
// and whether they hold exactly what the entries call for.
func indexCounts(t testing.TB, o *Outbox) (due, states int, consistent bool) {
	t.Helper()
	err := o.db.View(func(tx *bolt.Tx) error {
		due = tx.Bucket(dueBucket).Stats().KeyN
		states = tx.Bucket(statesBucket).Stats().KeyN
		var err error
		consistent, err = checkEntries(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return due, states, consistent
}

// mustEnqueue enqueues entries or fails the test.
func mustEnqueue(t testing.TB, o *Outbox, entries ...*Entry) {
	t.Helper()
	if err := o.Enqueue(context.Background(), entries...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}
