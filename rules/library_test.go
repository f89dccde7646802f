package rules_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/tocsin-dev/tocsin/core/rulestest"
	"github.com/tocsin-dev/tocsin/rules"
)

// TestLibrary runs the library's test files, as make test-rules does with
// the tocsin binary, so that go test covers them too.
func TestLibrary(t *testing.T) {
	files, err := filepath.Glob("*_test.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(rules.Files()) {
		t.Fatalf("%d test files for %d rule files", len(files), len(rules.Files()))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			res := rulestest.RunFile(f, rulestest.Options{})
			if !res.Passed() {
				var b bytes.Buffer
				_ = res.WriteDiagnostics(&b)
				_ = res.WriteReport(&b, false)
				t.Errorf("%s", b.String())
			}
		})
	}
}

func TestFiles(t *testing.T) {
	for _, f := range rules.Files() {
		if filepath.Ext(f.Name) != ".hcl" || len(f.Src) == 0 {
			t.Errorf("file %q (%d bytes)", f.Name, len(f.Src))
		}
		if m, _ := filepath.Match("*_test.hcl", f.Name); m {
			t.Errorf("%s is a test file", f.Name)
		}
	}
}
