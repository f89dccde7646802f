package facts

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Fact is what one run of a check observed. A failed check is a fact too:
// OK is false and Error says why.
type Fact struct {
	// Check is the name of the check.
	Check string
	// Kind is the check's kind.
	Kind Kind
	// OK reports whether the check succeeded; it is true exactly when
	// Error is empty.
	OK bool
	// Error says why the check failed; empty when OK.
	Error string
	// Latency is how long the run took, start to finish.
	Latency time.Duration
	// Observed is when the run finished.
	Observed time.Time
	// Values holds the kind-specific values, named as rules write them
	// (check.NAME.FIELD). Every name of the kind is present, failed or
	// not; a value that was not observed is a null of the name's type.
	// See the package documentation for the names and types per kind.
	Values map[string]cty.Value
}

// The attributes Object adds to Values.
const (
	attrOK       = "ok"
	attrError    = "error"
	attrLatency  = "latency"
	attrObserved = "observed"
)

// Object returns the fact as a cty object for rule expressions: ok (bool),
// error (string, empty when ok), latency (number, seconds), observed
// (string, RFC 3339 in UTC; null when Observed is zero) and every entry of
// Values at the top level. Those four names win over a Values entry of the
// same name; a zero cty.Value in Values becomes a dynamic null.
func (f Fact) Object() cty.Value {
	attrs := make(map[string]cty.Value, len(f.Values)+4)
	for k, v := range f.Values {
		if v.Type() == cty.NilType {
			v = cty.NullVal(cty.DynamicPseudoType)
		}
		attrs[k] = v
	}
	attrs[attrOK] = cty.BoolVal(f.OK)
	attrs[attrError] = stringVal(f.Error)
	attrs[attrLatency] = secondsVal(f.Latency)
	attrs[attrObserved] = cty.NullVal(cty.String)
	if !f.Observed.IsZero() {
		attrs[attrObserved] = timeVal(f.Observed)
	}
	return cty.ObjectVal(attrs)
}

// Same reports whether f and g observed the same thing, as rules read it:
// the same check and kind, the same ok and error, and equal Values
// (cty.Value.RawEquals), except what changes at every run even when what
// is observed does not: Latency, Observed and the kind's volatile values
// (a file's age, a ping's rtt). A check whose fact is not the Same as its
// previous one has changed (see Runner.Changed).
func (f Fact) Same(g Fact) bool {
	same := true
	f.diff(g, func(string) bool { same = false; return false })
	return same
}

// Diff returns the names of the attributes of Object that differ between
// f and g, as Same compares them (ok, error and the names of Values; never
// latency, observed or a volatile value), sorted. Facts of different
// checks or kinds differ in every attribute: Diff returns nil and false.
func (f Fact) Diff(g Fact) (names []string, comparable bool) {
	if f.Check != g.Check || f.Kind != g.Kind {
		return nil, false
	}
	f.diff(g, func(name string) bool { names = append(names, name); return true })
	slices.Sort(names)
	return names, true
}

// diff calls differ with each attribute that differs between f and g
// (another check or kind: with ""), until differ returns false.
func (f Fact) diff(g Fact, differ func(name string) bool) {
	if f.Check != g.Check || f.Kind != g.Kind {
		differ("")
		return
	}
	if f.OK != g.OK && !differ(attrOK) {
		return
	}
	if f.Error != g.Error && !differ(attrError) {
		return
	}
	volatile := volatileNames[f.Kind]
	for name, v := range f.Values {
		if slices.Contains(volatile, name) {
			continue
		}
		w, ok := g.Values[name]
		if !ok || !sameValue(v, w) {
			if !differ(name) {
				return
			}
		}
	}
	for name := range g.Values {
		if _, ok := f.Values[name]; !ok && !slices.Contains(volatile, name) {
			if !differ(name) {
				return
			}
		}
	}
}

// sameValue reports whether a and b are the same value, zero Values
// included.
func sameValue(a, b cty.Value) bool {
	if a.Type() == cty.NilType || b.Type() == cty.NilType {
		return a.Type() == b.Type()
	}
	return a.RawEquals(b)
}

// clone returns f with its own copy of Values.
func (f Fact) clone() Fact {
	f.Values = maps.Clone(f.Values)
	return f
}

// ObjectType returns the type of Fact.Object for a fact of kind k, for
// checking rule expressions before any check has run. Attributes named
// "json" are cty.DynamicPseudoType. An unknown kind has only the four
// common attributes.
func ObjectType(k Kind) cty.Type {
	attrs := map[string]cty.Type{
		attrOK:       cty.Bool,
		attrError:    cty.String,
		attrLatency:  cty.Number,
		attrObserved: cty.String,
	}
	for name, t := range valueTypes[k] {
		if _, common := attrs[name]; !common {
			attrs[name] = t
		}
	}
	return cty.Object(attrs)
}

// baseValues returns the values of a run of s before anything is
// observed: typed nulls, with what the spec itself says filled in.
func baseValues(s Spec) map[string]cty.Value {
	types := valueTypes[s.Kind]
	v := make(map[string]cty.Value, len(types))
	for name, t := range types {
		v[name] = cty.NullVal(t)
	}
	if k, ok := Lookup(s.Kind); ok {
		k.base(s, v)
	}
	return v
}

// redactURL returns raw with its password, if any, replaced by "xxxxx",
// for values and errors that operators may mail around.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil {
		if u.User == nil {
			return raw
		}
		return u.Redacted()
	}
	// Unparsable: cut the user information out by hand.
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return raw
	}
	start := len(raw) - len(rest)
	return raw[:start] + "xxxxx" + raw[start+at:]
}

// stringVal returns s as a cty string, invalid UTF-8 replaced.
func stringVal(s string) cty.Value {
	return cty.StringVal(strings.ToValidUTF8(s, "\uFFFD"))
}

// stringList returns a list of strings; empty, not null, when ss is.
func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = stringVal(s)
	}
	return cty.ListVal(vals)
}

// addrList returns addrs sorted (IPv4 first, then numerically) and without
// duplicates, as a list of strings.
func addrList(addrs []netip.Addr) cty.Value {
	addrs = slices.Clone(addrs)
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	ss := make([]string, len(addrs))
	for i, a := range addrs {
		ss[i] = a.String()
	}
	return stringList(ss)
}

// secondsVal returns d in seconds.
func secondsVal(d time.Duration) cty.Value {
	return cty.NumberFloatVal(d.Seconds())
}

// timeVal returns t as an RFC 3339 string in UTC.
func timeVal(t time.Time) cty.Value {
	return cty.StringVal(t.UTC().Format(time.RFC3339))
}

// maxJSONDepth bounds the nesting of JSON that jsonValue converts: cty's
// decoder re-reads every nested value once per level, so deep nesting
// would cost time quadratic in the size.
const maxJSONDepth = 64

// errJSONTooDeep is returned for JSON nested deeper than maxJSONDepth.
var errJSONTooDeep = fmt.Errorf("json nested deeper than %d levels", maxJSONDepth)

// jsonValue converts any JSON document to a cty value of the type it
// implies: objects become objects, arrays tuples, null a dynamic null.
func jsonValue(b []byte) (cty.Value, error) {
	if err := checkJSONDepth(b); err != nil {
		return cty.NilVal, err
	}
	t, err := ctyjson.ImpliedType(b)
	if err != nil {
		return cty.NilVal, fmt.Errorf("parse json: %w", err)
	}
	v, err := ctyjson.Unmarshal(b, t)
	if err != nil {
		return cty.NilVal, fmt.Errorf("parse json: %w", err)
	}
	return v, nil
}

// checkJSONDepth reports JSON nested deeper than maxJSONDepth. It does not
// validate anything else.
func checkJSONDepth(b []byte) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > maxJSONDepth {
				return errJSONTooDeep
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// errTruncated is wrapped by errors about content that was cut at its
// size cap and so cannot be parsed.
var errTruncated = errors.New("content cut at its size cap")
