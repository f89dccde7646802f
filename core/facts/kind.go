package facts

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/hcldecode"
)

// Kind names what a check observes: the name a CheckKind registers under,
// which Spec.Kind holds and ObjectType takes.
type Kind string

// CheckKind is one kind of check: its name, the arguments a config check
// block gives it, the shape of its fact and how it runs. Each kind lives in
// a file of its own (tcp.go, cert.go, ...) and registers itself there from
// an init function, so adding a kind is one new file and its test. Lookup
// and Kinds read the registry.
type CheckKind interface {
	// Name is the kind's name.
	Name() Kind
	// Args lists the kind's arguments in a config check block, main
	// ones first; nil for a kind with a block of its own (peer).
	Args() []Arg
	// ValueTypes gives the names and types of the kind's Fact.Values.
	ValueTypes() map[string]cty.Type

	// hasSettings reports whether s holds settings of this kind.
	hasSettings(s Spec) bool
	// withDefaults returns s with the kind's settings, which are set,
	// replaced by a deep copy that has every default applied. (s goes by
	// value: a pointer through an interface would escape to the heap at
	// every run.)
	withDefaults(s Spec) Spec
	// validate reports through add what is wrong with the kind's
	// settings in s, which are set and have their defaults.
	validate(s Spec, add addFunc)
	// base fills v, which holds a typed null for every value, with what
	// s says before anything is observed; s's settings may be unset.
	base(s Spec, v map[string]cty.Value)
	// check runs the check (see checkFunc).
	check(ctx context.Context, s Spec, e *env, v map[string]cty.Value) error
	// volatileValues names the values that change at every run even when
	// what the check observes does not (a file's age): Fact.Same ignores
	// them.
	volatileValues() []string
}

// addFunc records one problem of a Spec: field is the path of the field
// ("http.url"), the rest a message.
type addFunc func(field, format string, args ...any)

// Arg is one argument of a config check block that a kind reads, such as
// tcp = "host:port" or max_bytes = 4096. The config package evaluates the
// argument, converts it to Type, reports its mistakes at the argument and
// hands the value to Set.
type Arg struct {
	// Name is the argument's name.
	Name string
	// Main marks an argument that says what the check observes: a check
	// block sets exactly one main argument of all kinds, and that
	// argument's kind is the check's. A main argument of type string must
	// be set and not empty; one of another type that is null sets nothing.
	Main bool
	// Type is the type the value is converted to.
	Type cty.Type
	// Field is the path of the Spec field it sets, as FieldError.Field
	// names it ("http.max_body"), so that a problem Validate finds there
	// is reported at this argument.
	Field string
	// Set stores v, a known, non-null value of Type, in s. A main
	// argument's Set creates the kind's settings; the others find them
	// created. The error, an *ArgError, says why v cannot be used.
	Set func(s *Spec, v cty.Value, c ArgContext) error
}

// ArgContext is what Arg.Set may need from the configuration it reads.
type ArgContext struct {
	// Path resolves a file path as written in the configuration (a
	// relative one is relative to the directory of the file); nil leaves
	// paths as they are.
	Path func(string) string
}

// path resolves p with c.Path.
func (c ArgContext) path(p string) string {
	if c.Path == nil {
		return p
	}
	return c.Path(p)
}

// ArgError is a value an Arg cannot use, in the words of a configuration
// diagnostic.
type ArgError struct {
	// Summary is a short title, such as "Invalid count".
	Summary string
	// Detail says what is wrong and how to write it.
	Detail string
}

// Error reads "Invalid count: count is a whole number ...".
func (e *ArgError) Error() string { return e.Summary + ": " + e.Detail }

// kindDef is a CheckKind made of functions, which is how the kinds of this
// package register.
type kindDef struct {
	name   Kind
	args   []Arg
	values map[string]cty.Type
	// has, defaults, validate, base and check implement the CheckKind
	// methods of the same purpose; defaults, validate and base may be
	// nil when the kind has nothing to do there.
	has      func(s Spec) bool
	defaults func(s Spec) Spec
	valid    func(s Spec, add addFunc)
	baseFn   func(s Spec, v map[string]cty.Value)
	run      checkFunc
	// volatile names the values that change at every run even when what
	// is observed does not (see CheckKind.volatileValues).
	volatile []string
}

// Name implements CheckKind.
func (k *kindDef) Name() Kind { return k.name }

// Args implements CheckKind.
func (k *kindDef) Args() []Arg { return slices.Clone(k.args) }

// ValueTypes implements CheckKind.
func (k *kindDef) ValueTypes() map[string]cty.Type {
	m := make(map[string]cty.Type, len(k.values))
	for n, t := range k.values {
		m[n] = t
	}
	return m
}

func (k *kindDef) hasSettings(s Spec) bool { return k.has(s) }

func (k *kindDef) withDefaults(s Spec) Spec {
	if k.defaults == nil {
		return s
	}
	return k.defaults(s)
}

func (k *kindDef) validate(s Spec, add addFunc) {
	if k.valid != nil {
		k.valid(s, add)
	}
}

func (k *kindDef) base(s Spec, v map[string]cty.Value) {
	if k.baseFn != nil {
		k.baseFn(s, v)
	}
}

func (k *kindDef) check(ctx context.Context, s Spec, e *env, v map[string]cty.Value) error {
	return k.run(ctx, s, e, v)
}

func (k *kindDef) volatileValues() []string { return k.volatile }

// registry holds the registered kinds. It is written by init functions
// only, before anything reads it, so reading it needs no lock.
var registry struct {
	byName map[Kind]CheckKind
	// ordered lists the kinds by rank; kinds holds the same kinds.
	ordered []ranked
	kinds   []CheckKind
}

// ranked is a registered kind and its place in the documentation's order.
type ranked struct {
	rank int
	kind CheckKind
}

// valueTypes holds the names and types of Values per kind, as the kinds
// registered them. "json" is dynamic: its type is whatever the JSON
// implies.
var valueTypes = map[Kind]map[string]cty.Type{}

// volatileNames holds, per kind, the values Fact.Same ignores (see
// CheckKind.volatileValues).
var volatileNames = map[Kind][]string{}

// register adds k to the kinds; call it from an init function. rank orders the kinds as the
// documentation presents them (and as messages list them): tcp is 10, the
// built-in kinds go up by 10, peer is last at 1000. A second kind of the
// same name is a programming error and panics at start-up.
func register(rank int, k CheckKind) {
	if registry.byName == nil {
		registry.byName = map[Kind]CheckKind{}
	}
	if _, dup := registry.byName[k.Name()]; dup {
		panic(fmt.Sprintf("facts: check kind %q registered twice", k.Name()))
	}
	registry.byName[k.Name()] = k
	registry.ordered = append(registry.ordered, ranked{rank, k})
	slices.SortStableFunc(registry.ordered, func(a, b ranked) int { return cmp.Compare(a.rank, b.rank) })
	registry.kinds = registry.kinds[:0]
	for _, r := range registry.ordered {
		registry.kinds = append(registry.kinds, r.kind)
	}
	valueTypes[k.Name()] = k.ValueTypes()
	if v := k.volatileValues(); len(v) > 0 {
		volatileNames[k.Name()] = v
	}
}

// Lookup returns the kind named name.
func Lookup(name Kind) (CheckKind, bool) {
	k, ok := registry.byName[name]
	return k, ok
}

// Kinds returns the names of every kind, in the order the documentation
// presents them.
func Kinds() []Kind {
	names := make([]Kind, len(registry.ordered))
	for i, r := range registry.ordered {
		names[i] = r.kind.Name()
	}
	return names
}

// kindsInOrder returns every kind, in Kinds order. The slice is the
// registry's own: do not change it.
func kindsInOrder() []CheckKind { return registry.kinds }

// setString returns an Arg.Set that stores a string through field, which
// finds the string in the kind's settings.
func setString(field func(s *Spec) *string) func(s *Spec, v cty.Value, _ ArgContext) error {
	return func(s *Spec, v cty.Value, _ ArgContext) error {
		*field(s) = v.AsString()
		return nil
	}
}

// setPath is setString for a file path, resolved with ArgContext.Path.
func setPath(field func(s *Spec) *string) func(s *Spec, v cty.Value, c ArgContext) error {
	return func(s *Spec, v cty.Value, c ArgContext) error {
		*field(s) = c.path(v.AsString())
		return nil
	}
}

// setBool returns an Arg.Set that stores a bool through field.
func setBool(field func(s *Spec) *bool) func(s *Spec, v cty.Value, _ ArgContext) error {
	return func(s *Spec, v cty.Value, _ ArgContext) error {
		*field(s) = v.True()
		return nil
	}
}

// maxBytesArg is the max_bytes argument that caps what a kind reads,
// stored through field as Spec field path fieldPath.
func maxBytesArg(fieldPath string, field func(s *Spec) *int64) Arg {
	return Arg{Name: "max_bytes", Type: cty.Number, Field: fieldPath, Set: func(s *Spec, v cty.Value, _ ArgContext) error {
		n, ok := hcldecode.WholeNumber(v)
		if !ok || n <= 0 {
			return &ArgError{Summary: "Invalid size", Detail: "max_bytes is a positive whole number of bytes."}
		}
		*field(s) = n
		return nil
	}}
}
