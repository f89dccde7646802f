package pluginhost_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

// writeExec writes an executable file (a script, unless body says
// otherwise) at path.
func writeExec(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestHost_AvailableListsOnlyPlugins: the plugin directory also holds
// things that are not plugins; Available names only executable files
// called tocsin-plugin-NAME with a NAME, sorted.
func TestHost_AvailableListsOnlyPlugins(t *testing.T) {
	dir := t.TempDir()
	writeExec(t, filepath.Join(dir, "tocsin-plugin-zeta"), "#!/bin/sh\n")
	writeExec(t, filepath.Join(dir, "tocsin-plugin-alpha"), "#!/bin/sh\n")
	writeExec(t, filepath.Join(dir, "tocsin-plugin-"), "#!/bin/sh\n")
	writeExec(t, filepath.Join(dir, "install.sh"), "#!/bin/sh\n")
	if err := os.WriteFile(filepath.Join(dir, "tocsin-plugin-notes"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tocsin-plugin-old"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	got, err := h.Available()
	if want := []string{"alpha", "zeta"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("Available = %q, %v; want %q", got, err, want)
	}

	h = pluginhost.New(hclog.NewNullLogger(), filepath.Join(dir, "missing"))
	if got, err := h.Available(); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Available of a missing directory = %q, %v; want an error", got, err)
	}
}

// TestHost_Find: an explicit path wins over the plugin directory; a
// missing plugin is ErrNotFound naming what is installed ("none" when
// nothing is); a file that is there but cannot run is a different error,
// not ErrNotFound (installing it again would not help).
func TestHost_Find(t *testing.T) {
	dir := t.TempDir()
	inDir := filepath.Join(dir, "tocsin-plugin-mail")
	writeExec(t, inDir, "#!/bin/sh\n")
	other := filepath.Join(t.TempDir(), "my-mail")
	writeExec(t, other, "#!/bin/sh\n")
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	empty := pluginhost.New(hclog.NewNullLogger(), t.TempDir())

	for _, tt := range []struct {
		name, plugin, path string
		host               *pluginhost.Host
		want               string // the path found, or "" for an error
		notFound           bool
		says               string
	}{
		{name: "in the plugin directory", plugin: "mail", host: h, want: inDir},
		{name: "explicit path wins", plugin: "mail", path: other, host: h, want: other},
		{name: "missing lists what is installed", plugin: "sms", host: h, notFound: true, says: "(installed in " + dir + ": mail)"},
		{name: "missing from an empty directory", plugin: "sms", host: empty, notFound: true, says: ": none)"},
		{name: "explicit path missing", plugin: "mail", path: other + ".gone", host: h, notFound: true, says: "is not at " + other + ".gone"},
		{name: "a directory", plugin: "mail", path: dir, host: h, says: "is not an executable file"},
		{name: "not executable", plugin: "mail", path: plain, host: h, says: "is not an executable file"},
		{name: "under a file", plugin: "mail", path: filepath.Join(plain, "x"), host: h, says: `find plugin "mail"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.host.Find(tt.plugin, tt.path)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Errorf("Find = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || got != "" {
				t.Fatalf("Find = %q, nil; want an error", got)
			}
			if errors.Is(err, pluginhost.ErrNotFound) != tt.notFound || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Find = %v; want ErrNotFound %v, saying %q", err, tt.notFound, tt.says)
			}
		})
	}
}

// TestInstance_StartFailures: a plugin that does not start is explained
// by the error: which plugin, which file, and the plugin's own last words
// on stderr when it said any (only those, and only the last three lines).
func TestInstance_StartFailures(t *testing.T) {
	dir := t.TempDir()
	writeExec(t, filepath.Join(dir, "tocsin-plugin-silent"), "#!/bin/sh\nexit 1\n")
	writeExec(t, filepath.Join(dir, "tocsin-plugin-talker"), "#!/bin/sh\necho 'line 1' >&2\necho 'line 2' >&2\necho 'line 3' >&2\necho 'cannot open /etc/talker.conf' >&2\nexit 1\n")
	// 20000 lines overflow the pipe: the last of them are still unread
	// when the plugin has exited, and must be read all the same.
	writeExec(t, filepath.Join(dir, "tocsin-plugin-chatty"), "#!/bin/sh\nseq 1 20000 >&2\necho 'the real reason' >&2\nexit 1\n")
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	t.Cleanup(h.Close)

	for _, tt := range []struct {
		plugin string
		says   []string
		not    []string
	}{
		{plugin: "silent", says: []string{"start plugin silent (" + filepath.Join(dir, "tocsin-plugin-silent") + ")"}, not: []string{"last output"}},
		{plugin: "chatty", says: []string{"(the plugin's last output: 19999 / 20000 / the real reason)"}},
		{plugin: "talker", says: []string{"(the plugin's last output: line 2 / line 3 / cannot open /etc/talker.conf)"}, not: []string{"line 1"}},
	} {
		t.Run(tt.plugin, func(t *testing.T) {
			in := h.Instance(pluginhost.Spec{Name: "t", Plugin: tt.plugin})
			_, err := in.Describe(ctx(t))
			if err == nil {
				t.Fatal("a plugin that does not serve started")
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q says %q", err, s)
				}
			}
			if in.Starts() != 0 || in.PID() != 0 {
				t.Errorf("starts %d, pid %d; want none", in.Starts(), in.PID())
			}
		})
	}
}

// TestInstance_NoStartOnADoneContext: a call whose context is already
// done does not start the plugin at all (go-plugin's start would not
// look at the context).
func TestInstance_NoStartOnADoneContext(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	writeExec(t, filepath.Join(dir, "tocsin-plugin-marker"), "#!/bin/sh\ntouch '"+ran+"'\nexit 1\n")
	h := pluginhost.New(hclog.NewNullLogger(), dir)
	t.Cleanup(h.Close)
	in := h.Instance(pluginhost.Spec{Name: "t", Plugin: "marker"})
	c, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := in.Describe(c)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "start plugin marker") {
		t.Errorf("describe on a cancelled context = %v, want the cancellation", err)
	}
	if _, serr := os.Stat(ran); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the plugin ran (%v)", serr)
	}
}
