package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// checkCase is a plugin TestPluginCheck_Bundled checks: its package,
// the -config file, and the checks that must pass or be skipped.
type checkCase struct {
	plugin, pkg, config string
	pass, skip          []string
}

// TestPluginCheck_Bundled runs `tocsin plugin check` against every bundled
// plugin and the filedrop example: each passes. Those the kit has a target
// for deliver to it; the others run without -config, and the checks that
// need a delivery say why they are skipped.
func TestPluginCheck_Bundled(t *testing.T) {
	tests := []checkCase{
		{
			plugin: "smtp-basic", pkg: "github.com/tocsin-dev/tocsin/plugins/smtp-basic", config: "smtp-basic.hcl",
			pass: []string{"handshake", "describe", "configure", "configure-errors", "batch", "invalid-message", "concurrent-send", "error-kinds", "cancelled-context", "crash-mid-send", "planted-secrets", "no-secrets"},
		},
		{
			plugin: "filedrop", pkg: "../../examples/plugin-filedrop" /* a module of its own */, config: "directory.hcl",
			pass: []string{"handshake", "configure", "batch", "invalid-message", "crash-mid-send"},
			skip: []string{"error-kinds", "cancelled-context"}, // a directory cannot refuse or stall
		},
		{
			plugin: "webhook", pkg: "github.com/tocsin-dev/tocsin/plugins/webhook", config: "webhook.hcl",
			pass: []string{"handshake", "describe", "configure", "configure-errors", "send-before-configure", "empty-batch", "batch", "invalid-message", "concurrent-send", "check", "error-kinds", "cancelled-context", "crash-mid-send", "planted-secrets", "no-secrets"},
		},
		{
			plugin: "alertmanager", pkg: "github.com/tocsin-dev/tocsin/plugins/alertmanager", config: "alertmanager.hcl",
			pass: []string{"handshake", "describe", "configure", "configure-errors", "send-before-configure", "empty-batch", "batch", "invalid-message", "concurrent-send", "check", "error-kinds", "cancelled-context", "crash-mid-send", "planted-secrets", "no-secrets"},
		},
		{plugin: "graph", pkg: "github.com/tocsin-dev/tocsin/plugins/graph", pass: []string{"handshake", "describe", "send-before-configure"}, skip: []string{"configure", "batch", "crash-mid-send"}},
		{plugin: "gmail", pkg: "github.com/tocsin-dev/tocsin/plugins/gmail", pass: []string{"handshake", "describe"}, skip: []string{"batch"}},
		{plugin: "smtp-oauth-ms", pkg: "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms", pass: []string{"handshake", "describe"}, skip: []string{"batch"}},
		{plugin: "smtp-oauth-google", pkg: "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google", pass: []string{"handshake", "describe"}, skip: []string{"batch"}},
	}
	// Every bundled plugin (a directory under plugins/ with a main.go)
	// is in the table.
	mains, err := filepath.Glob(filepath.Join("..", "..", "plugins", "*", "main.go"))
	if err != nil || len(mains) < 6 {
		t.Fatalf("bundled plugins: %q, %v", mains, err)
	}
	for _, m := range mains {
		name := filepath.Base(filepath.Dir(m))
		if !slices.ContainsFunc(tests, func(tt checkCase) bool { return tt.plugin == name }) {
			t.Errorf("bundled plugin %s is not checked here: add it to the table", name)
		}
	}
	for _, tt := range tests {
		t.Run(tt.plugin, func(t *testing.T) {
			bin := sdktest.Build(t, tt.pkg, "tocsin-plugin-"+tt.plugin)
			args := []string{"plugin", "check", "-timeout", "20s"}
			if tt.config != "" {
				args = append(args, "-config", filepath.Join("testdata", "plugincheck", tt.config))
			}
			r := runCLI(t, append(args, bin)...)
			if r.code != exitOK {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			lines := strings.Split(r.stdout, "\n")
			for _, c := range tt.pass {
				if !hasLine(lines, "PASS "+c) {
					t.Errorf("no line %q:\n%s", "PASS "+c, r.stdout)
				}
			}
			for _, c := range tt.skip {
				if !hasPrefixLine(lines, "SKIP "+c+": ") {
					t.Errorf("check %s not skipped with a reason:\n%s", c, r.stdout)
				}
			}
			if tt.config == "" && !strings.Contains(r.stdout, "SKIP batch: needs a successful delivery; no -config") {
				t.Errorf("the skips do not say that -config is missing:\n%s", r.stdout)
			}
			if !regexp.MustCompile(`(?m)^PASS: 15 checks, \d+ passed, 0 failed, \d+ skipped$`).MatchString(r.stdout) {
				t.Errorf("no passing summary line:\n%s", r.stdout)
			}
		})
	}
}

// brokenPlugin installs the checkbroken plugin as tocsin-plugin-broken-BUG.
func brokenPlugin(t *testing.T, bug string) string {
	t.Helper()
	bin := sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent/testdata/plugins/checkbroken", "tocsin-plugin-checkbroken")
	p := filepath.Join(t.TempDir(), "tocsin-plugin-broken-"+bug)
	if err := os.Symlink(bin, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPluginCheck_Broken runs the command against plugins that break the
// contract one way each: it exits 1 and the report's line for the check
// that caught the bug says what is wrong.
func TestPluginCheck_Broken(t *testing.T) {
	tests := []struct {
		bug, check, want string
	}{
		{bug: "good"},
		{bug: "leak", check: "no-secrets", want: `secret "tocs"… leaked into planted Configure diagnostic 0`},
		{bug: "nocancel", check: "cancelled-context", want: "the plugin still held its connection to the target"},
		{bug: "results", check: "batch", want: "returned 1 results for 3 messages"},
		{bug: "misclassify", check: "invalid-message", want: "the message with no recipient got a temporary error"},
		{bug: "errkinds", check: "error-kinds", want: "the target refused the delivery permanently (an SMTP 550 or an HTTP 400), but the plugin's error is temporary"},
		{bug: "garbage", check: "handshake", want: "Unrecognized remote plugin message: hello, I am not a plugin"},
		{bug: "protocol", check: "handshake", want: "this agent speaks plugin protocol 1"},
	}
	for _, tt := range tests {
		t.Run(tt.bug, func(t *testing.T) {
			r := runCLI(t, "plugin", "check", "-timeout", "10s", "-config", filepath.Join("testdata", "plugincheck", "http.hcl"), brokenPlugin(t, tt.bug))
			lines := strings.Split(r.stdout, "\n")
			if tt.check == "" {
				if r.code != exitOK {
					t.Fatalf("exit %d for the plugin without a bug:\n%s%s", r.code, r.stdout, r.stderr)
				}
				return
			}
			if r.code != exitError {
				t.Fatalf("exit %d, want %d:\n%s%s", r.code, exitError, r.stdout, r.stderr)
			}
			var line string
			for _, l := range lines {
				if strings.HasPrefix(l, "FAIL "+tt.check+": ") {
					line = l
				}
			}
			if line == "" || !strings.Contains(line, tt.want) {
				t.Errorf("want a line \"FAIL %s: …%s…\":\n%s", tt.check, tt.want, r.stdout)
			}
			if !regexp.MustCompile(`(?m)^FAIL: 15 checks, \d+ passed, [1-9]\d* failed, \d+ skipped$`).MatchString(r.stdout) {
				t.Errorf("no failing summary line:\n%s", r.stdout)
			}
		})
	}
}

func TestPluginCheck_JSON(t *testing.T) {
	r := runCLI(t, "plugin", "check", "-json", "-config", filepath.Join("testdata", "plugincheck", "http.hcl"), brokenPlugin(t, "misclassify"))
	if r.code != exitError {
		t.Fatalf("exit %d, want %d:\n%s%s", r.code, exitError, r.stdout, r.stderr)
	}
	var rep struct {
		OK     bool `json:"ok"`
		Failed int  `json:"failed"`
		Checks []struct {
			Name   string   `json:"name"`
			Status string   `json:"status"`
			Why    []string `json:"why"`
		} `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if rep.OK || rep.Failed != 1 || len(rep.Checks) != 15 {
		t.Fatalf("ok %v, failed %d, %d checks; want false, 1, 15:\n%s", rep.OK, rep.Failed, len(rep.Checks), r.stdout)
	}
	for _, c := range rep.Checks {
		if (c.Status == "FAIL") != (c.Name == "invalid-message") {
			t.Errorf("check %s: %s %q", c.Name, c.Status, c.Why)
		}
	}
}

func TestPluginCheck_Usage(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("url = kit.nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	blocks := filepath.Join(dir, "blocks.hcl")
	if err := os.WriteFile(blocks, []byte("config {\n  url = \"x\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no path", args: nil, code: exitUsage, want: "give the path of one plugin executable"},
		{name: "two paths", args: []string{"a", "b"}, code: exitUsage, want: "give the path of one plugin executable"},
		{name: "not executable", args: []string{bad}, code: exitError, want: "is not an executable file"},
		{name: "unknown kit target", args: []string{"-config", bad, os.Args[0]}, code: exitError, want: "nope"},
		{name: "a block", args: []string{"-config", blocks, os.Args[0]}, code: exitError, want: "name = value lines, no blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, append([]string{"plugin", "check"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func hasPrefixLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}
