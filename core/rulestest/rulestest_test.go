package rulestest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/rules"
)

func TestRunFile_Pass(t *testing.T) {
	res := RunFile("testdata/pass_test.hcl", Options{})
	if !res.Passed() {
		var b bytes.Buffer
		_ = res.WriteDiagnostics(&b)
		_ = res.WriteReport(&b, true)
		t.Fatalf("pass_test.hcl fails:\n%s", b.String())
	}
	if len(res.Tests) != 6 {
		t.Errorf("ran %d tests, want 6", len(res.Tests))
	}
	// The first test's timeline, event by event.
	var got []string
	for _, e := range res.Tests[0].Events {
		got = append(got, fmt.Sprintf("%s %s %s", FormatOffset(e.Offset), e.Event, e.Rule))
	}
	want := []string{"15m fire version_mismatch", "1d15m repeat version_mismatch", "1d1h resolve version_mismatch"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var out bytes.Buffer
	if err := res.WriteReport(&out, false); err != nil {
		t.Fatal(err)
	}
	if out.String() != "PASS testdata/pass_test.hcl: 6 tests\n" {
		t.Errorf("report = %q", out.String())
	}
}

func TestRunFile_Fail(t *testing.T) {
	res := RunFile("testdata/fail_test.hcl", Options{})
	if res.Passed() || len(res.Diagnostics) > 0 {
		t.Fatalf("passed = %v, diagnostics = %v", res.Passed(), res.Diagnostics)
	}
	if len(res.Tests) != 2 || !res.Tests[0].Passed() || res.Tests[1].Passed() {
		t.Fatalf("tests = %+v", res.Tests)
	}
	var got []string
	for _, f := range res.Tests[1].Failures {
		got = append(got, f.String())
	}
	want := []string{
		"testdata/fail_test.hcl:22:3: at 5m: want fire [version_mismatch], got none",
		"testdata/fail_test.hcl:25:3: at 15m: want fire none, got [version_mismatch at 15m]",
		`testdata/fail_test.hcl:25:3: at 15m: the subject of version_mismatch (fire at 15m) is "Version mismatch: 7.1 here, 7.2 on the partner"; want it to contain "7.3"`,
		"testdata/fail_test.hcl:28:3: at 1d: want resolve [version_mismatch], got none",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var out bytes.Buffer
	if err := res.WriteReport(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"--- FAIL: wrong expectations (testdata/fail_test.hcl:14:1)\n",
		"    testdata/fail_test.hcl:22:3: at 5m: want fire [version_mismatch], got none\n",
		"FAIL testdata/fail_test.hcl: 1 of 2 tests failed\n",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "--- FAIL: passes") {
		t.Errorf("the passing test is reported as failed:\n%s", out.String())
	}
}

func TestRunFile_RunSelectsTests(t *testing.T) {
	res := RunFile("testdata/fail_test.hcl", Options{Run: regexp.MustCompile("^passes$")})
	if !res.Passed() || len(res.Tests) != 1 {
		t.Errorf("passed = %v, tests = %d", res.Passed(), len(res.Tests))
	}
}

func TestRunFile_Malformed(t *testing.T) {
	cfg, err := filepath.Abs("testdata/config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	header := fmt.Sprintf("config = [%q]\n", cfg)
	tests := []struct {
		name  string
		src   string
		extra map[string]string // more files in the test file's directory
		want  []string
	}{
		{
			name: "syntax error",
			src:  header + "test \"x\" {\n  expect \"1m\" {\n",
			want: []string{"t.hcl:3:15: Unclosed configuration block"},
		},
		{
			name: "no config",
			src:  "test \"x\" {\n  expect \"1m\" {}\n}\n",
			want: []string{"t.hcl:1:1: Missing required argument"},
		},
		{
			name: "empty config list",
			src:  "config = []\ntest \"x\" {\n  expect \"1m\" {}\n}\n",
			want: []string{"t.hcl:1:10: No configuration"},
		},
		{
			name: "missing config file",
			src:  "config = [\"nope.hcl\"]\ntest \"x\" {\n  expect \"1m\" {}\n}\n",
			want: []string{"nope.hcl:1:1: Cannot read the configuration"},
		},
		{
			name: "no tests",
			src:  header,
			want: []string{"t.hcl:1:10: No tests"},
		},
		{
			name: "nothing expected",
			src:  header + "test \"x\" {\n}\n",
			want: []string{"t.hcl:2:1: Nothing expected"},
		},
		{
			name: "bad offsets",
			src:  header + "test \"x\" {\n  facts \"soon\" {}\n  expect \"-5m\" {}\n  expect \"5m\" {}\n}\n",
			want: []string{"t.hcl:3:9: Invalid offset", "t.hcl:4:10: Invalid offset"},
		},
		{
			name: "duplicate offsets and tests",
			src:  header + "test \"x\" {\n  expect \"5m\" {}\n  expect \"300s\" {}\n}\ntest \"x\" {\n  expect \"5m\" {}\n}\n",
			want: []string{"t.hcl:4:10: Duplicate offset", "t.hcl:6:6: Duplicate test"},
		},
		{
			name: "expectation after stop",
			src:  header + "test \"x\" {\n  stop = \"1h\"\n  expect \"2h\" {}\n}\n",
			want: []string{"t.hcl:4:3: Expectation after stop"},
		},
		{
			name: "bad start",
			src:  header + "test \"x\" {\n  start = \"monday\"\n  expect \"1m\" {}\n}\n",
			want: []string{"t.hcl:3:11: Invalid start"},
		},
		{
			name: "unknown names",
			src: header + `test "x" {
  rules = ["version_mismatch", "nope"]
  facts "0m" {
    node = { versoin = "1" }
    check "partner" {}
    peer "sync" {}
    check "sync" {
      colour = "red"
      ok     = "maybe"
    }
  }
  expect "1m" {
    fire    = ["sync_stale"]
    subject = { version_mismach = "x" }
  }
}
`,
			want: []string{
				"t.hcl:3:32: Unknown rule",
				"t.hcl:5:12: Unknown node fact",
				"t.hcl:6:11: Unknown check",
				"t.hcl:7:10: Unknown peer",
				"t.hcl:9:16: Unknown fact value",
				"t.hcl:10:16: Invalid fact",
				"t.hcl:14:16: Rule not evaluated",
				"t.hcl:15:15: Unknown rule",
			},
		},
		{
			name: "contradictory fact",
			src:  header + "test \"x\" {\n  facts \"0m\" {\n    check \"sync\" {\n      ok    = true\n      error = \"boom\"\n    }\n  }\n  expect \"1m\" {}\n}\n",
			want: []string{"t.hcl:6:15: Invalid fact"},
		},
		{
			name: "unknown block and attribute",
			src:  header + "test \"x\" {\n  expect \"1m\" {\n    fires = [\"x\"]\n  }\n  facts \"0m\" {\n    sheck \"x\" {}\n  }\n}\n",
			want: []string{"t.hcl:4:5: Unsupported argument", "t.hcl:7:5: Unsupported block type"},
		},
		{
			name: "timeline too long",
			src:  "config = [\"fast.hcl\"]\ntest \"x\" {\n  expect \"6d\" {}\n}\n",
			extra: map[string]string{"fast.hcl": `
transport "t" {
  plugin = "none"
  from   = "t@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.t]
}
rule "fast" {
  schedule = "@every 1s"
  when     = true
  notify   = [contact.ops]
  subject  = "x"
}
`},
			want: []string{"t.hcl:2:1: Timeline too long"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "t.hcl")
			if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			for name, src := range tt.extra {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			res := RunFile(path, Options{})
			if res.Passed() || len(res.Tests) != 0 {
				t.Fatalf("passed = %v, tests = %d; want errors and no test run", res.Passed(), len(res.Tests))
			}
			var got []string
			for _, d := range res.Diagnostics {
				if d.Subject == nil {
					t.Fatalf("diagnostic without a subject: %s", d.Summary)
				}
				got = append(got, fmt.Sprintf("%s:%d:%d: %s", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			var b bytes.Buffer
			if err := res.WriteDiagnostics(&b); err != nil {
				t.Fatal(err)
			}
			if err := res.WriteReport(&b, false); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "FAIL "+path+": not run") {
				t.Errorf("report:\n%s", b.String())
			}
		})
	}
}

func TestBindFact(t *testing.T) {
	tests := []struct {
		name     string
		kind     facts.Kind
		attrs    map[string]cty.Value
		ok       bool
		err      string
		values   map[string]cty.Value
		observed bool
	}{
		{
			name: "nothing given: ok, values null",
			kind: facts.KindPing,
			ok:   true,
			values: map[string]cty.Value{
				"loss": cty.NullVal(cty.Number), "address": cty.NullVal(cty.String),
			},
		},
		{
			name:  "ok false: error filled in",
			kind:  facts.KindTCP,
			attrs: map[string]cty.Value{"ok": cty.False},
			err:   "failed",
		},
		{
			name:  "error alone: not ok",
			kind:  facts.KindTCP,
			attrs: map[string]cty.Value{"error": cty.StringVal("refused")},
			err:   "refused",
		},
		{
			name:   "peer reachable follows ok",
			kind:   facts.KindPeer,
			attrs:  map[string]cty.Value{"ok": cty.False},
			err:    "failed",
			values: map[string]cty.Value{"reachable": cty.False, "version": cty.NullVal(cty.String)},
		},
		{
			name:   "peer reachable given",
			kind:   facts.KindPeer,
			attrs:  map[string]cty.Value{"error": cty.StringVal("status 500"), "reachable": cty.True},
			err:    "status 500",
			values: map[string]cty.Value{"reachable": cty.True},
		},
		{
			name:   "values converted to their type",
			kind:   facts.KindInterface,
			attrs:  map[string]cty.Value{"addresses": cty.TupleVal([]cty.Value{cty.StringVal("192.0.2.1")}), "up": cty.StringVal("false")},
			ok:     true,
			values: map[string]cty.Value{"addresses": cty.ListVal([]cty.Value{cty.StringVal("192.0.2.1")}), "up": cty.False},
		},
		{
			name:     "observed given",
			kind:     facts.KindFile,
			attrs:    map[string]cty.Value{"observed": cty.StringVal("2026-01-01T00:00:00Z")},
			ok:       true,
			observed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &FactSpec{Name: "x", Attrs: tt.attrs, AttrRanges: map[string]hcl.Range{}}
			ft, diags := bindFact(spec, tt.kind)
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %v", diags)
			}
			f := ft.fact
			if f.OK != tt.ok || f.Error != tt.err || ft.hasObserved != tt.observed {
				t.Errorf("ok = %v, error = %q, observed = %v; want %v, %q, %v", f.OK, f.Error, ft.hasObserved, tt.ok, tt.err, tt.observed)
			}
			for name, want := range tt.values {
				if got := f.Values[name]; !got.RawEquals(want) {
					t.Errorf("%s = %#v, want %#v", name, got, want)
				}
			}
			// Every value of the kind is present, as in a real fact.
			if got, want := f.Object().Type(), facts.ObjectType(tt.kind); !got.Equals(want) {
				t.Errorf("object type = %#v, want %#v", got, want)
			}
		})
	}
}

func TestParseOffset(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "0m", want: 0},
		{in: "90s", want: 90 * time.Second},
		{in: "1d12h", want: 36 * time.Hour},
		{in: " 15m ", want: 15 * time.Minute},
		{in: "-5m", wantErr: true},
		{in: "soon", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseOffset(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseOffset(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFormatOffset(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{15 * time.Minute, "15m"},
		{26 * time.Hour, "1d2h"},
		{90 * time.Second, "1m30s"},
		{24*time.Hour + 10*time.Minute, "1d10m"},
		{1500 * time.Millisecond, "1s500ms"},
		{-time.Hour, "-1h"},
	}
	for _, tt := range tests {
		if got := FormatOffset(tt.in); got != tt.want {
			t.Errorf("FormatOffset(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheck_Windows(t *testing.T) {
	at := func(m int) time.Duration { return time.Duration(m) * time.Minute }
	n := &rules.Notification{Subject: "Disk full", Attach: []string{"/log"}}
	events := []Record{
		{Offset: 0, Rule: "a", Event: rules.EventFire, Notification: n}, // as at a stop at 0s
		{Offset: at(10), Rule: "a", Event: rules.EventRepeat, Notification: n},
		{Offset: at(10), Rule: "b", Event: rules.EventFire, Notification: n},
		{Offset: at(20), Rule: "b", Event: rules.EventErrorStarted, Err: "boom"},
	}
	ref := func(names ...string) []NameRef {
		var out []NameRef
		for _, s := range names {
			out = append(out, NameRef{Name: s})
		}
		return out
	}
	tests := []struct {
		name    string
		expects []*Expect
		want    []string
	}{
		{
			name: "all as expected, the first window includes the start",
			expects: []*Expect{
				{Offset: 0, Events: map[rules.Event][]NameRef{rules.EventFire: ref("a")}},
				{Offset: at(10), Events: map[rules.Event][]NameRef{rules.EventRepeat: ref("a"), rules.EventFire: ref("b")},
					Subject: map[string]string{"a": "Disk"}, Attach: map[string][]string{"b": {"/log"}}},
				{Offset: at(30), Events: map[rules.Event][]NameRef{rules.EventErrorStarted: ref("b")}},
			},
		},
		{
			name: "a window that expects nothing",
			expects: []*Expect{
				{Offset: at(10), Events: map[rules.Event][]NameRef{rules.EventFire: ref("a", "b"), rules.EventRepeat: ref("a")}},
				{Offset: at(30)},
			},
			want: []string{"at 30m: want error none, got [b at 20m: boom]"},
		},
		{
			name: "counts matter",
			expects: []*Expect{
				{Offset: at(10), Events: map[rules.Event][]NameRef{rules.EventFire: ref("a", "a", "b"), rules.EventRepeat: ref("a")}},
			},
			want: []string{"at 10m: want fire [a, a, b], got [a at 0s, b at 10m]"},
		},
		{
			name: "subject, text and attach",
			expects: []*Expect{
				{Offset: at(5), Events: map[rules.Event][]NameRef{rules.EventFire: ref("a")},
					Subject: map[string]string{"a": "CPU"}, Text: map[string]string{"b": "x"}, Attach: map[string][]string{"a": {}}},
			},
			want: []string{
				`at 5m: want a notification of b with "x" in its text, got none`,
				`at 5m: the subject of a (fire at 0s) is "Disk full"; want it to contain "CPU"`,
				`at 5m: a (fire at 0s) attaches [/log]; want none`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range check(&Test{Expects: tt.expects}, events) {
				got = append(got, fmt.Sprintf("at %s: %s", FormatOffset(f.Offset), f.Message))
			}
			// Within a window the order is lists, subject, text, attach.
			if strings.Join(sortedCopy(got), "\n") != strings.Join(sortedCopy(tt.want), "\n") {
				t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
