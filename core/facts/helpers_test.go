package facts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// runCheck runs spec with Run and checks the fact's shape.
func runCheck(t *testing.T, spec Spec) Fact {
	t.Helper()
	f := Run(t.Context(), spec, nil)
	checkShape(t, f)
	return f
}

// runWith runs spec with the given environment and checks the fact's
// shape.
func runWith(t *testing.T, spec Spec, e *env) Fact {
	t.Helper()
	f := run(t.Context(), spec, e, lookupChecker, stopGrace)
	checkShape(t, f)
	return f
}

// checkShape checks what holds for every fact: OK exactly when Error is
// empty, every value of the kind present, and the object of the type
// ObjectType promises.
func checkShape(t *testing.T, f Fact) {
	t.Helper()
	if f.OK != (f.Error == "") {
		t.Errorf("fact %q: OK = %v but Error = %q", f.Check, f.OK, f.Error)
	}
	for name := range valueTypes[f.Kind] {
		if _, ok := f.Values[name]; !ok {
			t.Errorf("fact %q: value %q missing", f.Check, name)
		}
	}
	if len(f.Values) != len(valueTypes[f.Kind]) {
		t.Errorf("fact %q: %d values, want %d", f.Check, len(f.Values), len(valueTypes[f.Kind]))
	}
	if errs := f.Object().Type().TestConformance(ObjectType(f.Kind)); len(errs) > 0 {
		t.Errorf("fact %q: object does not conform to ObjectType(%s): %v", f.Check, f.Kind, errs)
	}
}

// wantOK fails the test unless f is ok (want true) or failed with an error
// containing errPart (want false).
func wantOK(t *testing.T, f Fact, want bool, errPart string) {
	t.Helper()
	if f.OK != want {
		t.Fatalf("OK = %v, want %v (error %q)", f.OK, want, f.Error)
	}
	if !want && !strings.Contains(f.Error, errPart) {
		t.Fatalf("error = %q, want it to contain %q", f.Error, errPart)
	}
}

func value(t *testing.T, f Fact, name string) cty.Value {
	t.Helper()
	v, ok := f.Values[name]
	if !ok {
		t.Fatalf("value %q missing from %v", name, f.Values)
	}
	return v
}

func isNull(t *testing.T, f Fact, name string) bool {
	t.Helper()
	return value(t, f, name).IsNull()
}

func str(t *testing.T, f Fact, name string) string {
	t.Helper()
	v := value(t, f, name)
	if v.IsNull() || !v.Type().Equals(cty.String) {
		t.Fatalf("value %q = %#v, want a string", name, v)
	}
	return v.AsString()
}

func num(t *testing.T, f Fact, name string) float64 {
	t.Helper()
	v := value(t, f, name)
	if v.IsNull() || !v.Type().Equals(cty.Number) {
		t.Fatalf("value %q = %#v, want a number", name, v)
	}
	n, _ := v.AsBigFloat().Float64()
	return n
}

func boolean(t *testing.T, f Fact, name string) bool {
	t.Helper()
	v := value(t, f, name)
	if v.IsNull() || !v.Type().Equals(cty.Bool) {
		t.Fatalf("value %q = %#v, want a bool", name, v)
	}
	return v.True()
}

func strs(t *testing.T, f Fact, name string) []string {
	t.Helper()
	v := value(t, f, name)
	if v.IsNull() || !v.Type().Equals(cty.List(cty.String)) {
		t.Fatalf("value %q = %#v, want a list of strings", name, v)
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out
}

// attr returns v's attribute path, as rules would write v.a.b.
func attr(t *testing.T, v cty.Value, path ...string) cty.Value {
	t.Helper()
	for _, p := range path {
		if v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute(p) {
			t.Fatalf("no attribute %q in %#v", p, v)
		}
		v = v.GetAttr(p)
	}
	return v
}

// closedPort returns a local address where nothing listens, nor will
// while the test runs.
func closedPort(t *testing.T) string {
	t.Helper()
	return testserver.ClosedAddr(t)
}

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// within fails the test when fn takes longer than limit.
func within(t *testing.T, limit time.Duration, fn func()) time.Duration {
	t.Helper()
	start := time.Now()
	fn()
	took := time.Since(start)
	if took > limit {
		t.Fatalf("took %s, want at most %s", took, limit)
	}
	return took
}

// okFact returns an ok fact of s.
func okFact(s Spec, now func() time.Time) Fact {
	return Fact{Check: s.Name, Kind: s.Kind, OK: true, Observed: now(), Values: baseValues(s)}
}
