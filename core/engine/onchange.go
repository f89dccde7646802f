package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// Evaluate on change: when a check's or peer's fact changes (see
// facts.Fact.Same), the rules whose condition reads an attribute of it
// that differs (facts.Fact.Diff), or reads it whole, are evaluated at
// once, besides their schedules. One goroutine (watchChanges), started by
// Start and ended by Stop or Close, waits for the facts runner's signal;
// the changes that come while it evaluates add to one signal, so a burst
// of changes makes one evaluation of the rules they affect, and a check
// cannot make rules evaluate more often than it runs. The evaluation is a
// tick (Runner.tick) of those rules, with their tick groups' locks held
// so that a rule is never evaluated twice at once.

// factReads is what expressions read of the checks and peers: by fact
// name, the attributes read (check.web.status reads status of web), nil
// for a fact read whole (check.web handed to a function); or every fact,
// all, when an expression reads them wholesale (`length(check)`,
// `check[name]` in a for expression).
type factReads struct {
	all   bool
	facts map[string]map[string]bool
}

// add adds o to r.
func (r *factReads) add(o factReads) {
	if o.all {
		r.all = true
	}
	for name, attrs := range o.facts {
		if attrs == nil {
			r.addFact(name, "")
		}
		for a := range attrs {
			r.addFact(name, a)
		}
	}
}

// addFact adds the attribute attr of the fact name to r; "" reads the
// fact whole.
func (r *factReads) addFact(name, attr string) {
	if r.facts == nil {
		r.facts = map[string]map[string]bool{}
	}
	attrs, seen := r.facts[name]
	switch {
	case attr == "":
		r.facts[name] = nil
	case seen && attrs == nil: // read whole already
	case !seen:
		r.facts[name] = map[string]bool{attr: true}
	default:
		attrs[attr] = true
	}
}

// empty reports whether r reads no fact.
func (r factReads) empty() bool { return !r.all && len(r.facts) == 0 }

// stepName returns the name tr takes at step i, .NAME or ["NAME"], when
// it is one that is known without evaluation.
func stepName(tr hcl.Traversal, i int) (string, bool) {
	if len(tr) <= i {
		return "", false
	}
	switch st := tr[i].(type) {
	case hcl.TraverseAttr:
		return st.Name, true
	case hcl.TraverseIndex:
		k := st.Key
		if k.IsKnown() && !k.IsNull() && k.Type() == cty.String {
			return k.AsString(), true
		}
	}
	return "", false
}

// readsOf is what exprs read of the checks and peers, directly or
// through node fields, whose reads are node (by field name). A rule reads
// node.X where the field X reads check.Y.Z: it reads Z of Y.
func readsOf(exprs []hcl.Expression, node map[string]factReads) factReads {
	var r factReads
	for _, x := range exprs {
		if x == nil {
			continue
		}
		for _, tr := range x.Variables() {
			switch tr.RootName() {
			case "check", "peer":
				name, ok := stepName(tr, 1)
				if !ok {
					r.all = true
					continue
				}
				attr, _ := stepName(tr, 2)
				r.addFact(name, attr)
			case "node":
				if name, ok := stepName(tr, 1); ok {
					r.add(node[name])
				} else {
					for _, f := range node {
						r.add(f)
					}
				}
			}
		}
	}
	return r
}

// nodeReads is what each node field reads of the checks and peers.
func nodeReads(fields map[string]hcl.Expression) map[string]factReads {
	out := make(map[string]factReads, len(fields))
	for name, x := range fields {
		out[name] = readsOf([]hcl.Expression{x}, nil)
	}
	return out
}

// changeReads is what a change must touch for r to be evaluated on it:
// what its condition (when) reads of the facts. Only the condition can
// make a rule fire or resolve; what only its templates or attachments
// read (the daily heartbeat lists every check in its text) must not move
// it off its schedule.
func changeReads(r *rules.Rule, node map[string]factReads) factReads {
	return readsOf([]hcl.Expression{r.When}, node)
}

// ruleAt is a rule by its place: e.groups[group].rules[rule].
type ruleAt struct{ group, rule int }

// changeIndex says which rules a fact's change affects.
type changeIndex struct {
	// all are the rules that read every fact.
	all []ruleAt
	// whole are the rules that read a fact whole, by fact name.
	whole map[string][]ruleAt
	// attrs are the rules that read an attribute of a fact, by fact name
	// and attribute.
	attrs map[string]map[string][]ruleAt
}

// empty reports whether no rule reads a fact.
func (c *changeIndex) empty() bool { return len(c.all) == 0 && len(c.whole) == 0 && len(c.attrs) == 0 }

// add records that the rule at at reads r.
func (c *changeIndex) add(at ruleAt, r factReads) {
	if r.all {
		c.all = append(c.all, at)
		return
	}
	for _, name := range slices.Sorted(maps.Keys(r.facts)) {
		attrs := r.facts[name]
		if attrs == nil {
			if c.whole == nil {
				c.whole = map[string][]ruleAt{}
			}
			c.whole[name] = append(c.whole[name], at)
			continue
		}
		if c.attrs == nil {
			c.attrs = map[string]map[string][]ruleAt{}
		}
		if c.attrs[name] == nil {
			c.attrs[name] = map[string][]ruleAt{}
		}
		for _, a := range slices.Sorted(maps.Keys(attrs)) {
			c.attrs[name][a] = append(c.attrs[name][a], at)
		}
	}
}

// affected returns the rules that read what changes changed (by fact
// name), each once, in the order of the groups and of the rules in their
// groups: a rule that reads attributes of a fact is affected when one of
// them differs (facts.Fact.Diff), one that reads the fact whole or every
// fact when any does.
func (c *changeIndex) affected(changes map[string]facts.Change) []ruleAt {
	seen := map[ruleAt]bool{}
	var out []ruleAt
	take := func(ats []ruleAt) {
		for _, at := range ats {
			if !seen[at] {
				seen[at] = true
				out = append(out, at)
			}
		}
	}
	changed := false
	for name, ch := range changes {
		diff, comparable := ch.Before.Diff(ch.After)
		if comparable && len(diff) == 0 {
			continue // flipped and flipped back
		}
		changed = true
		take(c.whole[name])
		if !comparable {
			for _, ats := range c.attrs[name] {
				take(ats)
			}
			continue
		}
		for _, a := range diff {
			take(c.attrs[name][a])
		}
	}
	if changed {
		take(c.all)
	}
	slices.SortFunc(out, func(a, b ruleAt) int {
		return cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.rule, b.rule))
	})
	return out
}

// changeWatch is the goroutine that evaluates on change: Start starts it,
// stopWatch ends it.
type changeWatch struct {
	quit   chan struct{}      // closed to end the goroutine
	done   chan struct{}      // closed when it has ended
	cancel context.CancelFunc // ends the context of its evaluation
}

// startWatch starts the goroutine that evaluates on change, unless no
// rule reads a fact or the runner is stopping or closed. ctx is Start's:
// the goroutine ends with it, too.
func (e *Runner) startWatch(ctx context.Context) {
	if e.changes.empty() {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.watch != nil || e.watchOff {
		return
	}
	jobCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &changeWatch{quit: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	e.watch = w
	go e.watchChanges(ctx, jobCtx, w)
}

// stopWatch ends the goroutine that evaluates on change and waits for it;
// an evaluation in progress may finish until ctx ends, and then has its
// context ended. Later calls of startWatch start nothing.
func (e *Runner) stopWatch(ctx context.Context) error {
	e.mu.Lock()
	w := e.watch
	e.watch, e.watchOff = nil, true
	e.mu.Unlock()
	if w == nil {
		return nil
	}
	close(w.quit)
	defer w.cancel()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.cancel()
		<-w.done
		return fmt.Errorf("stop evaluating on change: an evaluation was still running: %w", ctx.Err())
	}
}

// watchChanges evaluates the rules that read the facts that changed, at
// each signal of the facts runner, until w.quit is closed or ctx ends.
// The evaluations get jobCtx.
func (e *Runner) watchChanges(ctx, jobCtx context.Context, w *changeWatch) {
	defer close(w.done)
	for {
		select {
		case <-w.quit:
			return
		case <-ctx.Done():
			return
		case <-e.runner.Changed():
		}
		select {
		case <-w.quit:
			return // Stop's last evaluation or Close comes next
		default:
		}
		e.evaluateChanged(jobCtx, e.runner.TakeChanged())
	}
}

// evaluateChanged evaluates, in one tick, the rules that read what
// changes changed, holding their groups' locks (in the groups' order, so
// two callers never wait for each other crosswise).
func (e *Runner) evaluateChanged(ctx context.Context, changes map[string]facts.Change) {
	ats := e.changes.affected(changes)
	if len(ats) == 0 {
		return
	}
	rs := make([]*rules.Rule, 0, len(ats))
	readsOutbox := false
	var locked []*tickGroup
	for _, at := range ats {
		g := e.groups[at.group]
		if len(locked) == 0 || locked[len(locked)-1] != g {
			g.mu.Lock()
			locked = append(locked, g)
		}
		r := g.rules[at.rule]
		rs = append(rs, r)
		readsOutbox = readsOutbox || r.Reads("outbox")
	}
	defer func() {
		for _, g := range locked {
			g.mu.Unlock()
		}
	}()
	if e.logger.IsDebug() {
		e.logger.Debug("facts changed; evaluating the rules that read them", "facts", slices.Sorted(maps.Keys(changes)), "rules", len(rs))
	}
	e.tick(ctx, rs, readsOutbox)
}
