package filedrop_test

import (
	"bytes"
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/examples/plugin-filedrop/filedrop"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestConformance runs the SDK's conformance kit with a temporary
// directory as the target.
func TestConformance(t *testing.T) {
	sdktest.RunConformance(t, func() sdk.Transport { return filedrop.New("test") }, sdktest.Conformance{
		Target: func(t *testing.T) (map[string]any, func() [][]byte) {
			dir := t.TempDir()
			return map[string]any{"directory": dir}, func() [][]byte { return readDrops(t, dir) }
		},
	})
}

// readDrops returns the content of the .eml files in dir, oldest first.
// Temporary files (a leading dot) are not messages yet.
func readDrops(t *testing.T, dir string) [][]byte {
	names := emlFiles(t, dir)
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Logf("read %s: %v", n, err)
			continue
		}
		out = append(out, b)
	}
	return out
}

func emlFiles(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Logf("read directory: %v", err)
		return nil
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".eml") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// configure configures tr with settings and returns the diagnostics.
func configure(t *testing.T, tr *filedrop.Transport, settings map[string]any) sdk.Diagnostics {
	t.Helper()
	s, err := sdk.SettingsFromMap(settings)
	if err != nil {
		t.Fatal(err)
	}
	diags, err := tr.Configure(context.Background(), sdk.Config{Transport: "outbox", From: "alerts@example.com", Settings: s})
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return diags
}

// attrs returns the attributes of the diagnostics of severity sev.
func attrs(diags sdk.Diagnostics, sev sdk.Severity) []string {
	var out []string
	for _, d := range diags {
		if d.Severity == sev {
			out = append(out, d.Attribute)
		}
	}
	return out
}

func TestTransport_Configure(t *testing.T) {
	tests := []struct {
		name string
		// mutate changes the settings, which start as {directory: dir}.
		mutate   func(t *testing.T, dir string, s map[string]any)
		root     bool // the test needs file permissions to apply: run as root too, unprivileged in a child
		wantErr  []string
		wantWarn []string
		// check runs after Configure, when set.
		check func(t *testing.T, dir string)
	}{
		{name: "defaults", mutate: func(*testing.T, string, map[string]any) {}},
		{name: "no directory", mutate: func(_ *testing.T, _ string, s map[string]any) { delete(s, "directory") }, wantErr: []string{"directory"}},
		{name: "relative directory", mutate: func(_ *testing.T, _ string, s map[string]any) { s["directory"] = "spool/outbox" }, wantErr: []string{"directory"}},
		{name: "missing directory", mutate: func(_ *testing.T, dir string, s map[string]any) { s["directory"] = filepath.Join(dir, "nope") }, wantErr: []string{"directory"}},
		{
			name: "missing directory created",
			mutate: func(_ *testing.T, dir string, s map[string]any) {
				s["directory"] = filepath.Join(dir, "a", "b")
				s["create_directory"] = true
			},
			check: func(t *testing.T, dir string) {
				info, err := os.Stat(filepath.Join(dir, "a", "b"))
				if err != nil || !info.IsDir() {
					t.Fatalf("directory not created: %v", err)
				}
				if got := info.Mode().Perm(); got != 0o750 {
					t.Errorf("directory mode = %#o, want 0750 for file_mode 0640", got)
				}
			},
		},
		{
			name: "not a directory",
			mutate: func(t *testing.T, dir string, s map[string]any) {
				p := filepath.Join(dir, "file")
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				s["directory"] = p
			},
			wantErr: []string{"directory"},
		},
		{
			name: "not writable",
			root: true,
			mutate: func(t *testing.T, dir string, s map[string]any) {
				ro := filepath.Join(dir, "ro")
				if err := os.Mkdir(ro, 0o500); err != nil {
					t.Fatal(err)
				}
				s["directory"] = ro
			},
			wantErr: []string{"directory"},
		},
		{name: "file_mode 0644", mutate: func(_ *testing.T, _ string, s map[string]any) { s["file_mode"] = "0644" }},
		{name: "file_mode not octal", mutate: func(_ *testing.T, _ string, s map[string]any) { s["file_mode"] = "rw-r-----" }, wantErr: []string{"file_mode"}},
		{name: "file_mode with 8", mutate: func(_ *testing.T, _ string, s map[string]any) { s["file_mode"] = "0680" }, wantErr: []string{"file_mode"}},
		{name: "file_mode world writable", mutate: func(_ *testing.T, _ string, s map[string]any) { s["file_mode"] = "0666" }, wantErr: []string{"file_mode"}},
		{name: "file_mode setuid", mutate: func(_ *testing.T, _ string, s map[string]any) { s["file_mode"] = "4640" }, wantErr: []string{"file_mode"}},
		{name: "file_mode owner cannot read", mutate: func(_ *testing.T, _ string, s map[string]any) { s["file_mode"] = "0240" }, wantWarn: []string{"file_mode"}},
		{
			name: "bad mode and bad directory both reported",
			mutate: func(_ *testing.T, dir string, s map[string]any) {
				s["file_mode"] = "0777"
				s["directory"] = "relative"
			},
			wantErr: []string{"file_mode", "directory"},
		},
		{
			name: "bad mode creates nothing",
			mutate: func(_ *testing.T, dir string, s map[string]any) {
				s["file_mode"] = "0777"
				s["directory"] = filepath.Join(dir, "new")
				s["create_directory"] = true
			},
			wantErr: []string{"file_mode"},
			check: func(t *testing.T, dir string) {
				if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
					t.Error("directory created although file_mode was rejected")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && runUnprivileged(t) {
				return
			}
			dir := t.TempDir()
			s := map[string]any{"directory": dir}
			tt.mutate(t, dir, s)
			tr := filedrop.New("test")
			diags := configure(t, tr, s)
			if got := attrs(diags, sdk.SeverityError); strings.Join(got, ",") != strings.Join(tt.wantErr, ",") {
				t.Errorf("error diagnostics on %v, want %v: %+v", got, tt.wantErr, diags)
			}
			if got := attrs(diags, sdk.SeverityWarning); strings.Join(got, ",") != strings.Join(tt.wantWarn, ",") {
				t.Errorf("warnings on %v, want %v: %+v", got, tt.wantWarn, diags)
			}
			for _, d := range diags {
				if d.Summary == "" || d.Detail == "" {
					t.Errorf("diagnostic without summary or detail: %+v", d)
				}
			}
			if tt.check != nil {
				tt.check(t, dir)
			}
			if len(tt.wantErr) > 0 {
				if _, err := tr.Send(context.Background(), []*sdk.Message{message("refused")}); err == nil {
					t.Error("Send succeeded after Configure reported errors")
				}
			}
		})
	}
}

func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		Date:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		From:    sdk.Address{Name: "Tocsin", Address: "alerts@example.com"},
		To:      []sdk.Address{{Address: "ops@example.com"}},
		Subject: "disk full on db-1",
		Text:    "The disk is full.\n",
	}
}

func TestTransport_Send(t *testing.T) {
	dir := t.TempDir()
	tr := filedrop.New("test")
	now := time.Unix(1767225600, 123456789)
	tr.Now = func() time.Time { return now }
	if diags := configure(t, tr, map[string]any{"directory": dir, "file_mode": "0644"}); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	// The third message is a retry of the first at the same instant.
	msgs := []*sdk.Message{message("a1b2@tocsin.example"), message("../../etc/passwd"), message("a1b2@tocsin.example")}
	results, err := tr.Send(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil || r.MessageID != msgs[i].ID || !strings.HasPrefix(r.Receipt, "written ") {
			t.Errorf("result %d = %+v", i, r)
		}
	}

	want := []string{
		// The path in the ID is flattened.
		"1767225600123456789-.._.._etc_passwd.eml",
		"1767225600123456789-a1b2@tocsin.example.eml",
		// The retry's name moves on a nanosecond rather than replace
		// the first file.
		"1767225600123456790-a1b2@tocsin.example.eml",
	}
	if got := emlFiles(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files = %v, want %v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("directory holds %d entries, want %d: a temporary file was left behind", len(entries), len(want))
	}
	p := filepath.Join(dir, want[1])
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("file mode = %#o, want 0644", info.Mode().Perm())
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("file is not an RFC 5322 message: %v", err)
	}
	if got := pm.Header.Get("Message-ID"); got != "<a1b2@tocsin.example>" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := pm.Header.Get("Subject"); got != "disk full on db-1" {
		t.Errorf("Subject = %q", got)
	}
}

func TestTransport_Send_Invalid(t *testing.T) {
	dir := t.TempDir()
	tr := filedrop.New("test")
	configure(t, tr, map[string]any{"directory": dir})
	bad := message("bad@x")
	bad.To = nil
	results, err := tr.Send(context.Background(), []*sdk.Message{bad, message("good@x")})
	if err != nil {
		t.Fatal(err)
	}
	if sdk.IsTemporary(results[0].Err) || results[0].Err == nil {
		t.Errorf("invalid message: err = %v, want permanent", results[0].Err)
	}
	if results[1].Err != nil {
		t.Errorf("valid message failed: %v", results[1].Err)
	}
	if got := emlFiles(t, dir); len(got) != 1 {
		t.Errorf("files = %v, want the valid message only", got)
	}
}

func TestTransport_Send_RecreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	tr := filedrop.New("test")
	configure(t, tr, map[string]any{"directory": dir, "create_directory": true})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	results, err := tr.Send(context.Background(), []*sdk.Message{message("again@x")})
	if err != nil || results[0].Err != nil {
		t.Fatalf("Send = %v, %+v", err, results)
	}
	if got := emlFiles(t, dir); len(got) != 1 {
		t.Errorf("files = %v", got)
	}
}

func TestTransport_Send_MissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	tr := filedrop.New("test")
	configure(t, tr, map[string]any{"directory": dir})
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	results, err := tr.Send(context.Background(), []*sdk.Message{message("gone@x")})
	if err != nil {
		t.Fatal(err)
	}
	de := sdk.AsDeliveryError(results[0].Err)
	if de == nil || !de.Temporary() || !strings.Contains(de.Remedy, "create_directory") {
		t.Errorf("err = %#v, want a temporary error whose remedy mentions create_directory", de)
	}
	if err := tr.Check(context.Background()); err == nil {
		t.Error("Check succeeded with the directory gone")
	}
}

func TestTransport_Send_PermissionDenied(t *testing.T) {
	if runUnprivileged(t) {
		return
	}
	dir := t.TempDir()
	tr := filedrop.New("test")
	configure(t, tr, map[string]any{"directory": dir})
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	results, err := tr.Send(context.Background(), []*sdk.Message{message("denied@x")})
	if err != nil {
		t.Fatal(err)
	}
	de := sdk.AsDeliveryError(results[0].Err)
	if de == nil || de.Temporary() || !strings.Contains(de.Remedy, "permission") {
		t.Errorf("err = %#v, want a permanent error with a remedy about permissions", de)
	}
	cerr := sdk.AsDeliveryError(tr.Check(context.Background()))
	if cerr == nil || cerr.Temporary() {
		t.Errorf("Check = %v, want a permanent error", cerr)
	}
}
