package sdktest_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
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
	root := filepath.Join("..", "..") // plugins/, from plugins/sdk/sdktest
	if _, err := os.Stat(filepath.Join(root, "sdk", "sdktest", "imports_test.go")); err != nil {
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
		t.Errorf("%s: plugins talk to the agent over gRPC through plugins/sdk; move what both need there (test helpers to plugins/sdk/sdktest)", f)
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
