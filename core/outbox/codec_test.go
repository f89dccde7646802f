package outbox

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// goldenEntry is an entry with every field set, attachments and headers
// included: testdata/entry-v1.json holds its record, as format 1 writes it.
func goldenEntry() *Entry {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	return &Entry{
		ID: "20261201T080000Z.golden@appliance-a", Rule: "sync_stale", Event: "repeat", Contact: "boss",
		Via: []string{"smtp", "graph"}, Hop: 1, State: Pending,
		Mail: Mail{
			To:      []sdk.Address{{Name: "Boss", Address: "boss@example.com"}, {Address: "cc@example.com"}},
			Subject: "appliance-a: sync <stale> & late",
			Text:    "stale\n",
			HTML:    "<p>stale</p>",
			Attachments: []sdk.Attachment{
				{Filename: "tail.log", ContentType: "text/plain; charset=utf-8", Data: []byte("line 1\nline 2\n")},
				{Filename: "empty.bin"},
			},
			Headers: []sdk.Header{{Name: "X-Tocsin-Rule", Value: "sync_stale"}, {Name: "X-Tocsin-Event", Value: "repeat"}},
		},
		EnqueuedAt:    t0,
		HopSince:      t0.Add(30 * time.Minute),
		NextAttempt:   t0.Add(31 * time.Minute),
		Attempts:      1,
		TotalAttempts: 12,
		Last: &Attempt{At: t0.Add(30 * time.Minute), Transport: "graph", Kind: "temporary", Code: "429", Reply: "429 Too Many Requests",
			Remedy: "Wait.", Error: "temporary error 429: throttled", Wait: 90 * time.Second},
		RetriedAt: t0.Add(20 * time.Minute),
	}
}

// TestEncodeEntry_golden pins the record format 1 stores: an entry must
// encode to exactly the bytes of testdata/entry-v1.json, which earlier
// releases wrote, and those bytes must decode to the same entry. Never
// update the file to make this pass: a change of the record is a new
// format (formatVersion) with a migration.
func TestEncodeEntry_golden(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "entry-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.TrimSuffix(want, []byte{'\n'})
	e := goldenEntry()
	got, err := encodeEntry(e)
	if err != nil {
		t.Fatalf("encodeEntry: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encodeEntry =\n%s\nwant\n%s", got, want)
	}
	back, err := decodeEntry([]byte(e.ID), want)
	if err != nil {
		t.Fatalf("decodeEntry: %v", err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Errorf("decodeEntry =\n%+v\nwant\n%+v", back, e)
	}
}

// TestRecord_fields: the record has a field for every field of Entry and
// Mail, and of the SDK types they hold, of the same name and in the same
// order, so that no field of an entry is left out of the file (nor added
// to it unnoticed). When a field is renamed, rename its twin here and keep
// its JSON tag: the format stays.
func TestRecord_fields(t *testing.T) {
	names := func(v any) []string {
		var out []string
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			// An alert in the outbox is a notification of its own, never
			// a refresh: that flag is not stored.
			if typ == reflect.TypeOf(sdk.Alert{}) && typ.Field(i).Name == "Refresh" {
				continue
			}
			out = append(out, typ.Field(i).Name)
		}
		return out
	}
	for _, tt := range []struct {
		name         string
		value, store any
	}{
		{name: "entry", value: Entry{}, store: record{}},
		{name: "mail", value: Mail{}, store: mailRecord{}},
		{name: "attachment", value: sdk.Attachment{}, store: attachmentRecord{}},
		{name: "header", value: sdk.Header{}, store: headerRecord{}},
		{name: "address", value: sdk.Address{}, store: addressRecord{}},
		{name: "alert", value: sdk.Alert{}, store: alertRecord{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := names(tt.store), names(tt.value); !reflect.DeepEqual(got, want) {
				t.Errorf("stored fields %q, want %q", got, want)
			}
		})
	}
}

// TestEncodeEntry_alert pins how format 1 stores a rule's alert: an
// optional "alert" object in the mail, which a release that does not know
// it ignores (the entry then has no alert, and mails as before), and which
// an entry about no rule (the golden entry above) does not have. The
// alert's labels, state and times come back as they went in.
func TestEncodeEntry_alert(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "entry-v1-alert.json"))
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.TrimSuffix(want, []byte{'\n'})
	e := goldenEntry()
	t0 := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	e.Mail.Alert = &sdk.Alert{Name: "sync_stale", State: sdk.AlertResolved, Labels: map[string]string{"node": "appliance-a", "role": "primary", "severity": "warning", "team": "storage"},
		StartsAt: t0, EndsAt: t0.Add(90 * time.Minute)}
	got, err := encodeEntry(e)
	if err != nil {
		t.Fatalf("encodeEntry: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encodeEntry =\n%s\nwant\n%s", got, want)
	}
	back, err := decodeEntry([]byte(e.ID), want)
	if err != nil {
		t.Fatalf("decodeEntry: %v", err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Errorf("decodeEntry =\n%+v\nwant\n%+v", back.Mail.Alert, e.Mail.Alert)
	}
	// What a release without alerts reads: the same record, minus the
	// alert, decodes to the golden entry.
	old, err := decodeEntry([]byte(e.ID), bytes.Replace(want, []byte(`"alert":`), []byte(`"unknown_":`), 1))
	if err != nil || old.Mail.Alert != nil {
		t.Errorf("a record whose alert a reader does not know: %+v, %v; want no alert", old, err)
	}
}

func BenchmarkEncodeEntry(b *testing.B) {
	e := goldenEntry()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeEntry(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	e := goldenEntry()
	rec, err := encodeEntry(e)
	if err != nil {
		b.Fatal(err)
	}
	key := []byte(e.ID)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeEntry(key, rec); err != nil {
			b.Fatal(err)
		}
	}
}
