package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/core/config"
)

// The package's files (cmd/agent/dist): the conffile it installs as
// /etc/tocsin/agent.hcl, the nfpm config, the version script. .ci/
// package-test installs the package itself; these keep the files right
// between its runs.

const distAgentHCL = "dist/agent.hcl"

// TestDistAgentHCL_ValidatesAsShipped: the conffile is valid as it is,
// sends nothing, and points at the directories the package installs.
func TestDistAgentHCL_ValidatesAsShipped(t *testing.T) {
	r := runCLI(t, "validate", "-config", distAgentHCL)
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("validate %s: exit %d\n%s", distAgentHCL, r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "0 transport(s), 0 contact(s)") {
		t.Errorf("the shipped config should send nothing: %s", r.stdout)
	}
	cfg, diags := config.Load(distAgentHCL)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if cfg.Agent.PluginDir != "/usr/lib/tocsin/plugins" || cfg.Agent.LocalPluginDir != "/usr/local/lib/tocsin/plugins" || cfg.Agent.DataDir != "/var/lib/tocsin" {
		t.Errorf("plugin_dir %q, local_plugin_dir %q, data_dir %q: want the package's /usr/lib/tocsin/plugins, /usr/local/lib/tocsin/plugins, /var/lib/tocsin", cfg.Agent.PluginDir, cfg.Agent.LocalPluginDir, cfg.Agent.DataDir)
	}
	if cfg.Agent.Listen != config.DefaultListen {
		t.Errorf("listen %q: want loopback %q", cfg.Agent.Listen, config.DefaultListen)
	}
}

// uncommentSkeleton turns the commented blocks of the shipped config
// ("# transport ... {" to "# }") into live ones, as an operator filling
// it in does.
func uncommentSkeleton(t *testing.T, src string) (string, int) {
	t.Helper()
	var out []string
	blocks, in := 0, false
	start := regexp.MustCompile(`^# (transport|contact|library) "[^"]+" \{$`)
	for _, line := range strings.Split(src, "\n") {
		switch {
		case start.MatchString(line):
			in = true
			blocks++
			line = strings.TrimPrefix(line, "# ")
		case in && line == "# }":
			in = false
			line = "}"
		case in:
			if !strings.HasPrefix(line, "#   ") {
				t.Fatalf("a line of a commented block does not start with \"#   \": %q", line)
			}
			line = strings.TrimPrefix(line, "# ")
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n"), blocks
}

// TestDistAgentHCL_SkeletonValidates: the blocks the operator fills in
// are valid once uncommented, with the real plugins.
func TestDistAgentHCL_SkeletonValidates(t *testing.T) {
	pluginDir := withPlugins(t)
	src, err := os.ReadFile(distAgentHCL)
	if err != nil {
		t.Fatal(err)
	}
	text, blocks := uncommentSkeleton(t, string(src))
	if blocks != 3 {
		t.Fatalf("found %d commented blocks, want transport, contact and library", blocks)
	}
	dir := t.TempDir()
	password := filepath.Join(dir, "relay.password")
	if err := os.WriteFile(password, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{
		`"/usr/lib/tocsin/plugins"`:    `"` + pluginDir + `"`,
		`"/var/lib/tocsin"`:            `"` + filepath.Join(dir, "data") + `"`,
		`"/etc/tocsin/relay.password"`: `"` + password + `"`,
	} {
		if !strings.Contains(text, from) {
			t.Fatalf("the shipped config has no %s", from)
		}
		text = strings.ReplaceAll(text, from, to)
	}
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "validate", "-config", path)
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("the uncommented skeleton does not validate cleanly: exit %d\n%s\n%s", r.code, r.stderr, text)
	}
	if !strings.Contains(r.stdout, "1 transport(s), 1 contact(s)") {
		t.Errorf("validate: %s", r.stdout)
	}
}

// TestDistNfpm_SourcesExist: every file the package takes from the
// repository (src: without ${...}, relative to the top) is there, so a
// rename breaks this test rather than make package in CI.
func TestDistNfpm_SourcesExist(t *testing.T) {
	src, err := os.ReadFile("dist/nfpm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(?:-\s+)?(?:src|preinstall|postinstall|preremove|postremove):\s*(\S+)\s*$`)
	matches := re.FindAllStringSubmatch(string(src), -1)
	if len(matches) < 10 {
		t.Fatalf("found only %d sources in dist/nfpm.yaml", len(matches))
	}
	for _, m := range matches {
		if strings.Contains(m[1], "${") {
			continue
		}
		found, err := filepath.Glob(filepath.Join("..", "..", m[1]))
		if err != nil || len(found) == 0 {
			t.Errorf("dist/nfpm.yaml takes %s, which is not in the repository", m[1])
		}
		if strings.HasPrefix(m[1], "cmd/agent/dist/p") {
			if st, err := os.Stat(filepath.Join("..", "..", m[1])); err == nil && st.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s is not executable", m[1])
			}
		}
	}
}

// TestDebversion: git's description becomes a Debian version that sorts
// as the commits do.
func TestDebversion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	script, err := filepath.Abs("dist/debversion")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_COMMITTER_DATE=2026-12-06T09:31:13Z", "GIT_AUTHOR_DATE=2026-12-06T09:31:13Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	version := func() string {
		t.Helper()
		cmd := exec.Command("sh", script)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("debversion: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	sha := func() string {
		t.Helper()
		out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}

	git("init", "-q")
	git("commit", "-q", "--allow-empty", "-m", "a")
	var got []string
	steps := []struct {
		name string
		do   func()
		want func() string
	}{
		{"no tag", func() {}, func() string { return "0.0.0~git20261206093113." + sha() }},
		{"rc tag", func() { git("tag", "v1.0.0-rc.1") }, func() string { return "1.0.0~rc.1" }},
		{"tag", func() {
			git("commit", "-q", "--allow-empty", "-m", "b")
			git("tag", "v1.0.0")
		}, func() string { return "1.0.0" }},
		{"after the tag", func() { git("commit", "-q", "--allow-empty", "-m", "c") }, func() string { return "1.0.0+git20261206093113.1." + sha() }},
		{"dirty", func() {
			if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			git("add", "f")
		}, func() string { return "1.0.0+git20261206093113.1." + sha() + ".dirty" }},
	}
	for _, s := range steps {
		s.do()
		v := version()
		if want := s.want(); v != want {
			t.Errorf("%s: %q, want %q", s.name, v, want)
		}
		if !regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`).MatchString(v) {
			t.Errorf("%s: %q is not a Debian upstream version without a revision", s.name, v)
		}
		got = append(got, v)
	}
	// The plugin SDK's own tags (plugins/sdk/vX.Y.Z) are not the agent's
	// version.
	git("tag", "plugins/sdk/v0.2.0")
	if v := version(); v != got[len(got)-1] {
		t.Errorf("with an SDK tag on HEAD: %q, want %q", v, got[len(got)-1])
	}
	if _, err := exec.LookPath("dpkg"); err != nil {
		return
	}
	for i := 1; i < len(got); i++ {
		if err := exec.Command("dpkg", "--compare-versions", got[i-1], "lt", got[i]).Run(); err != nil {
			t.Errorf("dpkg sorts %q after %q", got[i-1], got[i])
		}
	}
}
