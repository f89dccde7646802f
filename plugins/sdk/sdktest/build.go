package sdktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BinDirEnv names an environment variable that points at a directory of
// already built binaries (the Makefile sets it to bin/ so tests do not build
// again). A binary found there is used as it is.
const BinDirEnv = "TOCSIN_BIN_DIR"

var (
	buildMu  sync.Mutex
	buildDir string
	built    = map[string]string{}
)

// Build compiles the main package pkg to an executable named name and
// returns its path. pkg is an import path of the test's module (or one it
// requires), or a directory ("./cmd/x", "../plugin", an absolute path):
// then the build runs in that directory, under its own go.mod, as for a
// plugin that is a module of its own. Builds happen once per test process and
// are shared by all tests in it. When $TOCSIN_BIN_DIR (or its plugins/
// subdirectory) holds name, that file is returned instead.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	if dir := os.Getenv(BinDirEnv); dir != "" {
		for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, "plugins", name)} {
			if info, err := os.Stat(p); err == nil && !info.IsDir() {
				return p
			}
		}
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "tocsin-test-bin-")
		if err != nil {
			t.Fatalf("build %s: %v", pkg, err)
		}
		buildDir = d // removed by the OS's temp cleaning; shared across tests
	}
	out := filepath.Join(buildDir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if isDir(pkg) {
		cmd = exec.Command("go", "build", "-o", out, ".")
		cmd.Dir = pkg
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// PluginDir builds the named plugins (name → main package import path) and
// returns a fresh directory holding them as tocsin-plugin-NAME, ready to be
// a plugin_dir.
func PluginDir(t testing.TB, plugins map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, pkg := range plugins {
		src := Build(t, pkg, "tocsin-plugin-"+name)
		dst := filepath.Join(dir, "tocsin-plugin-"+name)
		if err := os.Symlink(src, dst); err != nil {
			t.Fatalf("plugin dir: %v", err)
		}
	}
	return dir
}

// NoSecrets fails the test when any of texts contains any of secrets.
// Name the texts (logs, errors, output) in where, in the same order, so a
// failure says which one leaked.
func NoSecrets(t testing.TB, secrets []string, where []string, texts ...string) {
	t.Helper()
	for _, l := range leaks(secrets, where, texts...) {
		t.Error(l)
	}
}

// leaks says which of secrets appear in which of texts, named by where.
func leaks(secrets []string, where []string, texts ...string) []string {
	var out []string
	for i, text := range texts {
		for _, s := range secrets {
			if s == "" {
				continue
			}
			if strings.Contains(text, s) {
				name := fmt.Sprintf("text %d", i)
				if i < len(where) {
					name = where[i]
				}
				out = append(out, fmt.Sprintf("secret %q… leaked into %s", s[:min(4, len(s))], name))
			}
		}
	}
	return out
}

// isDir reports whether pkg names a directory rather than an import path:
// it is absolute or starts with "./" or "../", as the go command reads it.
func isDir(pkg string) bool {
	return filepath.IsAbs(pkg) || pkg == "." || pkg == ".." || strings.HasPrefix(pkg, "./") || strings.HasPrefix(pkg, "../")
}
