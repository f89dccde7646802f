package facts

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// fileFact is a fact of a file check named name, read at now.
func fileFact(name, content string, now time.Time) Fact {
	return Fact{
		Check: name, Kind: KindFile, OK: true, Latency: time.Duration(now.Nanosecond()), Observed: now,
		Values: map[string]cty.Value{
			"path": cty.StringVal("/x"), "exists": cty.True, "content": cty.StringVal(content),
			"json": cty.NullVal(cty.DynamicPseudoType), "mtime": cty.StringVal("2026-12-06T07:00:00Z"),
			"age": cty.NumberFloatVal(float64(now.Unix())), "size": cty.NumberIntVal(int64(len(content))),
		},
	}
}

func TestFact_Same(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	base := fileFact("f", "up", t0)
	with := func(change func(f *Fact)) Fact {
		f := base.clone()
		change(&f)
		return f
	}
	tests := []struct {
		name string
		g    Fact
		want bool
	}{
		{"itself", base, true},
		{"later run, same file: latency, observed and age differ", fileFact("f", "up", t0.Add(time.Minute+3)), true},
		{"content", fileFact("f", "down", t0), false},
		{"ok", with(func(f *Fact) { f.OK, f.Error = false, "gone" }), false},
		{"error text", with(func(f *Fact) { f.OK, f.Error = false, "other" }), false},
		{"other check", with(func(f *Fact) { f.Check = "g" }), false},
		{"a value missing", with(func(f *Fact) { delete(f.Values, "size") }), false},
		{"null now", with(func(f *Fact) { f.Values["mtime"] = cty.NullVal(cty.String) }), false},
		{"json", with(func(f *Fact) { f.Values["json"] = cty.ObjectVal(map[string]cty.Value{"a": cty.True}) }), false},
		{"zero value on one side", with(func(f *Fact) { f.Values["json"] = cty.NilVal }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff, ok := base.Diff(tt.g); (ok && len(diff) == 0) != tt.want {
				t.Errorf("Diff = %q, %v; want the same: %v", diff, ok, tt.want)
			}
			if got := base.Same(tt.g); got != tt.want {
				t.Errorf("Same = %v, want %v", got, tt.want)
			}
			if got := tt.g.Same(base); got != tt.want {
				t.Errorf("Same (swapped) = %v, want %v", got, tt.want)
			}
		})
	}
	// A ping's rtt varies at every run; its loss does not.
	p := Fact{Check: "gw", Kind: KindPing, OK: true, Values: map[string]cty.Value{"rtt": cty.NumberFloatVal(0.001), "loss": cty.Zero}}
	q := Fact{Check: "gw", Kind: KindPing, OK: true, Values: map[string]cty.Value{"rtt": cty.NumberFloatVal(0.002), "loss": cty.Zero}}
	if !p.Same(q) {
		t.Error("a ping whose rtt alone differs changed")
	}
	q.Values["loss"] = cty.NumberFloatVal(0.5)
	if p.Same(q) {
		t.Error("a ping whose loss differs did not change")
	}
}

// signalled reports whether r's Changed channel holds a signal, and
// takes it.
func signalled(r *Runner) bool {
	select {
	case <-r.Changed():
		return true
	default:
		return false
	}
}

func TestRunner_ChangedCoalesces(t *testing.T) {
	t.Parallel()
	r, err := NewRunner(nil, []Spec{quickSpec("a", time.Hour), quickSpec("b", time.Hour), quickSpec("c", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)

	// A check's first fact is no change.
	for _, name := range []string{"a", "b", "c"} {
		r.record(fileFact(name, "up", t0))
	}
	if signalled(r) || r.TakeChanged() != nil {
		t.Fatal("first facts counted as changes")
	}

	// The same observation again, a second later, is no change.
	r.record(fileFact("a", "up", t0.Add(time.Second)))
	if signalled(r) || r.TakeChanged() != nil {
		t.Fatal("a run that saw the same counted as a change")
	}

	// Two checks change, one of them twice: one signal, both names.
	r.record(fileFact("a", "down", t0.Add(2*time.Second)))
	r.record(fileFact("b", "down", t0.Add(2*time.Second)))
	r.record(fileFact("a", "up", t0.Add(3*time.Second)))
	if !signalled(r) {
		t.Fatal("no signal after changes")
	}
	if signalled(r) {
		t.Fatal("a burst of changes signalled more than once")
	}
	got := r.TakeChanged()
	if names := slices.Sorted(maps.Keys(got)); !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("TakeChanged = %q, want [a b]", names)
	}
	// a went down and up again: before and after are the Same; b is down.
	if a := got["a"]; !a.Before.Same(a.After) || a.After.Observed != t0.Add(3*time.Second) {
		t.Errorf("a: %+v", a)
	}
	if b := got["b"]; b.Before.Values["content"].AsString() != "up" || b.After.Values["content"].AsString() != "down" {
		t.Errorf("b: %+v", b)
	}
	if got := r.TakeChanged(); got != nil {
		t.Fatalf("TakeChanged again = %v, want nothing", got)
	}

	// A change after the take signals again.
	r.record(fileFact("c", "down", t0.Add(4*time.Second)))
	if !signalled(r) || !slices.Equal(slices.Sorted(maps.Keys(r.TakeChanged())), []string{"c"}) {
		t.Fatal("a change after the take was not signalled")
	}
}

// TestRunner_FlippingCheckSignalsAtMostOncePerRun: a check whose value
// differs at every run signals at most once per run.
func TestRunner_FlippingCheckSignalsAtMostOncePerRun(t *testing.T) {
	t.Parallel()
	var runs, signals int
	r, err := NewRunner(nil, []Spec{quickSpec("a", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	for i := range 50 {
		r.record(fileFact("a", []string{"up", "down"}[i%2], t0.Add(time.Duration(i)*time.Second)))
		runs++
		if signalled(r) {
			signals++
			r.TakeChanged()
		}
	}
	if signals != runs-1 {
		t.Errorf("%d signals for %d runs that each changed (the first is no change)", signals, runs-1)
	}
}

func TestFact_Diff(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	a := fileFact("f", "up", t0)
	b := fileFact("f", "down", t0.Add(time.Minute))
	b.OK, b.Error = false, "gone"
	b.Values["extra"] = cty.True
	got, ok := a.Diff(b)
	if want := []string{"content", "error", "extra", "ok", "size"}; !ok || !slices.Equal(got, want) {
		t.Errorf("Diff = %q, %v; want %q (not age, latency or observed)", got, ok, want)
	}
	c := a
	c.Check = "g"
	if got, ok := a.Diff(c); ok || got != nil {
		t.Errorf("Diff of another check = %q, %v; want nil, false", got, ok)
	}
}
