package silence_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/silence"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func TestRequest_Validate(t *testing.T) {
	ok := silence.Request{Rule: "takeover", Comment: "firmware update", By: "alice", For: "2h"}
	tests := []struct {
		name    string
		mutate  func(*silence.Request)
		want    time.Duration
		wantErr string
	}{
		{name: "a rule for two hours", mutate: func(*silence.Request) {}, want: 2 * time.Hour},
		{name: "a node", mutate: func(r *silence.Request) { r.Rule, r.Node = "", "appliance-b" }, want: 2 * time.Hour},
		{name: "all", mutate: func(r *silence.Request) { r.Rule, r.All = "", true }, want: 2 * time.Hour},
		{name: "the shortest", mutate: func(r *silence.Request) { r.For = "1m" }, want: time.Minute},
		{name: "the longest", mutate: func(r *silence.Request) { r.For = "168h" }, want: 168 * time.Hour},
		{name: "nothing to silence", mutate: func(r *silence.Request) { r.Rule = "" }, wantErr: "one of a rule, a node or all"},
		{name: "two targets", mutate: func(r *silence.Request) { r.All = true }, wantErr: "one of a rule, a node or all"},
		{name: "no comment", mutate: func(r *silence.Request) { r.Comment = "  " }, wantErr: "a comment is required"},
		{name: "nobody", mutate: func(r *silence.Request) { r.By = "" }, wantErr: "say who sets the silence"},
		{name: "no duration", mutate: func(r *silence.Request) { r.For = "" }, wantErr: "a duration is required"},
		{name: "not a duration", mutate: func(r *silence.Request) { r.For = "2 hours" }, wantErr: `duration "2 hours"`},
		{name: "too short", mutate: func(r *silence.Request) { r.For = "59s" }, wantErr: "give 1m to 168h"},
		{name: "too long", mutate: func(r *silence.Request) { r.For = "169h" }, wantErr: "out of bounds"},
		{name: "negative", mutate: func(r *silence.Request) { r.For = "-2h" }, wantErr: "out of bounds"},
		{name: "a comment too long", mutate: func(r *silence.Request) { r.Comment = strings.Repeat("x", 501) }, wantErr: "comment is longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.mutate(&r)
			d, err := r.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, silence.ErrInvalid) {
					t.Fatalf("Validate = %v, %v; want ErrInvalid with %q", d, err, tt.wantErr)
				}
				return
			}
			if err != nil || d != tt.want {
				t.Fatalf("Validate = %v, %v; want %v", d, err, tt.want)
			}
		})
	}
}

func TestSilence_Covers(t *testing.T) {
	const node, hb = "appliance-b", "daily_heartbeat"
	tests := []struct {
		name string
		s    silence.Silence
		rule string
		want bool
	}{
		{"its rule", silence.Silence{Rule: "takeover"}, "takeover", true},
		{"another rule", silence.Silence{Rule: "takeover"}, "backup_lost", false},
		{"the heartbeat by name", silence.Silence{Rule: hb}, hb, true},
		{"this node", silence.Silence{Node: node}, "takeover", true},
		{"another node", silence.Silence{Node: "appliance-a"}, "takeover", false},
		{"this node, not the heartbeat", silence.Silence{Node: node}, hb, false},
		{"all", silence.Silence{All: true}, "takeover", true},
		{"all, not the heartbeat", silence.Silence{All: true}, hb, false},
		{"empty", silence.Silence{}, "takeover", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Covers(tt.rule, node, hb); got != tt.want {
				t.Errorf("Covers(%q) = %v, want %v", tt.rule, got, tt.want)
			}
		})
	}
}

func TestSilence_Active(t *testing.T) {
	s := silence.Silence{Start: t0, End: t0.Add(time.Hour)}
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{{t0.Add(-time.Second), false}, {t0, true}, {t0.Add(59 * time.Minute), true}, {t0.Add(time.Hour), false}} {
		if got := s.Active(tt.at); got != tt.want {
			t.Errorf("Active(%v) = %v, want %v", tt.at, got, tt.want)
		}
	}
}

// TestStore_survivesReopen: what Add, Suppressed, Expire and Forget do is
// in the file, and a store opened on it later sees it.
func TestStore_survivesReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := silence.Open(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := st.Add(silence.Request{Rule: "takeover", Comment: "update", By: "alice", For: "2h"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Add(silence.Request{All: true, Comment: "move", By: "bob", For: "30m"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || len(a.ID) != 8 {
		t.Errorf("IDs %q and %q", a.ID, b.ID)
	}
	if err := st.Suppressed(map[string][]string{"takeover": {a.ID}}, map[string]string{"takeover": "repeat"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expire(b.ID, "carol", t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expire(b.ID, "carol", t0.Add(11*time.Minute)); !errors.Is(err, silence.ErrNotFound) {
		t.Errorf("expire twice: %v, want ErrNotFound", err)
	}
	if _, err := st.Expire("nope", "carol", t0); !errors.Is(err, silence.ErrNotFound) {
		t.Errorf("expire an unknown ID: %v, want ErrNotFound", err)
	}

	again, err := silence.Open(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	got := again.List()
	if len(got) != 2 {
		t.Fatalf("reopened: %+v", got)
	}
	if got[0].ID != a.ID || got[0].Suppressed != 1 || got[0].Rules["takeover"] != "repeat" || !got[0].End.Equal(t0.Add(2*time.Hour)) || got[0].By != "alice" {
		t.Errorf("reopened the first: %+v", got[0])
	}
	if got[1].ExpiredBy != "carol" || !got[1].End.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("reopened the expired one: %+v", got[1])
	}
	at := t0.Add(20 * time.Minute)
	if act := again.Active(at); len(act) != 1 || act[0].ID != a.ID {
		t.Errorf("Active = %+v", act)
	}
	if ended := again.Ended(at); len(ended) != 1 || ended[0].ID != b.ID {
		t.Errorf("Ended = %+v", ended)
	}
	if err := again.Forget(b.ID); err != nil {
		t.Fatal(err)
	}
	third, err := silence.Open(dir, t0)
	if err != nil {
		t.Fatal(err)
	}
	if l := third.List(); len(l) != 1 || l[0].ID != a.ID {
		t.Errorf("after Forget: %+v", l)
	}
	if fi, err := os.Stat(silence.Path(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file: %v, %v; want mode 0600", fi, err)
	}
}

// TestOpen_corrupt: a file that is not silences is an error that says what
// happened and what to do; it is moved aside, never overwritten, and the
// store is empty and usable.
func TestOpen_corrupt(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"garbage", "not json", "invalid character"},
		{"truncated", `{"version": 1, "silences": [{"id": "ab"`, "unexpected EOF"},
		{"another version", `{"version": 2, "silences": []}`, "format version 2"},
		{"no end", `{"version": 1, "silences": [{"id": "ab", "start": "2026-11-23T10:00:00Z"}]}`, "no ID, start or end"},
		{"an unknown field", `{"version": 1, "silences": [], "x": 1}`, `unknown field "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(silence.Path(dir), []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := silence.Open(dir, t0)
			if !errors.Is(err, silence.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "tocsin silence add") {
				t.Fatalf("Open = %v; want ErrCorrupt with %q and what to do", err, tt.want)
			}
			aside := filepath.Join(dir, silence.FileName+".corrupt-20261123T100000Z")
			if b, rerr := os.ReadFile(aside); rerr != nil || string(b) != tt.data {
				t.Errorf("moved aside: %q, %v", b, rerr)
			}
			if st == nil || len(st.List()) != 0 {
				t.Fatalf("store %+v", st)
			}
			if _, err := st.Add(silence.Request{All: true, Comment: "c", By: "b", For: "1h"}, t0); err != nil {
				t.Errorf("Add after a corrupt file: %v", err)
			}
		})
	}
}
