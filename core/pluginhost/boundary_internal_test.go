package pluginhost

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStderrTail_WhatIsWorthSaying: of hclog's JSON lines only warnings
// and errors explain a failed start, an error field is added only when
// there is one, and a JSON line that is not hclog's is kept as it is.
func TestStderrTail_WhatIsWorthSaying(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{name: "warn without error", line: `{"@level":"warn","@message":"disk almost full"}`, want: []string{"disk almost full"}},
		{name: "warn with error", line: `{"@level":"warn","@message":"retrying","error":"timeout"}`, want: []string{"retrying: timeout"}},
		{name: "error without error field", line: `{"@level":"error","@message":"giving up"}`, want: []string{"giving up"}},
		{name: "info is noise", line: `{"@level":"info","@message":"serving"}`, want: nil},
		{name: "trace is noise", line: `{"@level":"trace","@message":"handshake"}`, want: nil},
		{name: "json without a message is a plain line", line: `{"code":3}`, want: []string{`{"code":3}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tail := newStderrTail(1024)
			if _, err := tail.Write([]byte(tt.line + "\n")); err != nil {
				t.Fatal(err)
			}
			if got := tail.Lines(3); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Lines = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPinned_PinFormat: a pin is 64 hex digits, case and surrounding
// white space aside; anything else is refused as a malformed pin, not
// compared, even when its first 64 digits are the file's hash.
func TestPinned_PinFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin-plugin-x")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, err := Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		pin       string
		malformed bool
	}{
		{name: "exact", pin: sum},
		{name: "upper case with white space", pin: " " + strings.ToUpper(sum) + "\n"},
		{name: "one digit more", pin: sum + "0", malformed: true},
		{name: "two digits more", pin: sum + "00", malformed: true},
		{name: "two digits fewer", pin: sum[:62], malformed: true},
		{name: "not hex", pin: "zz" + sum[2:], malformed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := openPinned(path, tt.pin)
			if err == nil {
				p.Close()
			}
			var ce *ChecksumError
			switch {
			case !tt.malformed && err != nil:
				t.Errorf("pin %q refused: %v", tt.pin, err)
			case tt.malformed && (err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "is not 64 hex digits")):
				t.Errorf("pin %q: err = %v, want it refused as not 64 hex digits", tt.pin, err)
			}
		})
	}
}

// TestOpenPinned_NotAnExecutableFile: the open file itself must be a
// regular file with an execute bit; Find checked the path, but what is
// opened may differ.
func TestOpenPinned_NotAnExecutableFile(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{plain, sub} {
		p, err := openPinned(path, "")
		if err == nil {
			p.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "is not an executable file") {
			t.Errorf("openPinned(%s) = %v, want it refused as not an executable file", path, err)
		}
	}
	if _, err := openPinned(filepath.Join(dir, "gone"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("openPinned(missing) = %v, want ErrNotExist", err)
	}
}

// statInfo is an os.FileInfo with a chosen size, modification time and
// change time, standing for what the file looked like when it was opened.
type statInfo struct {
	os.FileInfo
	size  int64
	mtime time.Time
	ctime syscall.Timespec
}

func (s statInfo) Size() int64        { return s.size }
func (s statInfo) ModTime() time.Time { return s.mtime }
func (s statInfo) Sys() any           { return &syscall.Stat_t{Ctim: s.ctime} }

// TestPinned_UnchangedSeesEachSign: each of size, modification time and
// change time on its own tells that the file was written since it was
// opened. (The real clocks cannot be steered one at a time, so the state
// at open is set by hand.)
func TestPinned_UnchangedSeesEachSign(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tocsin-plugin-x")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := openPinned(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	now, err := p.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	same := statInfo{FileInfo: now, size: now.Size(), mtime: now.ModTime(), ctime: changeTime(now)}
	later := func(ts syscall.Timespec) syscall.Timespec { ts.Nsec++; return ts }
	tests := []struct {
		name    string
		then    statInfo
		changed bool
	}{
		{name: "nothing", then: same},
		{name: "size only", then: statInfo{FileInfo: now, size: now.Size() - 1, mtime: now.ModTime(), ctime: changeTime(now)}, changed: true},
		{name: "modification time only", then: statInfo{FileInfo: now, size: now.Size(), mtime: now.ModTime().Add(-time.Second), ctime: changeTime(now)}, changed: true},
		{name: "change time only", then: statInfo{FileInfo: now, size: now.Size(), mtime: now.ModTime(), ctime: later(changeTime(now))}, changed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.info = tt.then
			err := p.unchanged()
			if got := errors.Is(err, errChanged); got != tt.changed {
				t.Errorf("unchanged() = %v, want changed %v", err, tt.changed)
			}
			if !tt.changed && err != nil {
				t.Errorf("unchanged() = %v", err)
			}
		})
	}
}
