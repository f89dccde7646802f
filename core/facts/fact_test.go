package facts

import (
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

func TestFact_Object(t *testing.T) {
	t.Parallel()
	observed := time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name  string
		fact  Fact
		check func(t *testing.T, obj cty.Value)
	}{
		{
			name: "ok http fact",
			fact: Fact{
				Check: "web", Kind: KindHTTP, OK: true, Latency: 1500 * time.Millisecond, Observed: observed,
				Values: map[string]cty.Value{
					"status": cty.NumberIntVal(200),
					"json":   cty.ObjectVal(map[string]cty.Value{"healthy": cty.True}),
				},
			},
			check: func(t *testing.T, obj cty.Value) {
				want := map[string]cty.Value{
					"ok":       cty.True,
					"error":    cty.StringVal(""),
					"latency":  cty.NumberFloatVal(1.5),
					"observed": cty.StringVal("2026-03-01T11:30:00Z"),
					"status":   cty.NumberIntVal(200),
				}
				for name, w := range want {
					if got := obj.GetAttr(name); !got.RawEquals(w) {
						t.Errorf("%s = %#v, want %#v", name, got, w)
					}
				}
				if !attr(t, obj, "json", "healthy").True() {
					t.Error("json.healthy is not true")
				}
				if n := len(obj.Type().AttributeTypes()); n != 6 {
					t.Errorf("object has %d attributes, want 6", n)
				}
			},
		},
		{
			name: "failed fact",
			fact: Fact{Check: "db", Kind: KindTCP, Error: "connection refused", Observed: observed},
			check: func(t *testing.T, obj cty.Value) {
				if obj.GetAttr("ok").True() || obj.GetAttr("error").AsString() != "connection refused" {
					t.Errorf("got %#v", obj)
				}
			},
		},
		{
			name: "zero observed is null",
			fact: Fact{Check: "x", OK: true},
			check: func(t *testing.T, obj cty.Value) {
				if v := obj.GetAttr("observed"); !v.IsNull() || !v.Type().Equals(cty.String) {
					t.Errorf("observed = %#v, want a null string", v)
				}
			},
		},
		{
			name: "the common attributes win over values",
			fact: Fact{OK: true, Values: map[string]cty.Value{"ok": cty.False, "error": cty.StringVal("shadow")}},
			check: func(t *testing.T, obj cty.Value) {
				if !obj.GetAttr("ok").True() || obj.GetAttr("error").AsString() != "" {
					t.Errorf("got %#v", obj)
				}
			},
		},
		{
			name: "a zero cty value becomes a dynamic null",
			fact: Fact{Values: map[string]cty.Value{"broken": cty.NilVal, "typed": cty.NullVal(cty.Number)}},
			check: func(t *testing.T, obj cty.Value) {
				if v := obj.GetAttr("broken"); !v.IsNull() {
					t.Errorf("broken = %#v, want null", v)
				}
				if v := obj.GetAttr("typed"); !v.IsNull() || !v.Type().Equals(cty.Number) {
					t.Errorf("typed = %#v, want a null number", v)
				}
			},
		},
		{
			name: "invalid UTF-8 in the error is replaced",
			fact: Fact{Error: "bad \xff byte"},
			check: func(t *testing.T, obj cty.Value) {
				if got := obj.GetAttr("error").AsString(); got != "bad \uFFFD byte" {
					t.Errorf("error = %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, tt.fact.Object())
		})
	}
}

func TestObjectType(t *testing.T) {
	t.Parallel()
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			ot := ObjectType(k)
			for _, common := range []string{"ok", "error", "latency", "observed"} {
				if !ot.HasAttribute(common) {
					t.Errorf("no %q attribute", common)
				}
			}
			for name := range valueTypes[k] {
				if !ot.HasAttribute(name) {
					t.Errorf("no %q attribute", name)
				}
				if strings.ToLower(name) != name || strings.ContainsAny(name, " -") {
					t.Errorf("value %q is not snake_case", name)
				}
			}
			// A fact before anything was observed has the promised
			// shape too.
			f := Fact{Check: "c", Kind: k, Values: baseValues(Spec{Name: "c", Kind: k})}
			if errs := f.Object().Type().TestConformance(ot); len(errs) > 0 {
				t.Errorf("empty fact does not conform: %v", errs)
			}
		})
	}
	if got := ObjectType(KindHTTP).AttributeType("status"); !got.Equals(cty.Number) {
		t.Errorf("http status type = %#v", got)
	}
	if got := ObjectType("nope"); len(got.AttributeTypes()) != 4 {
		t.Errorf("unknown kind has %d attributes, want 4", len(got.AttributeTypes()))
	}
}

func TestJSONValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, v cty.Value)
	}{
		{name: "object", in: `{"a": {"b": [1, "two", true, null]}}`, check: func(t *testing.T, v cty.Value) {
			list := attr(t, v, "a", "b")
			if !list.Type().IsTupleType() || list.LengthInt() != 4 {
				t.Fatalf("a.b = %#v", list)
			}
			if !list.Index(cty.NumberIntVal(0)).RawEquals(cty.NumberIntVal(1)) {
				t.Errorf("a.b[0] = %#v", list.Index(cty.NumberIntVal(0)))
			}
		}},
		{name: "number", in: ` 42 `, check: func(t *testing.T, v cty.Value) {
			if !v.RawEquals(cty.NumberIntVal(42)) {
				t.Errorf("got %#v", v)
			}
		}},
		{name: "null", in: `null`, check: func(t *testing.T, v cty.Value) {
			if !v.IsNull() {
				t.Errorf("got %#v", v)
			}
		}},
		{name: "empty object", in: `{}`, check: func(t *testing.T, v cty.Value) {
			if !v.Type().IsObjectType() {
				t.Errorf("got %#v", v)
			}
		}},
		{name: "brackets inside strings do not count", in: `{"s": "` + strings.Repeat("[", 100) + `\"{"}`},
		{name: "nested to the limit", in: strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)},
		{name: "nested too deep", in: strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), wantErr: "nested deeper than 64"},
		{name: "invalid", in: `{"a":`, wantErr: "parse json"},
		{name: "not json", in: `hello`, wantErr: "parse json"},
		{name: "two documents", in: `{} {}`, wantErr: "parse json"},
		{name: "empty", in: ``, wantErr: "parse json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := jsonValue([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}
}

func TestJSONValue_HugeNestingIsQuick(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 500_000) + strings.Repeat("]", 500_000)
	within(t, time.Second, func() {
		if _, err := jsonValue([]byte(deep)); err == nil {
			t.Error("no error for 500000 levels of nesting")
		}
	})
}

func BenchmarkFact_Object(b *testing.B) {
	f := Fact{
		Check: "web", Kind: KindHTTP, OK: true, Latency: 42 * time.Millisecond, Observed: time.Now(),
		Values: map[string]cty.Value{
			"url":     cty.StringVal("https://10.0.0.2/health"),
			"status":  cty.NumberIntVal(200),
			"body":    cty.StringVal(`{"healthy":true}`),
			"json":    cty.ObjectVal(map[string]cty.Value{"healthy": cty.True}),
			"headers": cty.MapVal(map[string]cty.Value{"content-type": cty.StringVal("application/json")}),
		},
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = f.Object()
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"http://h/x", "http://h/x"},
		{"http://ops:s3cret@h:80/x", "http://ops:xxxxx@h:80/x"},
		{"http://ops@h/", "http://ops@h/"},
		{"http://ops:s3cret@[::1", "http://xxxxx@[::1"},
		{"http://ops:s3cret@[::1/p@q", "http://xxxxx@[::1/p@q"},
		{"not a url at all", "not a url at all"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
