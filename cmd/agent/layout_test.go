package main

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// corePrefix is the agent's side of the module: plugins talk to it over
// gRPC, through the SDK, and never import it.
const corePrefix = "github.com/tocsin-dev/tocsin/core/"

// coreImports returns "file: import path" for every import of a package
// under corePrefix in the non-test Go files below root (testdata and
// hidden directories skipped), and how many files it read.
func coreImports(root string) (found []string, files int, err error) {
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			if strings.HasPrefix(p+"/", corePrefix) {
				rel, _ := filepath.Rel(root, path)
				found = append(found, filepath.ToSlash(rel)+": "+p)
			}
		}
		return nil
	})
	return found, files, err
}

// TestPluginsImportNoCore holds the line between the agent and its
// plugins: no non-test Go file under plugins/ (the SDK, its test kit,
// the plugins and their shared internal packages) imports a package of
// the agent's core/.
func TestPluginsImportNoCore(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "plugins") // from cmd/agent
	if _, err := os.Stat(filepath.Join(root, "sdk", "go.mod")); err != nil {
		t.Fatalf("plugins/ is not at %s: %v", root, err)
	}
	found, files, err := coreImports(root)
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d Go files under plugins/; expected the whole tree", files)
	}
	for _, f := range found {
		t.Errorf("%s: plugins talk to the agent over gRPC through plugins/sdk; move what both need there (test helpers to plugins/sdk/sdktest, provider stand-ins to plugins/testserver)", f)
	}
}

// TestCoreImports checks the check on a made-up tree.
func TestCoreImports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "plugin importing core",
			files: map[string]string{"p/p.go": `package p; import "github.com/tocsin-dev/tocsin/core/pluginhost"`},
			want:  []string{"p/p.go: github.com/tocsin-dev/tocsin/core/pluginhost"},
		},
		{
			name:  "grouped and renamed import",
			files: map[string]string{"p/q/q.go": "package q\nimport (\n\t\"fmt\"\n\tph \"github.com/tocsin-dev/tocsin/core/x/y\"\n)"},
			want:  []string{"p/q/q.go: github.com/tocsin-dev/tocsin/core/x/y"},
		},
		{
			name: "test files, testdata and look-alike paths pass",
			files: map[string]string{
				"p/p_test.go":       `package p; import "github.com/tocsin-dev/tocsin/core/pluginhost"`,
				"p/testdata/t.go":   `package t; import "github.com/tocsin-dev/tocsin/core/outbox"`,
				"p/ok.go":           `package p; import ("github.com/tocsin-dev/tocsin/plugins/sdk"; "github.com/tocsin-dev/tocsin/coreutils")`,
				"p/notes/readme.md": `import "github.com/tocsin-dev/tocsin/core/outbox"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			for name, text := range tt.files {
				path := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := coreImports(root)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("coreImports = %q, want %q", got, tt.want)
			}
		})
	}
}

// repoRoot is the repository's root, from cmd/agent.
var repoRoot = filepath.Join("..", "..")

// TestFuzzTargetsListed: every Fuzz function in every module of the tree
// is run by `make fuzz`, in its own package and module, so that a new
// target (or a module of its own) does not drop out of CI silently.
func TestFuzzTargetsListed(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	call := regexp.MustCompile(`\$\(call fuzz,(\w+),([^,)]+),[^,)]+(?:,([^,)]+))?\)`)
	for _, m := range call.FindAllStringSubmatch(string(mk), -1) {
		dir := path.Join(m[3], m[2]) // the module's directory, then the package's within it
		listed[dir+" "+m[1]] = true
	}
	found := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	err = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != repoRoot && (d.Name() == "testdata" || d.Name() == "bin" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, filepath.Dir(p))
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			found[filepath.ToSlash(rel)+" "+m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 10 {
		t.Fatalf("found %d fuzz targets; expected the whole tree's", len(found))
	}
	for k := range found {
		if !listed[k] {
			t.Errorf("fuzz target %s is not in the Makefile's fuzz target: add a $(call fuzz,NAME,./DIR/,BUDGET[,MODULE]) line", k)
		}
	}
	for k := range listed {
		if !found[k] {
			t.Errorf("the Makefile fuzzes %s, which does not exist", k)
		}
	}
}

// modules returns the modules in the graph of the module in dir, as
// `go mod graph` prints them (paths without versions).
func modules(t *testing.T, dir string) map[string]bool {
	t.Helper()
	cmd := exec.Command("go", "mod", "graph")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod graph in %s: %v", dir, err)
	}
	mods := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		p, _, _ := strings.Cut(f, "@")
		mods[p] = true
	}
	return mods
}

// TestModuleGraphs holds issue 19's promise to plugin authors: the SDK
// module needs nothing of the agent, and a plugin that is a module of its
// own (examples/plugin-filedrop) drags in nothing beyond the SDK's own
// graph: none of the agent's dependencies (HCL, bbolt, Prometheus, cron,
// OAuth, the test mail server).
func TestModuleGraphs(t *testing.T) {
	t.Parallel()
	sdkMods := modules(t, filepath.Join(repoRoot, "plugins", "sdk"))
	dropMods := modules(t, filepath.Join(repoRoot, "examples", "plugin-filedrop"))
	const agent = "github.com/tocsin-dev/tocsin"
	if sdkMods[agent] {
		t.Errorf("the SDK module's graph holds the agent's module %s", agent)
	}
	for m := range dropMods {
		if !sdkMods[m] && m != "github.com/tocsin-dev/tocsin/examples/plugin-filedrop" {
			t.Errorf("examples/plugin-filedrop's graph holds %s, which the SDK's does not", m)
		}
	}
	// The agent's own direct requirements that the SDK does not need must
	// be absent; the list must not be empty, or the check proves nothing.
	cmd := exec.Command("go", "mod", "edit", "-json")
	cmd.Dir = repoRoot
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod edit -json: %v", err)
	}
	var f struct {
		Require []struct {
			Path     string
			Indirect bool
		}
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var agentOnly []string
	for _, r := range f.Require {
		if !r.Indirect && !sdkMods[r.Path] {
			agentOnly = append(agentOnly, r.Path)
		}
	}
	for _, want := range []string{"go.etcd.io/bbolt", "github.com/hashicorp/hcl/v2", "github.com/prometheus/client_golang", "github.com/robfig/cron/v3", "github.com/emersion/go-smtp"} {
		if !slices.Contains(agentOnly, want) {
			t.Errorf("%s is not among the agent's own dependencies %q; the check below would miss it", want, agentOnly)
		}
	}
	for _, m := range agentOnly {
		if dropMods[m] {
			t.Errorf("examples/plugin-filedrop's graph holds the agent's dependency %s", m)
		}
	}
}
