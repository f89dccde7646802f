//go:build unix

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/tocsin-dev/tocsin/core/config"
)

// journalStreamOf is JOURNAL_STREAM as systemd would set it for f.
func journalStreamOf(t *testing.T, f *os.File) string {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// stamped matches hclog's own timestamp at the start of a plain line.
var stamped = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`)

func TestMeta_Logger_Journal(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	other := open("other")
	tests := []struct {
		name    string
		json    bool
		journal func(stderr *os.File) string // JOURNAL_STREAM
		stamp   bool
	}{
		{name: "journal, plain", journal: func(f *os.File) string { return journalStreamOf(t, f) }, stamp: false},
		{name: "no journal", journal: func(*os.File) string { return "" }, stamp: true},
		{name: "another file's stream", journal: func(*os.File) string { return journalStreamOf(t, other) }, stamp: true},
		{name: "garbage", journal: func(*os.File) string { return "journal" }, stamp: true},
		{name: "inode only matches", journal: func(f *os.File) string {
			s := journalStreamOf(t, f)
			return "999999:" + s[strings.Index(s, ":")+1:]
		}, stamp: true},
		{name: "journal, json", json: true, journal: func(f *os.File) string { return journalStreamOf(t, f) }, stamp: true},
		{name: "no journal, json", json: true, journal: func(*os.File) string { return "" }, stamp: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := open(fmt.Sprintf("stderr-%d", i))
			t.Setenv("JOURNAL_STREAM", tt.journal(f))
			cfg := &config.Config{Agent: config.Agent{LogJSON: tt.json}}
			meta{stderr: f}.logger(cfg).Info("agent started", "node", "n1")
			b, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			line := strings.TrimSpace(string(b))
			if tt.json {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not a JSON line: %v\n%s", err, line)
				}
				if m["@message"] != "agent started" || m["node"] != "n1" {
					t.Errorf("JSON line %s lacks the message or its field", line)
				}
				if _, ok := m["@timestamp"]; !ok {
					t.Errorf("JSON line without @timestamp: %s", line)
				}
				return
			}
			if got := stamped.MatchString(line); got != tt.stamp {
				t.Errorf("timestamp = %v, want %v: %q", got, tt.stamp, line)
			}
			if !strings.Contains(line, "[INFO]  tocsin: agent started: node=n1") {
				t.Errorf("line %q is not hclog's plain format", line)
			}
		})
	}
}

func TestToJournal_NotAFile(t *testing.T) {
	var b strings.Builder
	if toJournal(&b, "1:2") {
		t.Error("a strings.Builder is the journal")
	}
}
