package pluginhost_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

// TestHost_LocalDir: a plugin in the local directory (third-party
// plugins) wins over a bundled one of the same name, and the bundled one
// is reported as shadowed; a missing plugin names both directories; a
// missing local directory holds no plugins; a file there that cannot run
// hides nothing.
func TestHost_LocalDir(t *testing.T) {
	root := t.TempDir()
	bundled, local := filepath.Join(root, "lib"), filepath.Join(root, "local")
	for _, d := range []string{bundled, local} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	plugin := func(dir, name string) string { return filepath.Join(dir, "tocsin-plugin-"+name) }
	writeExec(t, plugin(bundled, "mail"), "#!/bin/sh\n")
	writeExec(t, plugin(bundled, "both"), "#!/bin/sh\n")
	writeExec(t, plugin(bundled, "plain"), "#!/bin/sh\n")
	writeExec(t, plugin(local, "both"), "#!/bin/sh\n")
	writeExec(t, plugin(local, "extra"), "#!/bin/sh\n")
	if err := os.WriteFile(plugin(local, "plain"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := pluginhost.New(hclog.NewNullLogger(), bundled, pluginhost.WithLocalDir(local))
	gone := pluginhost.New(hclog.NewNullLogger(), bundled, pluginhost.WithLocalDir(filepath.Join(root, "missing")))

	for _, tt := range []struct {
		name, plugin string
		host         *pluginhost.Host
		want         string // the path found, or "" for ErrNotFound
		shadowed     string
		says         []string
	}{
		{name: "only bundled", plugin: "mail", host: h, want: plugin(bundled, "mail")},
		{name: "only local", plugin: "extra", host: h, want: plugin(local, "extra")},
		{name: "in both: local wins, bundled shadowed", plugin: "both", host: h, want: plugin(local, "both"), shadowed: plugin(bundled, "both")},
		{name: "local not executable hides nothing", plugin: "plain", host: h, want: plugin(bundled, "plain")},
		{name: "neither names both directories", plugin: "sms", host: h, says: []string{"installed in " + local + " and " + bundled + ": both, extra, mail, plain)"}},
		{name: "local directory missing", plugin: "mail", host: gone, want: plugin(bundled, "mail")},
		{name: "local directory missing, plugin missing", plugin: "extra", host: gone, says: []string{"installed in " + filepath.Join(root, "missing") + " and " + bundled + ": both, mail, plain)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.host.Find(tt.plugin, "")
			switch {
			case tt.want != "" && (err != nil || got != tt.want):
				t.Errorf("Find = %q, %v; want %q", got, err, tt.want)
			case tt.want == "" && !errors.Is(err, pluginhost.ErrNotFound):
				t.Errorf("Find = %q, %v; want ErrNotFound", got, err)
			}
			for _, s := range tt.says {
				if err == nil || !strings.Contains(err.Error(), s) {
					t.Errorf("Find = %v; want it to say %q", err, s)
				}
			}
			if s := tt.host.Shadowed(tt.plugin); s != tt.shadowed {
				t.Errorf("Shadowed = %q, want %q", s, tt.shadowed)
			}
		})
	}

	if got, err := h.Available(); !slices.Equal(got, []string{"both", "extra", "mail", "plain"}) || err != nil {
		t.Errorf("Available = %q, %v; want each plugin of both directories once, sorted", got, err)
	}
	if got, err := gone.Available(); !slices.Equal(got, []string{"both", "mail", "plain"}) || err != nil {
		t.Errorf("Available with the local directory missing = %q, %v; want the bundled ones", got, err)
	}
	notDir := pluginhost.New(hclog.NewNullLogger(), bundled, pluginhost.WithLocalDir(plugin(bundled, "mail")))
	if got, err := notDir.Available(); err == nil || !strings.Contains(err.Error(), "read local plugin directory") {
		t.Errorf("Available with a local directory that is a file = %q, %v; want an error", got, err)
	}
}

// TestHost_NoLocalDir: without a local directory the host looks in the
// plugin directory only, not in the working directory.
func TestHost_NoLocalDir(t *testing.T) {
	bundled, cwd := t.TempDir(), t.TempDir()
	writeExec(t, filepath.Join(bundled, "tocsin-plugin-mail"), "#!/bin/sh\n")
	writeExec(t, filepath.Join(cwd, "tocsin-plugin-mail"), "#!/bin/sh\n")
	t.Chdir(cwd)
	h := pluginhost.New(hclog.NewNullLogger(), bundled)
	if got, err := h.Find("mail", ""); got != filepath.Join(bundled, "tocsin-plugin-mail") || err != nil {
		t.Errorf("Find = %q, %v; want the plugin directory's", got, err)
	}
	if s := h.Shadowed("mail"); s != "" {
		t.Errorf("Shadowed = %q, want none", s)
	}
	if _, err := h.Find("sms", ""); err == nil || !strings.Contains(err.Error(), "(installed in "+bundled+": mail)") {
		t.Errorf("Find sms = %v; want it to name the plugin directory only", err)
	}
}
