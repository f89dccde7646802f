package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// shippedHCL lists every HCL file the repository ships: the example
// config, the examples, the rule library and its tests, and the test
// configurations of the packages.
func shippedHCL(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		"../../agent.hcl.example", "../../examples/*.hcl", "../../examples/*/*.hcl",
		"../../rules/*.hcl", "../../rules/testdata/*.hcl", "../../rules/testdata/*/*.hcl",
		"../../cmd/agent/testdata/*/*.hcl", "../../cmd/agent/testdata/*/*/*.hcl",
		"testdata/*.hcl", "testdata/*/*.hcl", "testdata/*/*/*.hcl",
		"../rulestest/testdata/*.hcl", "../rulestest/testdata/*/*.hcl",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 50 {
		t.Fatalf("found only %d shipped HCL files; the patterns are stale", len(files))
	}
	return files
}

// TestCheckSource_ShippedFilesHaveRoom checks that the limits leave every
// shipped file far inside them.
func TestCheckSource_ShippedFilesHaveRoom(t *testing.T) {
	deepest, longest, largest := 0, 0, 0
	for _, name := range shippedHCL(t) {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if d := CheckSource(name, src); d != nil {
			t.Errorf("%s: %s", name, d.Error())
		}
		_, depth := scanNesting(name, src)
		deepest = max(deepest, depth)
		largest = max(largest, len(src))
		for _, l := range strings.Split(string(src), "\n") {
			longest = max(longest, len(l))
		}
	}
	t.Logf("shipped files: deepest nesting %d (limit %d), longest line %d (limit %d), largest file %d (limit %d)",
		deepest, MaxNesting, longest, MaxLineLength, largest, MaxSourceSize)
	if deepest*4 > MaxNesting {
		t.Errorf("a shipped file nests %d deep: less than 4 times under the limit %d", deepest, MaxNesting)
	}
}

// TestLoad_Limits loads files over each limit (issue 11, finding 2): each
// is an error at its file:line:col, found before parsing.
func TestLoad_Limits(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("(", n) + "1" + strings.Repeat(")", n) }
	for _, tc := range []struct{ name, src, want string }{
		{"70,000 parentheses", "rule \"r\" {\n  when = " + deep(70000) + "\n}\n", "a.hcl:2:"},
		{"parentheses over the limit", "rule \"r\" {\n  when = " + deep(MaxNesting) + "\n}\n", "a.hcl:2:"},
		{"brackets", "x = " + strings.Repeat("[", 70000), "a.hcl:1:"},
		{"braces", "x = " + strings.Repeat("{a=", 70000), "a.hcl:1:"},
		{"interpolations", "x = " + strings.Repeat("\"${", 70000), "a.hcl:1:"},
		{"unary", "x = " + strings.Repeat("!", 70000) + "true\n", "a.hcl:1:"},
		{"operator chain", "x = (1" + strings.Repeat("\n+ 1", 70000) + ")\n", "a.hcl:"},
		{"index chain", "x = a" + strings.Repeat("[b]", 70000) + "\n", "a.hcl:1:"},
		{"directives", "x = <<EOT\n" + strings.Repeat("%{if true}\n", 70000) + "EOT\n", "a.hcl:"},
		{"ternaries", "x = " + strings.Repeat("a ? b : ", 70000) + "c\n", "a.hcl:1:"},
		{"object for", "x = {for k, v in y : k => 1" + strings.Repeat("\n+ 1", 70000) + "}\n", "a.hcl:"},
		{"comments", "x = (" + strings.Repeat("/* ) */ (", 70000) + "\n", "a.hcl:1:"},
		{"strings", "x = (" + strings.Repeat("\")\" + (", 70000) + "\n", "a.hcl:1:"},
		{"not a heredoc", "x = <<\u00a0\n" + strings.Repeat("(", 70000) + "\n", "a.hcl:2:"},
		{"long line", "x = \"" + strings.Repeat("a", MaxLineLength) + "\"\n", "a.hcl:1:32769"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.src)
			cfg, diags := loadWith(path, nil)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			locs := locations(diags)
			if len(locs) != 1 || !strings.Contains(locs[0], tc.want) {
				t.Errorf("diagnostics %q, want one at %s", locs, tc.want)
			}
			out := render(t, cfg, diags)
			if len(out) > 4096 {
				t.Errorf("the diagnostic renders as %d bytes", len(out))
			}
		})
	}
}

// TestLoad_LimitsKeepWhatWorks: a deep but legal expression under the
// limit still loads.
func TestLoad_LimitsKeepWhatWorks(t *testing.T) {
	n := MaxNesting/2 - 2
	src := "agent {\n  node = \"n\"\n  data_dir = \"d\"\n}\nrule \"r\" {\n  when = " + strings.Repeat("(", n) + "true" + strings.Repeat(")", n) + "\n  schedule = \"@every 1m\"\n  subject = \"s\"\n  notify = []\n}\n"
	_, diags := loadWith(writeConfig(t, src), nil)
	for _, d := range diags {
		if strings.Contains(d.Summary, "too") {
			t.Errorf("%s: %s", d.Summary, d.Detail)
		}
	}
}

// TestLoad_TooLarge: a file over MaxSourceSize is refused without being
// read whole.
func TestLoad_TooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.hcl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: 1 GiB of NULs
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, diags := loadWith(path, nil)
	runtime.ReadMemStats(&after)
	if locs := locations(diags); len(locs) != 1 || !strings.Contains(locs[0], "File too large") {
		t.Errorf("diagnostics %q, want File too large", locs)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Errorf("loading a 1 GiB file allocated %d bytes", grew)
	}
}

// BenchmarkLoad_Deep70000 loads the 70,000-deep expression of finding 2.
func BenchmarkLoad_Deep70000(b *testing.B) {
	src := "rule \"r\" {\n  when = " + strings.Repeat("(", 70000) + "1" + strings.Repeat(")", 70000) + "\n}\n"
	path := filepath.Join(b.TempDir(), "a.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, diags := loadWith(path, nil); !diags.HasErrors() {
			b.Fatal("no error")
		}
	}
}
