package rulestest

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// DefaultStart is when a test without a start attribute starts.
var DefaultStart = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// File is a parsed test file.
type File struct {
	// Path is the file's name as given.
	Path string
	// Config holds the configuration paths, joined to the file's
	// directory when relative.
	Config []string
	// ConfigRange is the range of the config attribute's value.
	ConfigRange hcl.Range
	// Rules is the file's rule selection; nil selects every rule.
	Rules []NameRef
	// Tests holds the test blocks in file order.
	Tests []*Test
}

// NameRef is a name written in a test file, with where it was written.
type NameRef struct {
	Name  string
	Range hcl.Range
}

// Test is one test block.
type Test struct {
	// Name is the block's label.
	Name string
	// DeclRange is the range of the block's header.
	DeclRange hcl.Range
	// Start is the time at offset 0.
	Start time.Time
	// Stop is the offset at which the agent stops, when HasStop.
	Stop    time.Duration
	HasStop bool
	// StopRange is the range of the stop attribute's value.
	StopRange hcl.Range
	// Rules overrides the file's rule selection when not nil.
	Rules []NameRef
	// Facts holds the facts blocks sorted by offset.
	Facts []*Facts
	// Expects holds the expect blocks sorted by offset.
	Expects []*Expect
}

// Facts is one facts block: what holds from Offset on.
type Facts struct {
	Offset time.Duration
	// Range is the range of the block's header.
	Range hcl.Range
	// Node holds node facts by name.
	Node map[string]cty.Value
	// NodeRange is the range of the node attribute's value.
	NodeRange hcl.Range
	// Checks and Peers hold the facts given, by name.
	Checks map[string]*FactSpec
	Peers  map[string]*FactSpec
	// Outbox is the outbox fact as written, when HasOutbox; OutboxRange
	// is the range of its value.
	Outbox      cty.Value
	HasOutbox   bool
	OutboxRange hcl.Range
	// Silences is agent.silences as written, when HasSilences.
	Silences      cty.Value
	HasSilences   bool
	SilencesRange hcl.Range
	// Credential is the credential fact as written, when HasCredential;
	// CredentialRange is the range of its value.
	Credential      cty.Value
	HasCredential   bool
	CredentialRange hcl.Range
}

// FactSpec is a check or peer block of a facts block: the attributes of a
// fact as written. Which ones a fact may have depends on the kind of the
// check, which the configuration declares.
type FactSpec struct {
	Name string
	// Range is the range of the block's label.
	Range hcl.Range
	// Attrs holds the attribute values by name.
	Attrs map[string]cty.Value
	// AttrRanges holds the range of each attribute's value.
	AttrRanges map[string]hcl.Range
}

// Expect is one expect block: the events of a window of the timeline.
type Expect struct {
	// Offset is the end of the window (inclusive).
	Offset time.Duration
	// Range is the range of the block's header, where failures are
	// reported.
	Range hcl.Range
	// Events holds the rules expected per event; an event that is not a
	// key expects none.
	Events map[rules.Event][]NameRef
	// Subject and Text map a rule to a substring its notifications in the
	// window must contain.
	Subject map[string]string
	Text    map[string]string
	// Attach maps a rule to the files its notifications must attach.
	Attach map[string][]string
	// Silent lists rules whose resolves in the window (one at least)
	// must send no notification (on_resolve false, or its expression
	// false then).
	Silent []NameRef
	// Names holds every rule name the block mentions, for checking that
	// the test evaluates it.
	Names []NameRef
}

// expectLists maps the list attributes of an expect block to their event.
var expectLists = []struct {
	attr  string
	event rules.Event
}{
	{"fire", rules.EventFire},
	{"repeat", rules.EventRepeat},
	{"resolve", rules.EventResolve},
	{"error", rules.EventErrorStarted},
	{"flapping", rules.EventFlapStart},
}

var fileSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "config", Required: true}, {Name: "rules"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "test", LabelNames: []string{"name"}}},
}

var testSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "start"}, {Name: "stop"}, {Name: "rules"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "facts", LabelNames: []string{"offset"}},
		{Type: "expect", LabelNames: []string{"offset"}},
	},
}

var factsSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "node"}, {Name: "outbox"}, {Name: "silences"}, {Name: "credential"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "check", LabelNames: []string{"name"}},
		{Type: "peer", LabelNames: []string{"name"}},
	},
}

var expectSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, l := range expectLists {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: l.attr})
	}
	for _, n := range []string{"subject", "text", "attach", "silent"} {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}()

// ParseFile parses the test file at path. It returns every problem it
// finds as diagnostics; the File is usable only when they hold no error.
// sources maps file names to their bytes, for rendering the diagnostics.
func ParseFile(path string) (f *File, sources map[string][]byte, diags hcl.Diagnostics) {
	sources = map[string][]byte{}
	// The same limits as a configuration: the parser recurses per level
	// of nesting, and a stack overflow cannot be recovered from.
	src, diags := config.ReadSource(path)
	if diags.HasErrors() {
		return nil, sources, withSubjects(diags, path)
	}
	sources[path] = src
	if diags := config.CheckSource(path, src); diags.HasErrors() {
		return nil, sources, diags
	}
	p := hclparse.NewParser()
	hf, diags := p.ParseHCL(src, path)
	if hf == nil || diags.HasErrors() {
		if !diags.HasErrors() {
			diags = append(diags, fileError(path, "Cannot read the test file", "The file could not be parsed."))
		}
		return nil, sources, withSubjects(diags, path)
	}
	f, d := decodeFile(path, hf.Body)
	return f, sources, withSubjects(append(diags, d...), path)
}

// decodeFile decodes the body of a test file.
func decodeFile(path string, body hcl.Body) (*File, hcl.Diagnostics) {
	f := &File{Path: path}
	content, diags := body.Content(fileSchema)
	ctx := &hcl.EvalContext{}
	if attr, ok := content.Attributes["config"]; ok {
		f.ConfigRange = attr.Expr.Range()
		v, d := stringList(attr, ctx)
		diags = append(diags, d...)
		if !d.HasErrors() && len(v) == 0 {
			diags = append(diags, hcldecode.AttrError(attr, "No configuration", `config lists the configuration files or directories the rules come from, such as config = ["failover.hcl"].`))
		}
		dir := filepath.Dir(path)
		for _, p := range v {
			if !filepath.IsAbs(p.Name) {
				p.Name = filepath.Join(dir, p.Name)
			}
			f.Config = append(f.Config, p.Name)
		}
	}
	if attr, ok := content.Attributes["rules"]; ok {
		v, d := stringList(attr, ctx)
		diags = append(diags, d...)
		f.Rules = v
		if f.Rules == nil {
			f.Rules = []NameRef{}
		}
	}
	seen := map[string]hcl.Range{}
	for _, b := range content.Blocks {
		name := b.Labels[0]
		if prev, dup := seen[name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate test",
				Detail:   fmt.Sprintf("A test named %q is already declared at %s; test names must be unique within a file.", name, hcldecode.Where(prev)),
				Subject:  b.LabelRanges[0].Ptr(),
			})
		}
		seen[name] = b.LabelRanges[0]
		t, d := decodeTest(b)
		diags = append(diags, d...)
		f.Tests = append(f.Tests, t)
	}
	if len(content.Blocks) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No tests",
			Detail:   `The file declares no test block, such as test "it fires" { ... }.`,
			Subject:  f.ConfigRange.Ptr(),
		})
	}
	return f, diags
}

// decodeTest decodes one test block.
func decodeTest(b *hcl.Block) (*Test, hcl.Diagnostics) {
	t := &Test{Name: b.Labels[0], DeclRange: b.DefRange, Start: DefaultStart}
	content, diags := b.Body.Content(testSchema)
	plain := &hcl.EvalContext{}
	if attr, ok := content.Attributes["start"]; ok {
		s, d := stringValue(attr, plain)
		diags = append(diags, d...)
		if !d.HasErrors() {
			ts, err := time.Parse(time.RFC3339, s)
			if err != nil {
				diags = append(diags, hcldecode.AttrError(attr, "Invalid start",
					fmt.Sprintf("start must be an RFC 3339 time such as \"2026-11-23T08:00:00Z\", not %q.", s)))
			} else {
				t.Start = ts
			}
		}
	}
	if attr, ok := content.Attributes["stop"]; ok {
		t.StopRange = attr.Expr.Range()
		d, ds := offsetValue(attr, plain)
		diags = append(diags, ds...)
		t.Stop, t.HasStop = d, !ds.HasErrors()
	}
	if attr, ok := content.Attributes["rules"]; ok {
		v, d := stringList(attr, plain)
		diags = append(diags, d...)
		t.Rules = v
		if t.Rules == nil {
			t.Rules = []NameRef{}
		}
	}
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{"at": atFunc(t.Start)}}
	factsAt := map[time.Duration]hcl.Range{}
	expectAt := map[time.Duration]hcl.Range{}
	for _, blk := range content.Blocks {
		off, d := offsetLabel(blk)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		seen := factsAt
		if blk.Type == "expect" {
			seen = expectAt
		}
		if prev, dup := seen[off]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate offset",
				Detail:   fmt.Sprintf("A %s block at %s is already declared at %s; merge them.", blk.Type, FormatOffset(off), hcldecode.Where(prev)),
				Subject:  blk.LabelRanges[0].Ptr(),
			})
			continue
		}
		seen[off] = blk.DefRange
		switch blk.Type {
		case "facts":
			fb, d := decodeFacts(blk, off, ctx)
			diags = append(diags, d...)
			t.Facts = append(t.Facts, fb)
		case "expect":
			e, d := decodeExpect(blk, off, ctx)
			diags = append(diags, d...)
			t.Expects = append(t.Expects, e)
		}
	}
	sort.SliceStable(t.Facts, func(i, j int) bool { return t.Facts[i].Offset < t.Facts[j].Offset })
	sort.SliceStable(t.Expects, func(i, j int) bool { return t.Expects[i].Offset < t.Expects[j].Offset })
	if len(t.Expects) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Nothing expected",
			Detail:   fmt.Sprintf("Test %q has no expect block, so it cannot fail; add one such as expect \"15m\" { fire = [\"my_rule\"] }.", t.Name),
			Subject:  b.DefRange.Ptr(),
		})
	}
	if t.HasStop && len(t.Expects) > 0 {
		if last := t.Expects[len(t.Expects)-1]; last.Offset > t.Stop {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Expectation after stop",
				Detail:   fmt.Sprintf("The agent stops at %s, so nothing can happen at %s.", FormatOffset(t.Stop), FormatOffset(last.Offset)),
				Subject:  last.Range.Ptr(),
			})
		}
	}
	return t, diags
}

// decodeFacts decodes one facts block.
func decodeFacts(b *hcl.Block, off time.Duration, ctx *hcl.EvalContext) (*Facts, hcl.Diagnostics) {
	fb := &Facts{Offset: off, Range: b.DefRange, Checks: map[string]*FactSpec{}, Peers: map[string]*FactSpec{}}
	content, diags := b.Body.Content(factsSchema)
	if attr, ok := content.Attributes["node"]; ok {
		fb.NodeRange = attr.Expr.Range()
		v, d := attr.Expr.Value(ctx)
		diags = append(diags, d...)
		if !d.HasErrors() {
			if v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsObjectType() || v.Type().IsMapType()) {
				diags = append(diags, hcldecode.AttrError(attr, "Invalid node facts", `node is an object of node facts, such as node = { role = "backup", version = "7.1" }.`))
			} else {
				fb.Node = v.AsValueMap()
				if fb.Node == nil {
					fb.Node = map[string]cty.Value{}
				}
			}
		}
	}
	fb.Outbox, fb.HasOutbox, fb.OutboxRange = wholeValue(content, "outbox", ctx, &diags)
	fb.Silences, fb.HasSilences, fb.SilencesRange = wholeValue(content, "silences", ctx, &diags)
	fb.Credential, fb.HasCredential, fb.CredentialRange = wholeValue(content, "credential", ctx, &diags)
	for _, blk := range content.Blocks {
		name := blk.Labels[0]
		into := fb.Checks
		if blk.Type == "peer" {
			into = fb.Peers
		}
		if _, dup := into[name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate " + blk.Type,
				Detail:   fmt.Sprintf("This facts block already gives %s %q.", blk.Type, name),
				Subject:  blk.LabelRanges[0].Ptr(),
			})
			continue
		}
		spec := &FactSpec{Name: name, Range: blk.LabelRanges[0], Attrs: map[string]cty.Value{}, AttrRanges: map[string]hcl.Range{}}
		attrs, d := blk.Body.JustAttributes()
		diags = append(diags, d...)
		for n, a := range attrs {
			v, d := a.Expr.Value(ctx)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			if !v.IsWhollyKnown() {
				diags = append(diags, hcldecode.AttrError(a, "Invalid value", fmt.Sprintf("The value of %q must be known.", n)))
				continue
			}
			spec.Attrs[n] = v
			spec.AttrRanges[n] = a.Expr.Range()
		}
		into[name] = spec
	}
	return fb, diags
}

// decodeExpect decodes one expect block.
func decodeExpect(b *hcl.Block, off time.Duration, ctx *hcl.EvalContext) (*Expect, hcl.Diagnostics) {
	e := &Expect{Offset: off, Range: b.DefRange, Events: map[rules.Event][]NameRef{},
		Subject: map[string]string{}, Text: map[string]string{}, Attach: map[string][]string{}}
	content, diags := b.Body.Content(expectSchema)
	for _, l := range expectLists {
		attr, ok := content.Attributes[l.attr]
		if !ok {
			continue
		}
		v, d := stringList(attr, ctx)
		diags = append(diags, d...)
		if len(v) > 0 {
			e.Events[l.event] = v
			e.Names = append(e.Names, v...)
		}
	}
	if attr, ok := content.Attributes["silent"]; ok {
		v, d := stringList(attr, ctx)
		diags = append(diags, d...)
		e.Silent = v
		e.Names = append(e.Names, v...)
	}
	for _, n := range []string{"subject", "text"} {
		attr, ok := content.Attributes[n]
		if !ok {
			continue
		}
		v, d := hcldecode.Value(attr, ctx, cty.Map(cty.String))
		diags = append(diags, d...)
		if d.HasErrors() || v.IsNull() {
			continue
		}
		into := e.Subject
		if n == "text" {
			into = e.Text
		}
		for rule, s := range v.AsValueMap() {
			if s.IsNull() {
				diags = append(diags, hcldecode.AttrError(attr, "Invalid "+n, fmt.Sprintf("The substring for rule %q must not be null.", rule)))
				continue
			}
			into[rule] = s.AsString()
			e.Names = append(e.Names, NameRef{Name: rule, Range: attr.Expr.Range()})
		}
	}
	if attr, ok := content.Attributes["attach"]; ok {
		v, d := hcldecode.Value(attr, ctx, cty.Map(cty.List(cty.String)))
		diags = append(diags, d...)
		if !d.HasErrors() && !v.IsNull() {
			for rule, list := range v.AsValueMap() {
				var files []string
				if !list.IsNull() {
					for _, el := range list.AsValueSlice() {
						if el.IsNull() {
							diags = append(diags, hcldecode.AttrError(attr, "Invalid attach", "A file name must not be null."))
							continue
						}
						files = append(files, el.AsString())
					}
				}
				e.Attach[rule] = files
				e.Names = append(e.Names, NameRef{Name: rule, Range: attr.Expr.Range()})
			}
		}
	}
	sort.SliceStable(e.Names, func(i, j int) bool { return e.Names[i].Name < e.Names[j].Name })
	return e, diags
}

// offsetLabel parses a block's offset label.
func offsetLabel(b *hcl.Block) (time.Duration, hcl.Diagnostics) {
	d, err := ParseOffset(b.Labels[0])
	if err != nil {
		return 0, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid offset",
			Detail:   fmt.Sprintf("The label of a %s block is an offset from the test's start: %s.", b.Type, err),
			Subject:  b.LabelRanges[0].Ptr(),
		}}
	}
	return d, nil
}

// offsetValue evaluates an attribute holding an offset.
func offsetValue(attr *hcl.Attribute, ctx *hcl.EvalContext) (time.Duration, hcl.Diagnostics) {
	s, diags := stringValue(attr, ctx)
	if diags.HasErrors() {
		return 0, diags
	}
	d, err := ParseOffset(s)
	if err != nil {
		return 0, hcl.Diagnostics{hcldecode.AttrError(attr, "Invalid offset", fmt.Sprintf("%s is an offset from the test's start: %s.", attr.Name, err))}
	}
	return d, nil
}

// ParseOffset parses an offset from a test's start: a duration that is
// not negative, such as "0m", "90s", "15m", "24h" or "1d12h".
func ParseOffset(s string) (time.Duration, error) {
	d, err := rules.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as \"15m\", \"24h\" or \"1d12h\"", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// FormatOffset formats an offset compactly, in days, hours, minutes and
// seconds: "0s", "15m", "1d2h", "1m30s".
func FormatOffset(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range []struct {
		n    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d >= u.n {
			fmt.Fprintf(&b, "%d%s", d/u.n, u.name)
			d %= u.n
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

// atFunc is at(offset): the time at offset from start, RFC 3339 in UTC.
// Unlike block labels, the offset may be negative.
func atFunc(start time.Time) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the time at an offset from the test's start as an RFC 3339 string.",
		Params:      []function.Parameter{{Name: "offset", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			d, err := rules.ParseDuration(strings.TrimSpace(args[0].AsString()))
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			return cty.StringVal(start.Add(d).UTC().Format(time.RFC3339)), nil
		},
	})
}

// stringValue evaluates a string attribute that must be set.
func stringValue(attr *hcl.Attribute, ctx *hcl.EvalContext) (string, hcl.Diagnostics) {
	v, diags := hcldecode.Value(attr, ctx, cty.String)
	if diags.HasErrors() {
		return "", diags
	}
	if v.IsNull() {
		return "", hcl.Diagnostics{hcldecode.AttrError(attr, "Missing value", fmt.Sprintf("%s must not be null.", attr.Name))}
	}
	return v.AsString(), nil
}

// stringList evaluates a list of strings, each with the range of its
// element when the list is written out.
func stringList(attr *hcl.Attribute, ctx *hcl.EvalContext) ([]NameRef, hcl.Diagnostics) {
	list, diags := hcldecode.Strings(attr, ctx)
	out := make([]NameRef, len(list))
	for i, e := range list {
		out[i] = NameRef{Name: e.Value, Range: e.Range}
	}
	return out, diags
}

// fileError is an error about a whole file, at its start.
func fileError(path, summary, detail string) *hcl.Diagnostic {
	pos := hcl.Pos{Line: 1, Column: 1}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail,
		Subject: &hcl.Range{Filename: path, Start: pos, End: pos}}
}

// withSubjects gives every diagnostic without a subject the start of
// path, so that every one prints with file:line:col.
func withSubjects(diags hcl.Diagnostics, path string) hcl.Diagnostics {
	for _, d := range diags {
		if d.Subject == nil {
			d.Subject = fileError(path, "", "").Subject
		}
	}
	return diags
}

// wholeValue reads the attribute name of content, a value given whole
// (outbox, silences, credential): its value and true when it is there and
// evaluates, and its range when it is there (for the diagnostics of what
// binds it), adding its diagnostics to diags.
func wholeValue(content *hcl.BodyContent, name string, ctx *hcl.EvalContext, diags *hcl.Diagnostics) (cty.Value, bool, hcl.Range) {
	attr, ok := content.Attributes[name]
	if !ok {
		return cty.NilVal, false, hcl.Range{}
	}
	v, d := attr.Expr.Value(ctx)
	*diags = append(*diags, d...)
	if d.HasErrors() {
		return cty.NilVal, false, attr.Expr.Range()
	}
	return v, true, attr.Expr.Range()
}
