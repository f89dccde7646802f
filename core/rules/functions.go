package rules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Functions returns the functions that rule expressions (conditions and
// templates) may call. now is the clock that now() and age() read; nil means
// time.Now. The map is new on every call and safe to share between
// evaluation contexts; build it once and reuse it on every tick.
//
// The set is: now, age, duration (see the package documentation), try and
// can, and the cty standard library functions abs, ceil, floor, max, min,
// contains, length, keys, values, lookup, coalesce, concat, distinct,
// flatten, join, split, lower, upper, trimspace, trimprefix, trimsuffix,
// format, formatlist, regex, regexall, replace, substr, timeadd, formatdate,
// tostring, tonumber and tobool.
func Functions(now func() time.Time) map[string]function.Function {
	if now == nil {
		now = time.Now
	}
	return map[string]function.Function{
		"now":      nowFunc(now),
		"age":      ageFunc(now),
		"duration": durationFunc,

		"try": tryfunc.TryFunc,
		"can": tryfunc.CanFunc,

		"abs":   stdlib.AbsoluteFunc,
		"ceil":  stdlib.CeilFunc,
		"floor": stdlib.FloorFunc,
		"max":   stdlib.MaxFunc,
		"min":   stdlib.MinFunc,

		"contains": stdlib.ContainsFunc,
		"length":   lengthFunc,
		"keys":     stdlib.KeysFunc,
		"values":   stdlib.ValuesFunc,
		"lookup":   stdlib.LookupFunc,
		"coalesce": stdlib.CoalesceFunc,
		"concat":   stdlib.ConcatFunc,
		"distinct": stdlib.DistinctFunc,
		"flatten":  stdlib.FlattenFunc,

		"join":       stdlib.JoinFunc,
		"split":      stdlib.SplitFunc,
		"lower":      stdlib.LowerFunc,
		"upper":      stdlib.UpperFunc,
		"trimspace":  stdlib.TrimSpaceFunc,
		"trimprefix": stdlib.TrimPrefixFunc,
		"trimsuffix": stdlib.TrimSuffixFunc,
		"format":     stdlib.FormatFunc,
		"formatlist": stdlib.FormatListFunc,
		"regex":      stdlib.RegexFunc,
		"regexall":   stdlib.RegexAllFunc,
		"replace":    replaceFunc,
		"substr":     stdlib.SubstrFunc,

		"timeadd":    stdlib.TimeAddFunc,
		"formatdate": stdlib.FormatDateFunc,

		"tostring": stdlib.MakeToFunc(cty.String),
		"tonumber": stdlib.MakeToFunc(cty.Number),
		"tobool":   stdlib.MakeToFunc(cty.Bool),
	}
}

// nowFunc is now(): the current time as an RFC 3339 string in UTC.
func nowFunc(now func() time.Time) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the current time as an RFC 3339 timestamp in UTC.",
		Params:      []function.Parameter{},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(_ []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(now().UTC().Format(time.RFC3339)), nil
		},
	})
}

// ageFunc is age(ts): the seconds elapsed since the RFC 3339 timestamp ts,
// negative when ts is in the future.
func ageFunc(now func() time.Time) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the number of seconds since an RFC 3339 timestamp (negative when it lies in the future).",
		Params: []function.Parameter{
			{Name: "timestamp", Type: cty.String, AllowNull: true},
		},
		Type:         function.StaticReturnType(cty.Number),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if args[0].IsNull() {
				return cty.NilVal, function.NewArgErrorf(0, "age: the timestamp is null (was the fact observed yet?); guard it with try(age(...), 0) or can(age(...))")
			}
			s := args[0].AsString()
			if s == "" {
				return cty.NilVal, function.NewArgErrorf(0, "age: the timestamp is empty (was the fact observed yet?); guard it with try(age(...), 0) or can(age(...))")
			}
			ts, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return cty.NilVal, function.NewArgErrorf(0, "age: %q is not an RFC 3339 timestamp such as \"2006-01-02T15:04:05Z\"", s)
			}
			return cty.NumberFloatVal(now().Sub(ts).Seconds()), nil
		},
	})
}

// durationFunc is duration(s): the number of seconds in a Go duration
// string, which may also use "d" for days of 24 hours.
var durationFunc = function.New(&function.Spec{
	Description: `Returns the number of seconds in a duration such as "90s", "1h30m" or "7d" (a day is 24 hours).`,
	Params: []function.Parameter{
		{Name: "duration", Type: cty.String},
	},
	Type:         function.StaticReturnType(cty.Number),
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		secs, err := parseSeconds(args[0].AsString())
		if err != nil {
			return cty.NilVal, function.NewArgError(0, err)
		}
		return cty.NumberFloatVal(secs), nil
	},
})

// ParseDuration parses a Go duration string ("300ms", "1.5h", "2h45m") that
// may also use the unit "d" for a day of 24 hours ("7d", "1d12h"), the
// syntax of duration(). A leading sign applies to the whole duration.
// Durations beyond about 290 years are an error.
func ParseDuration(s string) (time.Duration, error) {
	secs, err := parseSeconds(s)
	if err != nil {
		return 0, err
	}
	ns := secs * 1e9
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("duration: %q is out of range", s)
	}
	return time.Duration(math.Round(ns)), nil
}

// parseSeconds returns the number of seconds in s, in the syntax of
// ParseDuration, without its range limit.
func parseSeconds(s string) (float64, error) {
	orig := s
	if s == "" {
		return 0, errors.New("duration: empty string; use a duration such as \"90s\", \"15m\", \"24h\" or \"7d\"")
	}
	sign := 1.0
	switch s[0] {
	case '-':
		sign, s = -1, s[1:]
	case '+':
		s = s[1:]
	}
	if s == "0" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("duration: invalid duration %q", orig)
	}
	var total float64
	for s != "" {
		i := 0
		for i < len(s) && (s[i] == '.' || ('0' <= s[i] && s[i] <= '9')) {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("duration: invalid duration %q: expected a number at %q", orig, s)
		}
		num, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("duration: invalid duration %q: bad number %q", orig, s[:i])
		}
		s = s[i:]
		j := 0
		for j < len(s) && s[j] != '.' && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit := s[:j]
		s = s[j:]
		mult, ok := durationUnits[unit]
		if !ok {
			if unit == "" {
				return 0, fmt.Errorf("duration: invalid duration %q: missing unit (one of ns, us, ms, s, m, h, d)", orig)
			}
			return 0, fmt.Errorf("duration: invalid duration %q: unknown unit %q (one of ns, us, ms, s, m, h, d)", orig, unit)
		}
		total += num * mult
	}
	if math.IsInf(total, 0) || math.IsNaN(total) {
		return 0, fmt.Errorf("duration: invalid duration %q: out of range", orig)
	}
	return sign * total, nil
}

// durationUnits maps a unit to its length in seconds.
var durationUnits = map[string]float64{
	"ns": 1e-9,
	"us": 1e-6,
	"µs": 1e-6, // U+00B5 micro sign
	"μs": 1e-6, // U+03BC Greek mu
	"ms": 1e-3,
	"s":  1,
	"m":  60,
	"h":  3600,
	"d":  86400,
}

// lengthFunc is length(v): the number of characters in a string or of
// elements in a collection, like Terraform's length.
var lengthFunc = function.New(&function.Spec{
	Description: "Returns the number of characters in a string or the number of elements in a list, set, map, tuple or object.",
	Params: []function.Parameter{
		{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true},
	},
	Type: func(args []cty.Value) (cty.Type, error) {
		ty := args[0].Type()
		switch {
		case ty == cty.String, ty == cty.DynamicPseudoType,
			ty.IsCollectionType(), ty.IsTupleType(), ty.IsObjectType():
			return cty.Number, nil
		}
		return cty.NilType, function.NewArgErrorf(0, "length: a string, list, set, map, tuple or object is required, not %s", ty.FriendlyName())
	},
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if args[0].Type() == cty.String {
			return stdlib.Strlen(args[0])
		}
		return args[0].Length(), nil
	},
})

// replaceFunc is replace(str, substr, replacement). As in Terraform, a
// substr wrapped in slashes ("/[0-9]+/") is a regular expression whose
// groups the replacement may use as $1 or ${name}; otherwise the
// replacement is literal.
var replaceFunc = function.New(&function.Spec{
	Description: "Replaces each occurrence of substr in str; a substr wrapped in slashes is a regular expression.",
	Params: []function.Parameter{
		{Name: "str", Type: cty.String},
		{Name: "substr", Type: cty.String},
		{Name: "replace", Type: cty.String},
	},
	Type:         function.StaticReturnType(cty.String),
	RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder { return b.NotNull() },
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sub := args[1].AsString()
		if len(sub) > 1 && strings.HasPrefix(sub, "/") && strings.HasSuffix(sub, "/") {
			return stdlib.RegexReplace(args[0], cty.StringVal(sub[1:len(sub)-1]), args[2])
		}
		return stdlib.Replace(args[0], args[1], args[2])
	},
})
