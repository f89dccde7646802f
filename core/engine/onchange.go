package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// Evaluate on change: when a check's or peer's fact changes (see
// facts.Fact.Same), the rules whose condition reads it are evaluated at
// once, besides their schedules. One goroutine (watchChanges), started by Start and
// ended by Stop or Close, waits for the facts runner's signal; the
// changes that come while it evaluates add to one signal, so a burst of
// changes makes one evaluation of the rules they affect, and a check
// cannot make rules evaluate more often than it runs. The evaluation is a
// tick (Runner.tick) of those rules, with their tick groups' locks held
// so that a rule is never evaluated twice at once.

// factReads is what expressions read of the checks and peers: the facts
// named in names, or every one (all) when an expression reads them
// wholesale (`length(check)`, `check[local]`, `node`).
type factReads struct {
	all   bool
	names map[string]bool
}

// add adds o to r.
func (r *factReads) add(o factReads) {
	if o.all {
		r.all = true
	}
	for n := range o.names {
		r.addName(n)
	}
}

// addName adds the fact name to r.
func (r *factReads) addName(name string) {
	if r.names == nil {
		r.names = map[string]bool{}
	}
	r.names[name] = true
}

// empty reports whether r reads no fact.
func (r factReads) empty() bool { return !r.all && len(r.names) == 0 }

// stepName returns the name tr takes at its second step, check.NAME or
// check["NAME"], when it is one that is known without evaluation.
func stepName(tr hcl.Traversal) (string, bool) {
	if len(tr) < 2 {
		return "", false
	}
	switch st := tr[1].(type) {
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
// node.X where the field X reads check.Y: it reads Y.
func readsOf(exprs []hcl.Expression, node map[string]factReads) factReads {
	var r factReads
	for _, x := range exprs {
		if x == nil {
			continue
		}
		for _, tr := range x.Variables() {
			switch tr.RootName() {
			case "check", "peer":
				if name, ok := stepName(tr); ok {
					r.addName(name)
				} else {
					r.all = true
				}
			case "node":
				if name, ok := stepName(tr); ok {
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
	// readers are the rules that read a fact, by fact name.
	readers map[string][]ruleAt
	// all are the rules that read every fact.
	all []ruleAt
}

// empty reports whether no rule reads a fact.
func (c *changeIndex) empty() bool { return len(c.readers) == 0 && len(c.all) == 0 }

// add records that the rule at at reads r.
func (c *changeIndex) add(at ruleAt, r factReads) {
	if r.all {
		c.all = append(c.all, at)
		return
	}
	if c.readers == nil {
		c.readers = map[string][]ruleAt{}
	}
	for _, name := range slices.Sorted(maps.Keys(r.names)) {
		c.readers[name] = append(c.readers[name], at)
	}
}

// affected returns the rules that read any of the facts names, each once,
// in the order of the groups and of the rules in their groups.
func (c *changeIndex) affected(names []string) []ruleAt {
	if len(names) == 0 {
		return nil
	}
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
	take(c.all)
	for _, n := range names {
		take(c.readers[n])
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

// evaluateChanged evaluates, in one tick, the rules that read any of the
// facts names, holding their groups' locks (in the groups' order, so two
// callers never wait for each other crosswise).
func (e *Runner) evaluateChanged(ctx context.Context, names []string) {
	ats := e.changes.affected(names)
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
	e.logger.Debug("facts changed; evaluating the rules that read them", "facts", names, "rules", len(rs))
	e.tick(ctx, rs, readsOutbox)
}
