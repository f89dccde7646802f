package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

func TestFunctions(t *testing.T) {
	vars := map[string]cty.Value{
		"check": cty.ObjectVal(map[string]cty.Value{
			"sync": cty.ObjectVal(map[string]cty.Value{
				"observed": cty.StringVal("2025-06-01T07:00:00Z"),
				"never":    cty.NullVal(cty.String),
				"empty":    cty.StringVal(""),
			}),
		}),
	}
	tests := []struct {
		name    string
		src     string
		want    cty.Value
		wantErr string
	}{
		{name: "now", src: `now()`, want: cty.StringVal("2025-06-01T08:00:00Z")},
		{name: "age of an hour", src: `age("2025-06-01T07:00:00Z")`, want: cty.NumberIntVal(3600)},
		{name: "age of a fact", src: `age(check.sync.observed)`, want: cty.NumberIntVal(3600)},
		{name: "age with zone offset", src: `age("2025-06-01T09:00:00+02:00")`, want: cty.NumberIntVal(3600)},
		{name: "age fractional", src: `age("2025-06-01T07:59:59.5Z")`, want: cty.NumberFloatVal(0.5)},
		{name: "age in the future is negative", src: `age("2025-06-01T08:01:00Z")`, want: cty.NumberIntVal(-60)},
		{name: "age of null", src: `age(check.sync.never)`, wantErr: "timestamp is null"},
		{name: "age of empty", src: `age(check.sync.empty)`, wantErr: "timestamp is empty"},
		{name: "age of garbage", src: `age("yesterday")`, wantErr: "not an RFC 3339 timestamp"},
		{name: "try guards age", src: `try(age(check.sync.never), 0)`, want: cty.NumberIntVal(0)},
		{name: "can guards age", src: `can(age(check.sync.empty))`, want: cty.False},
		{name: "duration hours", src: `duration("24h")`, want: cty.NumberIntVal(86400)},
		{name: "duration days", src: `duration("7d")`, want: cty.NumberIntVal(7 * 86400)},
		{name: "duration mixed", src: `duration("1d12h30m15s")`, want: cty.NumberIntVal(86400 + 12*3600 + 30*60 + 15)},
		{name: "duration fractional days", src: `duration("1.5d")`, want: cty.NumberIntVal(129600)},
		{name: "duration ms", src: `duration("250ms")`, want: cty.NumberFloatVal(0.25)},
		{name: "duration us", src: `duration("1500us")`, want: cty.NumberFloatVal(0.0015)},
		{name: "duration negative", src: `duration("-90s")`, want: cty.NumberIntVal(-90)},
		{name: "duration zero", src: `duration("0")`, want: cty.NumberIntVal(0)},
		{name: "duration no unit", src: `duration("10")`, wantErr: "missing unit"},
		{name: "duration bad unit", src: `duration("3w")`, wantErr: `unknown unit "w"`},
		{name: "duration empty", src: `duration("")`, wantErr: "empty string"},
		{name: "duration garbage", src: `duration("h")`, wantErr: "expected a number"},
		{name: "age compared with duration", src: `age(check.sync.observed) > duration("30m")`, want: cty.True},
		{name: "length of string", src: `length("héllo")`, want: cty.NumberIntVal(5)},
		{name: "length of list", src: `length(["a", "b"])`, want: cty.NumberIntVal(2)},
		{name: "length of object", src: `length(check.sync)`, want: cty.NumberIntVal(3)},
		{name: "length of number", src: `length(3)`, wantErr: "a string, list"},
		{name: "replace literal", src: `replace("a.b.c", ".", "-")`, want: cty.StringVal("a-b-c")},
		{name: "replace regex", src: `replace("v1.2.3", "/[0-9]+/", "N")`, want: cty.StringVal("vN.N.N")},
		{name: "formatdate", src: `formatdate("YYYY-MM-DD", now())`, want: cty.StringVal("2025-06-01")},
		{name: "timeadd", src: `timeadd(now(), "1h")`, want: cty.StringVal("2025-06-01T09:00:00Z")},
		{name: "tonumber", src: `tonumber("1.5") + 1`, want: cty.NumberFloatVal(2.5)},
		{name: "tostring", src: `tostring(5)`, want: cty.StringVal("5")},
		{name: "tobool", src: `tobool("true")`, want: cty.True},
		{name: "coalesce", src: `coalesce(check.sync.never, "x")`, want: cty.StringVal("x")},
		{name: "lookup", src: `lookup({a = 1}, "b", 2)`, want: cty.NumberIntVal(2)},
		{name: "regex", src: `regex("[0-9]+", "abc123")`, want: cty.StringVal("123")},
		{name: "max", src: `max(1, 5, 3)`, want: cty.NumberIntVal(5)},
		{name: "upper", src: `upper(trimspace(" x "))`, want: cty.StringVal("X")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, diags := mustExpr(t, tt.src).Value(evalCtx(vars))
			if tt.wantErr != "" {
				if !diags.HasErrors() {
					t.Fatalf("got %#v, want an error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(diags.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", diags.Error(), tt.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatalf("unexpected error: %s", diags.Error())
			}
			if !got.RawEquals(tt.want) && !(got.Type() == cty.Number && tt.want.Type() == cty.Number && got.Equals(tt.want).True()) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFunctions_ListComplete(t *testing.T) {
	fns := Functions(nil)
	for _, name := range []string{
		"now", "age", "duration", "try", "can", "abs", "ceil", "floor", "max", "min", "contains",
		"length", "keys", "values", "lookup", "coalesce", "concat", "distinct", "flatten", "join",
		"split", "lower", "upper", "trimspace", "format", "formatlist", "regex", "regexall",
		"replace", "substr", "timeadd", "formatdate", "tostring", "tonumber", "tobool",
	} {
		if _, ok := fns[name]; !ok {
			t.Errorf("function %s missing", name)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "90s", want: 90 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "+2d1h", want: 49 * time.Hour},
		{in: "1µs", want: time.Microsecond},
		{in: ".5h", want: 30 * time.Minute},
		{in: "1..5h", wantErr: "bad number"},
		{in: "-", wantErr: "invalid duration"},
		{in: "100000000d", wantErr: "out of range"},
		{in: "1h 30m", wantErr: "unknown unit"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
