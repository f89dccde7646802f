package rulestest

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// MaxEvaluations bounds the rule evaluations of one test, so that a
// schedule of "@every 1s" over a year fails clearly instead of running
// for hours.
const MaxEvaluations = 500_000

// maxEvaluations is the bound in force; tests lower it.
var maxEvaluations = MaxEvaluations

// Options change what RunFile runs.
type Options struct {
	// Run, when set, selects the tests whose name it matches.
	Run *regexp.Regexp
}

// FileResult is the outcome of one test file.
type FileResult struct {
	// Path is the test file's name as given.
	Path string
	// Tests holds the results of the tests that ran, in file order.
	Tests []*TestResult
	// Diagnostics holds the problems of the test file and of its
	// configuration. When they hold an error, no test ran.
	Diagnostics hcl.Diagnostics

	cfg     *config.Config    // for rendering the diagnostics, may be nil
	sources map[string][]byte // the test file's source
}

// TestResult is the outcome of one test.
type TestResult struct {
	Name string
	// DeclRange is the range of the test block's header.
	DeclRange hcl.Range
	// Failures holds every expectation that did not hold, in timeline
	// order.
	Failures []Failure
	// Events holds every event of the timeline, in order.
	Events []Record
	// Notes holds the distinct errors of node expressions met along the
	// timeline; they may explain a failure.
	Notes []string
}

// Passed reports whether every expectation of the test held.
func (t *TestResult) Passed() bool { return len(t.Failures) == 0 }

// Failure is one expectation that did not hold.
type Failure struct {
	// Range is the range of the expect block.
	Range hcl.Range
	// Offset is the expect block's offset.
	Offset time.Duration
	// Message says what was expected and what happened, such as
	// "want fire [version_mismatch], got none".
	Message string
}

// String returns "file:line:col: at OFFSET: message".
func (f Failure) String() string {
	return fmt.Sprintf("%s: at %s: %s", hcldecode.Where(f.Range), FormatOffset(f.Offset), f.Message)
}

// Record is one event of a test's timeline.
type Record struct {
	// Offset is when the event happened, from the test's start.
	Offset time.Duration
	Rule   string
	Event  rules.Event
	// Notification is the notification the event produced, if any.
	Notification *rules.Notification
	// Err is the evaluation error of an EventErrorStarted.
	Err string
}

// Passed reports whether the file had no errors and every test passed.
func (r *FileResult) Passed() bool {
	if r.Diagnostics.HasErrors() {
		return false
	}
	for _, t := range r.Tests {
		if !t.Passed() {
			return false
		}
	}
	return true
}

// RunFile parses the test file at path, loads its configuration and runs
// its tests. It never panics on its input: every problem is a diagnostic
// or a failure in the result.
func RunFile(path string, opts Options) *FileResult {
	res := &FileResult{Path: path}
	f, sources, diags := ParseFile(path)
	res.sources = sources
	res.Diagnostics = diags
	// A file that parses is checked against its configuration even when
	// it has errors, so that every problem is reported at once.
	if f == nil || len(f.Config) == 0 {
		return res
	}
	cfg, cdiags := config.LoadPaths(f.Config...)
	res.cfg = cfg
	// A test runs no check or peer: how the peer link is secured is
	// tocsin validate's business, not the test's.
	cdiags = slices.DeleteFunc(cdiags, func(d *hcl.Diagnostic) bool { return slices.Contains(cfg.Insecure, d) })
	res.Diagnostics = append(res.Diagnostics, cdiags...)
	if cdiags.HasErrors() {
		return res
	}
	for _, r := range cfg.Rules {
		r.Prepare()
	}
	var runs []*boundTest
	for _, t := range f.Tests {
		if opts.Run != nil && !opts.Run.MatchString(t.Name) {
			continue
		}
		bt, d := bind(f, t, cfg)
		res.Diagnostics = append(res.Diagnostics, d...)
		runs = append(runs, bt)
	}
	sortDiagnostics(res.Diagnostics)
	if res.Diagnostics.HasErrors() {
		return res
	}
	for _, bt := range runs {
		tr, d := bt.run()
		res.Diagnostics = append(res.Diagnostics, d...)
		res.Tests = append(res.Tests, tr)
	}
	if res.Diagnostics.HasErrors() {
		res.Tests = nil
	}
	return res
}

// boundTest is a test bound to its configuration: its rules and its facts
// checked against what the configuration declares.
type boundTest struct {
	test  *Test
	cfg   *config.Config
	rules []*rules.Rule
	// states[i] holds what is known after facts block i.
	states []factState
}

// factState is what is known at a point of the timeline.
type factState struct {
	node   map[string]cty.Value
	checks map[string]*factTemplate
	peers  map[string]*factTemplate
	outbox *outboxTemplate // nil: an empty outbox, no transport failing
	// silences are agent.silences.
	silences []rules.SilenceVar
	// credential is the variable credential's facts (nil: none known).
	credential map[string]rules.CredentialFact
}

// factTemplate is a fact as a test gives it; Observed is set at the time
// of each evaluation unless the test gives it.
type factTemplate struct {
	fact        facts.Fact
	hasObserved bool
}

// bind checks t against cfg and prepares its timeline.
func bind(f *File, t *Test, cfg *config.Config) (*boundTest, hcl.Diagnostics) {
	bt := &boundTest{test: t, cfg: cfg}
	var diags hcl.Diagnostics

	selection := f.Rules
	if t.Rules != nil {
		selection = t.Rules
	}
	byName := map[string]*rules.Rule{}
	var ruleNames []string
	for _, r := range cfg.Rules {
		byName[r.Name] = r
		ruleNames = append(ruleNames, r.Name)
	}
	if selection == nil {
		bt.rules = cfg.Rules
	} else {
		want := map[string]bool{}
		for _, ref := range selection {
			if byName[ref.Name] == nil {
				diags = append(diags, unknownName(ref, "rule", ruleNames))
				continue
			}
			want[ref.Name] = true
		}
		// Configuration order, whatever the order of the list.
		for _, r := range cfg.Rules {
			if want[r.Name] {
				bt.rules = append(bt.rules, r)
			}
		}
	}
	selected := map[string]bool{}
	for _, r := range bt.rules {
		selected[r.Name] = true
	}
	for _, e := range t.Expects {
		for _, ref := range e.Names {
			if selected[ref.Name] {
				continue
			}
			if byName[ref.Name] == nil {
				diags = append(diags, unknownName(ref, "rule", ruleNames))
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Rule not evaluated",
				Detail:   fmt.Sprintf("Rule %q is not among the rules this test evaluates; add it to rules.", ref.Name),
				Subject:  ref.Range.Ptr(),
			})
		}
	}

	checkKinds := map[string]facts.Kind{}
	var checkNames, peerNames []string
	for _, c := range cfg.Checks {
		checkKinds[c.Name] = c.Spec.WithDefaults().Kind
		checkNames = append(checkNames, c.Name)
	}
	peerSet := map[string]bool{}
	for _, p := range cfg.Peers {
		peerSet[p.Name] = true
		peerNames = append(peerNames, p.Name)
	}

	cur := factState{node: map[string]cty.Value{}, checks: map[string]*factTemplate{}, peers: map[string]*factTemplate{}}
	for _, fb := range t.Facts {
		next := factState{
			node:   cloneMap(cur.node),
			checks: cloneMap(cur.checks),
			peers:  cloneMap(cur.peers),
			outbox: cur.outbox,
			// silences are given whole.
			silences:   cur.silences,
			credential: cur.credential,
		}
		if fb.HasSilences {
			ss, d := bindSilences(fb)
			diags = append(diags, d...)
			next.silences = ss
		}
		if fb.HasCredential {
			cf, d := bindCredential(fb)
			diags = append(diags, d...)
			next.credential = cf
		}
		if fb.HasOutbox {
			ot, d := bindOutbox(fb)
			diags = append(diags, d...)
			next.outbox = ot
		}
		for name, v := range fb.Node {
			if !slices.Contains(rules.NodeFields, name) {
				d := unknownName(NameRef{Name: name, Range: fb.NodeRange}, "node fact", rules.NodeFields)
				d.Detail = strings.Replace(d.Detail, "The configuration declares no node fact", "There is no node fact", 1)
				diags = append(diags, d)
				continue
			}
			next.node[name] = v
		}
		for _, name := range sortedKeys(fb.Checks) {
			spec := fb.Checks[name]
			kind, ok := checkKinds[name]
			if !ok {
				d := unknownName(NameRef{Name: name, Range: spec.Range}, "check", checkNames)
				if peerSet[name] {
					d.Detail += fmt.Sprintf(" %q is a peer: write peer %q { ... }.", name, name)
				}
				diags = append(diags, d)
				continue
			}
			ft, d := bindFact(spec, kind)
			diags = append(diags, d...)
			next.checks[name] = ft
		}
		for _, name := range sortedKeys(fb.Peers) {
			spec := fb.Peers[name]
			if !peerSet[name] {
				d := unknownName(NameRef{Name: name, Range: spec.Range}, "peer", peerNames)
				if _, isCheck := checkKinds[name]; isCheck {
					d.Detail += fmt.Sprintf(" %q is a check: write check %q { ... }.", name, name)
				}
				diags = append(diags, d)
				continue
			}
			ft, d := bindFact(spec, facts.KindPeer)
			diags = append(diags, d...)
			next.peers[name] = ft
		}
		bt.states = append(bt.states, next)
		cur = next
	}
	return bt, diags
}

// bindFact turns the attributes of a check or peer block into a fact of
// kind k, filling in what they leave out.
func bindFact(spec *FactSpec, k facts.Kind) (*factTemplate, hcl.Diagnostics) {
	ft := &factTemplate{fact: facts.Fact{Check: spec.Name, Kind: k, Values: map[string]cty.Value{}}}
	var diags hcl.Diagnostics
	types := facts.ObjectType(k).AttributeTypes()
	var valueNames []string
	for n := range types {
		switch n {
		case "ok", "error", "latency", "observed":
		default:
			valueNames = append(valueNames, n)
		}
	}
	sort.Strings(valueNames)
	bad := func(name, format string, args ...any) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid fact",
			Detail:   fmt.Sprintf("%s %q: %s: %s.", k, spec.Name, name, fmt.Sprintf(format, args...)),
			Subject:  spec.AttrRanges[name].Ptr(),
		})
	}
	okGiven, errGiven := false, false
	for _, name := range sortedKeys(spec.Attrs) {
		v := spec.Attrs[name]
		t, known := types[name]
		if !known {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown fact value",
				Detail: fmt.Sprintf("A %s fact has no value named %q. It has ok, error, latency, observed and %s.",
					k, name, strings.Join(valueNames, ", ")),
				Subject: spec.AttrRanges[name].Ptr(),
			})
			continue
		}
		if t != cty.DynamicPseudoType {
			cv, err := convert.Convert(v, t)
			if err != nil {
				bad(name, "must be %s: %s", t.FriendlyName(), err)
				continue
			}
			v = cv
		}
		switch name {
		case "ok":
			if v.IsNull() {
				bad(name, "must be true or false, not null")
				continue
			}
			okGiven = true
			ft.fact.OK = v.True()
		case "error":
			if !v.IsNull() {
				errGiven = true
				ft.fact.Error = v.AsString()
			}
		case "latency":
			if !v.IsNull() {
				secs, _ := v.AsBigFloat().Float64()
				if secs < 0 {
					bad(name, "must be a number of seconds that is not negative")
					continue
				}
				ft.fact.Latency = time.Duration(secs * float64(time.Second))
			}
		case "observed":
			if !v.IsNull() {
				ts, err := time.Parse(time.RFC3339, v.AsString())
				if err != nil {
					bad(name, "%q is not an RFC 3339 time such as \"2026-11-23T08:00:00Z\"", v.AsString())
					continue
				}
				ft.fact.Observed, ft.hasObserved = ts, true
			}
		default:
			ft.fact.Values[name] = v
		}
	}
	switch {
	case okGiven && errGiven && ft.fact.OK && ft.fact.Error != "":
		bad("error", "ok is true, so error must be empty (a fact fails exactly when it has an error)")
	case okGiven && !ft.fact.OK && ft.fact.Error == "":
		ft.fact.Error = "failed"
	case !okGiven:
		ft.fact.OK = ft.fact.Error == ""
	}
	for _, name := range valueNames {
		if _, given := ft.fact.Values[name]; !given {
			ft.fact.Values[name] = cty.NullVal(types[name])
		}
	}
	if _, given := spec.Attrs["reachable"]; k == facts.KindPeer && !given {
		ft.fact.Values["reachable"] = cty.BoolVal(ft.fact.OK)
	}
	return ft, diags
}

// tick is one evaluation of one rule; stopping marks the evaluations of
// the agent's stop.
type tick struct {
	at       time.Time
	rule     int
	stopping bool
}

// run runs the test's timeline and checks its expectations. Its
// diagnostics report a timeline that cannot be run.
func (bt *boundTest) run() (*TestResult, hcl.Diagnostics) {
	t := bt.test
	tr := &TestResult{Name: t.Name, DeclRange: t.DeclRange}
	start := t.Start.UTC()
	var end time.Duration
	if n := len(t.Expects); n > 0 {
		end = t.Expects[n-1].Offset
	}
	if t.HasStop {
		end = t.Stop
	}
	endAt := start.Add(end)
	stopAt := start.Add(t.Stop)

	ticks, diags := bt.ticks(start, endAt, stopAt)
	if diags.HasErrors() {
		return tr, diags
	}

	var now time.Time
	fns := rules.Functions(func() time.Time { return now })
	states := make([]rules.State, len(bt.rules))
	notes := map[string]bool{}
	var ctx *hcl.EvalContext
	var role rules.RoleMemory // as the agent remembers it
	var ctxAt time.Time
	ctxStopping := false
	for _, tk := range ticks {
		now = tk.at
		if ctx == nil || !tk.at.Equal(ctxAt) || tk.stopping != ctxStopping {
			var noteErr error
			ctx, role, noteErr = bt.evalContext(start, tk, fns, states, role)
			ctxAt, ctxStopping = tk.at, tk.stopping
			if noteErr != nil {
				for _, line := range strings.Split(noteErr.Error(), "\n") {
					notes[line] = true
				}
			}
		}
		r := bt.rules[tk.rule]
		res := rules.Evaluate(r, states[tk.rule], ctx, tk.at)
		states[tk.rule] = res.State
		for _, e := range res.Events {
			rec := Record{Offset: tk.at.Sub(start), Rule: r.Name, Event: e}
			for i := range res.Notifications {
				if res.Notifications[i].Event == e {
					n := res.Notifications[i]
					rec.Notification = &n
				}
			}
			if e == rules.EventErrorStarted {
				rec.Err = res.State.Err
			}
			tr.Events = append(tr.Events, rec)
		}
	}
	for n := range notes {
		tr.Notes = append(tr.Notes, n)
	}
	sort.Strings(tr.Notes)
	tr.Failures = check(t, tr.Events)
	return tr, nil
}

// ticks lists the evaluations of the timeline in order: the scheduled
// ticks up to end (before stop, when there is one), then the evaluation
// of every rule at stop.
func (bt *boundTest) ticks(start, end, stopAt time.Time) ([]tick, hcl.Diagnostics) {
	t := bt.test
	var ticks []tick
	for i, r := range bt.rules {
		sched, err := rules.ParseSchedule(r.Schedule)
		if err != nil {
			return nil, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid schedule",
				Detail:   fmt.Sprintf("Rule %q: %s.", r.Name, err),
				Subject:  r.DeclRange.Ptr(),
			}}
		}
		prev := start
		for next := sched.Next(start); !next.IsZero() && next.After(prev) && !next.After(end); next = sched.Next(next) {
			if t.HasStop && !next.Before(stopAt) {
				break
			}
			ticks = append(ticks, tick{at: next, rule: i})
			if len(ticks) > maxEvaluations {
				return nil, hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Timeline too long",
					Detail: fmt.Sprintf("Test %q needs more than %d rule evaluations (rule %q runs on %q); shorten the timeline or test fewer rules.",
						t.Name, maxEvaluations, r.Name, r.Schedule),
					Subject: t.DeclRange.Ptr(),
				}}
			}
			prev = next
		}
	}
	if t.HasStop {
		for i := range bt.rules {
			ticks = append(ticks, tick{at: stopAt, rule: i, stopping: true})
		}
	}
	sort.SliceStable(ticks, func(i, j int) bool {
		if !ticks[i].at.Equal(ticks[j].at) {
			return ticks[i].at.Before(ticks[j].at)
		}
		return ticks[i].rule < ticks[j].rule
	})
	return ticks, nil
}

// evalContext builds the variables rules see at tk, as the agent's run
// loop does: the facts that hold then, node facts from the
// configuration's expressions and the test's overrides, the agent
// (node, version, started, stopping, failing_rules, and the role
// memory: role is what it remembered before tk, and the one after is
// returned) and the outbox. The error joins the node expressions' errors.
func (bt *boundTest) evalContext(start time.Time, tk tick, fns map[string]function.Function, states []rules.State, role rules.RoleMemory) (*hcl.EvalContext, rules.RoleMemory, error) {
	st := bt.stateAt(tk.at.Sub(start))
	checks := materialize(st.checks, tk.at)
	peers := materialize(st.peers, tk.at)
	fields := map[string]hcl.Expression{}
	for name, expr := range bt.cfg.Node.Fields {
		if _, overridden := st.node[name]; !overridden {
			fields[name] = expr
		}
	}
	vars := rules.Vars{Check: rules.FactsObject(checks), Peer: rules.FactsObject(peers)}
	node, err := vars.EvalNode(fields, fns)
	for name, v := range st.node {
		node[name] = v
	}
	outbox := st.outbox.value(tk.at.Sub(start))
	var failing map[string]string
	for i, st := range states {
		if st.Err != "" {
			if failing == nil {
				failing = map[string]string{}
			}
			failing[bt.rules[i].Name] = st.Err
		}
	}
	role, _ = role.Observe(node["role"], tk.at)
	// As in the agent: failing_rules are the rules whose evaluation
	// before this tick failed.
	vars.Node, vars.Outbox = node, &outbox
	vars.Credential = rules.CredentialsValue(st.credential, tk.at)
	vars.Agent = rules.AgentVars{
		Node: bt.cfg.Agent.Node, Version: buildinfo.Version, Started: start,
		Stopping: tk.stopping, Failing: failing, Role: role, Silences: st.silences,
	}
	return vars.EvalContext(fns), role, err
}

// stateAt returns what is known at offset d.
func (bt *boundTest) stateAt(d time.Duration) factState {
	i := sort.Search(len(bt.test.Facts), func(i int) bool { return bt.test.Facts[i].Offset > d }) - 1
	if i < 0 {
		return factState{}
	}
	return bt.states[i]
}

// materialize returns the facts of templates as observed at now.
func materialize(templates map[string]*factTemplate, now time.Time) map[string]facts.Fact {
	out := make(map[string]facts.Fact, len(templates))
	for name, ft := range templates {
		f := ft.fact
		if !ft.hasObserved {
			f.Observed = now
		}
		out[name] = f
	}
	return out
}

// unknownName reports a name the configuration does not declare.
func unknownName(ref NameRef, kind string, known []string) *hcl.Diagnostic {
	detail := fmt.Sprintf("The configuration declares no %s %q.", kind, ref.Name)
	if s := suggest(ref.Name, known); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	}
	if len(known) > 0 {
		detail += fmt.Sprintf(" The %ss are: %s.", kind, strings.Join(known, ", "))
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown " + kind, Detail: detail, Subject: ref.Range.Ptr()}
}

func cloneMap[V any](m map[string]V) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortDiagnostics orders diags by position within each file, keeping the
// files in the order they first appear, so that they read like the files.
func sortDiagnostics(diags hcl.Diagnostics) {
	pos := func(d *hcl.Diagnostic) hcl.Range {
		if d.Subject == nil {
			return hcl.Range{}
		}
		return *d.Subject
	}
	order := map[string]int{}
	for _, d := range diags {
		if _, seen := order[pos(d).Filename]; !seen {
			order[pos(d).Filename] = len(order)
		}
	}
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := pos(diags[i]), pos(diags[j])
		if a.Filename != b.Filename {
			return order[a.Filename] < order[b.Filename]
		}
		return a.Start.Byte < b.Start.Byte
	})
}
