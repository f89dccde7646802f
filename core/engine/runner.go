package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/fsafe"
	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// StateFile is the rule state database under data_dir.
const StateFile = "state.db"

// maxAttachBytes is how much of the end of an attached file is sent.
const maxAttachBytes = 256 << 10

// Enqueuer takes notifications for delivery, durably; the agent is one,
// over its outbox.
type Enqueuer interface {
	// Enqueue stores entries and marks in one transaction (see
	// outbox.EnqueueWithMarks): both or neither.
	Enqueue(ctx context.Context, marks []outbox.Mark, entries []*outbox.Entry) error
	// Marks returns the hand-off marks stored with earlier enqueues.
	Marks() (map[string]outbox.Mark, error)
}

// Options are what the agent wires into a Runner besides its
// configuration; every field is optional.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Started is when the agent started, agent.started (Now() at New when
	// zero): a reload makes a new Runner, and agent.started does not move.
	Started time.Time
	// OnEval, if set, is told of each evaluation (for metrics).
	OnEval func(rule string, failed bool)
	// OnTick, if set, is told how long each tick took (for metrics).
	OnTick func(d time.Duration)
	// Outbox, if set, gives the variable outbox, once per tick whose
	// rules read it: counting the outbox is a scan of its index, which a
	// tick of rules that do not read it need not pay for. Without it,
	// rules read no variable outbox.
	Outbox func() rules.OutboxFact
	// Silences, if set, gives agent.silences at each evaluation: the
	// silences in force.
	Silences func() []rules.SilenceVar
	// PeerNotices, if set, are the peers' stop notices that the peer
	// facts carry (facts.WithPeerNotices); they outlive a reload.
	PeerNotices *facts.PeerNotices
	// Credential, if set, gives the variable credential at each tick
	// (rules.CredentialsValue); without it, the variable is an empty map.
	Credential func(now time.Time) cty.Value
}

// Runner evaluates the rules on their schedules over the facts the checks
// and peers observe, keeps alert state in the store, and hands
// notifications to the outbox.
//
// Rules that share a schedule share a tick: one facts snapshot, one
// evaluation context, one outbox transaction for all their notifications
// and one state file transaction for the states that changed.
//
// The hand-off is atomic: a rule whose evaluation has notifications gets
// its state's Seq incremented, and its new state is written into the
// outbox as a hand-off mark in the same transaction as the notifications.
// The state file is written after that. After a crash between the two,
// the engine takes the mark's state where its Seq is newer than the state
// file's (reconcile), so a restart neither repeats nor forgets the
// notifications. If the outbox refuses the hand-off, the old state stays
// and the next tick tries again.
type Runner struct {
	cfg      *config.Config
	logger   hclog.Logger
	notify   Enqueuer
	runner   *facts.Runner
	sched    *rules.Scheduler
	store    *rules.Store
	now      func() time.Time
	started  time.Time
	peerName map[string]bool
	groups   []*tickGroup
	objects  rules.FactObjects // the facts' objects, reused between ticks
	// byName are the rules in the order of their names, as /v1/status
	// lists them.
	byName []*rules.Rule
	// nodeReadsFacts is set when a node field reads a variable (check,
	// peer): only then do the node facts need the checks' objects.
	nodeReadsFacts bool
	// changes says which rules read which facts, to evaluate them when
	// the facts change (see onchange.go).
	changes changeIndex

	mu       sync.Mutex
	states   map[string]rules.State
	lastEval map[string]evalRecord
	node     map[string]cty.Value
	nodeErr  string
	// role is what the engine remembers of node.role (rules read it as
	// agent.previous_role and agent.role_since), saved in the store.
	role     rules.RoleMemory
	stopping bool
	// watch is the goroutine that evaluates on change, while it runs;
	// watchOff is set once Stop or Close ended it, so that it does not
	// start again.
	watch    *changeWatch
	watchOff bool
	failed   int // evaluations whose notifications could not be enqueued
	// unsure are the rules whose hand-off failed in a way that may have
	// stored it after all (its context ended), and every rule at the
	// start: the next tick that evaluates one of them reconciles it
	// first. Per rule, since a tick may evaluate some rules only (a
	// schedule's, or an evaluation on change).
	unsure map[string]bool
	// unsaved are states the state file refused; the next tick's save
	// tries them again.
	unsaved map[string]rules.State
	// gen counts the changes of states and lastEval; rulesJSON holds the
	// rules' lines of /v1/status as of generation rulesGen, so that a
	// polled status encodes 10,000 rules once per tick, not per request.
	gen       uint64
	rulesJSON []byte
	rulesGen  uint64

	// onEval, if set, is told of each evaluation (for metrics).
	onEval func(rule string, failed bool)
	// onTick, if set, is told how long each tick took (for metrics).
	onTick func(d time.Duration)
	// outbox, if set, gives the variable outbox (Options.Outbox).
	outbox func() rules.OutboxFact
	// silences, if set, gives agent.silences (Options.Silences).
	silences func() []rules.SilenceVar
	// credential, if set, gives the variable credential
	// (Options.Credential).
	credential func(now time.Time) cty.Value
	// since measures a tick's duration (time.Since; tests may fake it).
	since func(time.Time) time.Duration
}

// tickGroup is the rules of one schedule, evaluated together.
type tickGroup struct {
	spec        string
	rules       []*rules.Rule
	readsOutbox bool
	// mu is held while rules of the group are evaluated, by the
	// schedule's tick and by an evaluation on change, so that no rule is
	// evaluated twice at once.
	mu sync.Mutex
}

// evalRecord is the last evaluation of a rule, for /v1/status.
type evalRecord struct {
	At     time.Time
	Events []string
	Err    string
}

// New makes the runner of cfg's checks, peers and rules, handing
// notifications to q: it opens the rule state under data_dir (when there
// are rules) and takes the hand-off marks q holds where they are newer.
// Nothing runs before Start.
func New(cfg *config.Config, logger hclog.Logger, q Enqueuer, o Options) (*Runner, error) {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	e := &Runner{
		cfg: cfg, logger: logger.Named("rules"), notify: q, now: now, started: o.Started,
		peerName: map[string]bool{}, states: map[string]rules.State{}, lastEval: map[string]evalRecord{},
		unsaved: map[string]rules.State{}, since: time.Since,
		onEval: o.OnEval, onTick: o.OnTick, outbox: o.Outbox, silences: o.Silences, credential: o.Credential,
	}
	if e.started.IsZero() {
		e.started = now()
	}
	for _, x := range cfg.Node.Fields {
		e.nodeReadsFacts = e.nodeReadsFacts || len(x.Variables()) > 0
	}
	e.byName = slices.SortedFunc(slices.Values(cfg.Rules), func(a, b *rules.Rule) int { return strings.Compare(a.Name, b.Name) })
	var specs []facts.Spec
	for _, c := range cfg.Checks {
		specs = append(specs, c.Spec)
	}
	for _, p := range cfg.Peers {
		specs = append(specs, p.Spec)
		e.peerName[p.Name] = true
	}
	runner, err := facts.NewRunner(logger, specs, facts.WithClock(now), facts.WithPeerNotices(o.PeerNotices))
	if err != nil {
		return nil, fmt.Errorf("checks: %w", err)
	}
	e.runner = runner
	if len(cfg.Rules) > 0 {
		if err := fsafe.PrepareDataDir(cfg.Agent.DataDir); err != nil {
			return nil, err
		}
		store, err := rules.OpenStore(filepath.Join(cfg.Agent.DataDir, StateFile))
		if err != nil {
			return nil, fmt.Errorf("rule state: %w", err)
		}
		e.store = store
		states, err := store.LoadAll()
		if err != nil {
			logger.Warn("some rule states could not be read; those rules start afresh", "error", err)
		}
		for k, v := range states {
			e.states[k] = v
		}
		if e.role, err = store.LoadRole(); err != nil {
			logger.Warn("the role this node had before the start cannot be read; a role change is seen from the next one on", "error", err)
		}
		e.reconcile(cfg.Rules)
		// And once more at the first tick: after a reload whose old
		// rules did not stop in time, their last hand-off may commit
		// after the reconcile above.
		e.unsure = make(map[string]bool, len(cfg.Rules))
		for _, r := range cfg.Rules {
			e.unsure[r.Name] = true
		}
	}
	e.sched = rules.NewScheduler(e.logger, time.Local)
	bySpec := map[string]int{}
	node := nodeReads(cfg.Node.Fields)
	for _, r := range cfg.Rules {
		// What the rule's condition reads of the facts, from its tree,
		// before Compact keeps its text alone.
		reads := changeReads(r, node)
		// Keep the expressions as their text, not their trees: with
		// many rules most of the agent's memory (see rules.Rule.Compact).
		r.Compact(cfg.Sources[r.DeclRange.Filename])
		r.Prepare()
		gi, ok := bySpec[r.Schedule]
		if !ok {
			gi = len(e.groups)
			bySpec[r.Schedule] = gi
			e.groups = append(e.groups, &tickGroup{spec: r.Schedule})
		}
		g := e.groups[gi]
		if !reads.empty() {
			e.changes.add(ruleAt{group: gi, rule: len(g.rules)}, reads)
		}
		g.rules = append(g.rules, r)
		g.readsOutbox = g.readsOutbox || r.Reads("outbox")
	}
	for _, g := range e.groups {
		g := g
		job := func(ctx context.Context) {
			g.mu.Lock()
			defer g.mu.Unlock()
			e.tick(ctx, g.rules, g.readsOutbox)
		}
		if _, err := e.sched.Add(g.spec, job); err != nil {
			e.close()
			return nil, fmt.Errorf("rule %s: %w", g.rules[0].Name, err)
		}
	}
	return e, nil
}

// reconcile takes, for each of rs, the state of its hand-off mark in the
// outbox where the mark is newer (a higher Seq) than the state the engine
// holds, and saves it: the outbox then holds that hand-off's
// notifications, but the state file was not written (a crash came
// between the two, or the hand-off's outcome was unknown). Marks with a
// Seq not above the state's are stale and ignored.
func (e *Runner) reconcile(rs []*rules.Rule) {
	marks, err := e.notify.Marks()
	if err != nil {
		e.logger.Warn("some hand-off marks in the outbox could not be read; a rule whose state file lags behind its last notification may notify again", "error", err)
	}
	if len(marks) == 0 {
		return
	}
	taken := map[string]rules.State{}
	e.mu.Lock()
	for _, r := range rs {
		m, ok := marks[r.Name]
		if !ok || m.Seq <= e.states[r.Name].Seq {
			continue
		}
		st, err := rules.DecodeState(m.Data)
		if err != nil {
			e.logger.Warn("the hand-off mark of a rule cannot be read; the rule may notify again", "rule", r.Name, "error", err)
			continue
		}
		st.Seq = m.Seq
		e.states[r.Name] = st
		taken[r.Name] = st
	}
	e.gen++
	e.mu.Unlock()
	if len(taken) == 0 {
		return
	}
	e.logger.Info("rule states taken from the outbox, where the last notifications were stored after the state file was written", "rules", len(taken))
	e.save(taken)
}

// save writes states to the state file in one transaction, together with
// those an earlier save could not write.
func (e *Runner) save(states map[string]rules.State) {
	if e.store == nil {
		return
	}
	e.mu.Lock()
	for name, st := range e.unsaved {
		if _, ok := states[name]; !ok {
			states[name] = st
		}
	}
	e.unsaved = map[string]rules.State{}
	e.mu.Unlock()
	if len(states) == 0 {
		return
	}
	if err := e.store.SaveMany(states); err != nil {
		e.logger.Error("saving rule states failed; the next tick tries again (their notifications are safe in the outbox)", "rules", len(states), "error", err)
		e.mu.Lock()
		for name, st := range states {
			if _, newer := e.unsaved[name]; !newer {
				e.unsaved[name] = st
			}
		}
		e.mu.Unlock()
	}
}

// Start starts the checks and, once each has run once (or after a short
// wait), the scheduler, so the first evaluations see facts, and the
// evaluation on change: from then on, when a check's or peer's fact
// changes, the rules whose condition reads a value of it that differs,
// directly or through a node field, are evaluated at once, as a tick of
// their own, besides their schedules (see onchange.go). Stop or Close
// ends it; so does ctx.
func (e *Runner) Start(ctx context.Context) {
	e.runner.Start(ctx)
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := e.runner.Ready(wait); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		e.logger.Warn("checks not ready", "error", err)
	}
	e.sched.Start()
	e.startWatch(ctx)
}

// Stop evaluates every rule once more with agent.stopping set (so a
// shutdown rule can speak), then stops the scheduler, the evaluation on
// change and the checks and closes the rule state.
func (e *Runner) Stop(ctx context.Context) error {
	// The evaluation on change ends first: an evaluation of it sees
	// agent.stopping false, and the last one below is the one that sees
	// it true.
	werr := e.stopWatch(ctx)
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
	err := errors.Join(werr, e.sched.Stop(ctx))
	if ctx.Err() == nil && len(e.cfg.Rules) > 0 {
		readsOutbox := false
		for _, g := range e.groups {
			readsOutbox = readsOutbox || g.readsOutbox
		}
		e.tick(ctx, e.cfg.Rules, readsOutbox)
	}
	e.runner.Stop()
	e.close()
	return err
}

// Close stops the scheduler, the evaluation on change and the checks and
// closes the rule state, without a last evaluation: a reload's old rules,
// which are not stopping. The rule state file has one owner at a time.
func (e *Runner) Close(ctx context.Context) error {
	err := errors.Join(e.stopWatch(ctx), e.sched.Stop(ctx))
	e.runner.Stop()
	e.close()
	return err
}

// Evaluate evaluates rs now, together, as one tick of their schedule
// would: for a caller that drives the clock itself.
func (e *Runner) Evaluate(ctx context.Context, rs ...*rules.Rule) {
	readsOutbox := false
	for _, r := range rs {
		readsOutbox = readsOutbox || r.Reads("outbox")
	}
	e.tick(ctx, rs, readsOutbox)
}

// close closes the rule state.
func (e *Runner) close() {
	if e.store != nil {
		if err := e.store.Close(); err != nil {
			e.logger.Warn("closing the rule state", "error", err)
		}
		e.store = nil
	}
}

// facts returns the variables node, check and peer that rules read now,
// over one snapshot of the checks' latest facts, and the node facts.
func (e *Runner) facts() (rules.Vars, map[string]cty.Value) {
	return e.factsOf(e.runner.Snapshot(), true)
}

// factsOf is facts over snap. Without withChecks, the variables check and
// peer are empty objects unless a node field reads them: for the node
// facts alone, which /v1/status serves at every request.
func (e *Runner) factsOf(snap map[string]facts.Fact, withChecks bool) (rules.Vars, map[string]cty.Value) {
	vars := rules.Vars{Check: cty.EmptyObjectVal, Peer: cty.EmptyObjectVal}
	if withChecks || e.nodeReadsFacts {
		vars.Check, vars.Peer = e.objects.Variables(snap, e.peerName)
	}
	node := map[string]cty.Value{}
	var err error
	if len(e.cfg.Node.Fields) > 0 {
		node, err = vars.EvalNode(e.cfg.Node.Fields, rules.Functions(e.now))
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	e.mu.Lock()
	if msg != e.nodeErr {
		if msg != "" {
			e.logger.Warn("node facts cannot be evaluated", "error", msg)
		} else {
			e.logger.Info("node facts evaluate again")
		}
		e.nodeErr = msg
	}
	e.node = node
	e.mu.Unlock()
	vars.Node = node
	return vars, node
}

// agentVars is the variable agent rules and templates read.
func (e *Runner) agentVars() rules.AgentVars {
	e.mu.Lock()
	stopping := e.stopping
	var failing map[string]string
	for name, st := range e.states {
		if st.Err != "" {
			if failing == nil {
				failing = map[string]string{}
			}
			failing[name] = st.Err
		}
	}
	role := e.role
	e.mu.Unlock()
	var silences []rules.SilenceVar
	if e.silences != nil {
		silences = e.silences()
	}
	return rules.AgentVars{
		Node: e.cfg.Agent.Node, Version: buildinfo.Version, Started: e.started,
		Stopping: stopping, Failing: failing, Role: role, Silences: silences,
	}
}

// observeRole remembers the node fact role as read at now, and saves the
// memory when the role changed, before the rules read it: a crash after
// the save finds the change remembered, and the rules that report it
// still hold at the next start.
func (e *Runner) observeRole(node map[string]cty.Value, now time.Time) {
	v, ok := node["role"]
	if !ok {
		return
	}
	e.mu.Lock()
	m, changed := e.role.Observe(v, now)
	e.role = m
	e.mu.Unlock()
	if !changed || e.store == nil {
		return
	}
	if m.Previous != "" {
		e.logger.Info("this node's role changed", "role", m.Role, "previous", m.Previous)
	}
	if err := e.store.SaveRole(m); err != nil {
		e.logger.Error("the role change could not be saved; after a restart it is not remembered", "error", err)
	}
}

// tick evaluates rs once over one facts snapshot, hands all their
// notifications (with a hand-off mark per notifying rule) to the outbox in
// one transaction, and saves the states that changed in one state file
// transaction. e.mu is held only to read and write the maps, never while
// rules are evaluated or files written, so /v1/status does not wait
// behind a tick.
func (e *Runner) tick(ctx context.Context, rs []*rules.Rule, readsOutbox bool) {
	began := time.Now()
	var unsure []*rules.Rule
	e.mu.Lock()
	if len(e.unsure) > 0 {
		for _, r := range rs {
			if e.unsure[r.Name] {
				unsure = append(unsure, r)
				delete(e.unsure, r.Name)
			}
		}
	}
	e.mu.Unlock()
	if len(unsure) > 0 {
		e.reconcile(unsure)
	}

	now := e.now()
	vars, node := e.facts()
	e.observeRole(node, now)
	e.mu.Lock()
	role := e.role.Role
	e.mu.Unlock()
	vars.Agent = e.agentVars()
	if e.outbox != nil && readsOutbox {
		f := e.outbox()
		vars.Outbox = &f
	}
	if e.credential != nil {
		vars.Credential = e.credential(now)
	}
	ectx := vars.EvalContext(rules.Functions(e.now))

	prev := make([]rules.State, len(rs))
	e.mu.Lock()
	for i, r := range rs {
		prev[i] = e.states[r.Name]
	}
	e.mu.Unlock()

	results := evaluateAll(rs, prev, ectx, now)

	var (
		entries []*outbox.Entry
		marks   []outbox.Mark
		handed  = make([]bool, len(rs))
	)
	for i, r := range rs {
		res := &results[i]
		for _, ev := range res.Events {
			switch ev {
			case rules.EventErrorStarted:
				e.logger.Warn("rule cannot be evaluated; it neither fires nor resolves until it can", "rule", r.Name, "error", res.State.Err)
			case rules.EventErrorCleared:
				e.logger.Info("rule evaluates again", "rule", r.Name)
			case rules.EventFlapStart:
				e.logger.Warn("rule is flapping: it notifies once, then not again until it settles", "rule", r.Name, "changes", len(res.State.Changes))
			case rules.EventFlapEnd:
				e.logger.Info("rule no longer flaps", "rule", r.Name, "phase", res.State.Phase.String())
			case rules.EventFire, rules.EventRepeat, rules.EventResolve:
				e.logger.Info("rule "+ev.String(), "rule", r.Name, "severity", r.Severity)
			}
		}
		var es []*outbox.Entry
		for _, n := range res.Notifications {
			es = append(es, e.entries(n, role, now)...)
		}
		if len(es) == 0 {
			continue
		}
		res.State.Seq = prev[i].Seq + 1
		data, err := rules.EncodeState(res.State)
		if err != nil {
			// Step only makes valid states; without a mark the
			// notifications still go out, and a crash before the state
			// file is written repeats them.
			e.logger.Error("rule state cannot be encoded for the outbox", "rule", r.Name, "error", err)
		} else {
			marks = append(marks, outbox.Mark{Name: r.Name, Seq: res.State.Seq, Data: data})
		}
		entries = append(entries, es...)
		handed[i] = true
	}

	delivered := true
	if len(entries) > 0 {
		if err := e.notify.Enqueue(ctx, marks, entries); err != nil {
			delivered = false
			var names []string
			n := 0
			for i, r := range rs {
				if handed[i] {
					if n++; n <= 10 {
						names = append(names, r.Name)
					}
				}
			}
			e.logger.Error("notifications not stored; the rules' next evaluation tries again", "rules", n, "first", names, "error", err)
		}
	}

	changed := map[string]rules.State{}
	e.mu.Lock()
	for i, r := range rs {
		res := results[i]
		rec := evalRecord{At: now, Err: res.State.Err}
		for _, ev := range res.Events {
			rec.Events = append(rec.Events, ev.String())
		}
		e.lastEval[r.Name] = rec
		if handed[i] && !delivered {
			e.failed++
			continue // keep the old state: the next tick tries again
		}
		if cur, ok := e.states[r.Name]; !ok || !sameState(cur, res.State) {
			changed[r.Name] = res.State
		}
		e.states[r.Name] = res.State
	}
	e.gen++
	if !delivered {
		// The hand-off may have been stored after all (its context
		// ended while it was being committed): check the marks before
		// the next evaluation of these rules.
		if e.unsure == nil {
			e.unsure = map[string]bool{}
		}
		for i, r := range rs {
			if handed[i] {
				e.unsure[r.Name] = true
			}
		}
	}
	e.mu.Unlock()
	if e.onEval != nil {
		for i, r := range rs {
			e.onEval(r.Name, results[i].State.Err != "")
		}
	}
	e.save(changed)
	if e.onTick != nil {
		e.onTick(e.since(began))
	}
}

// parallelMin is the number of rules from which a tick spreads their
// evaluation over the processors.
const parallelMin = 256

// evaluateAll evaluates rs from their states prev in ectx, spread over
// GOMAXPROCS goroutines when there are many: rules.Evaluate is safe for
// concurrent use with one context, and each rule's result is its own.
func evaluateAll(rs []*rules.Rule, prev []rules.State, ectx *hcl.EvalContext, now time.Time) []rules.Result {
	results := make([]rules.Result, len(rs))
	workers := min(runtime.GOMAXPROCS(0), len(rs)/parallelMin)
	if workers <= 1 {
		for i, r := range rs {
			results[i] = rules.Evaluate(r, prev[i], ectx, now)
		}
		return results
	}
	var wg sync.WaitGroup
	chunk := (len(rs) + workers - 1) / workers
	for lo := 0; lo < len(rs); lo += chunk {
		hi := min(lo+chunk, len(rs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				results[i] = rules.Evaluate(rs[i], prev[i], ectx, now)
			}
		}()
	}
	wg.Wait()
	return results
}

// sameState reports whether a and b are the same state but for LastEval,
// which changes with every evaluation and is not worth a write.
func sameState(a, b rules.State) bool {
	return a.Phase == b.Phase && a.ActiveSince.Equal(b.ActiveSince) && a.FiredAt.Equal(b.FiredAt) &&
		a.LastNotified.Equal(b.LastNotified) && a.ResolvedAt.Equal(b.ResolvedAt) &&
		a.Repeats == b.Repeats && a.Err == b.Err && a.Seq == b.Seq &&
		a.FlappingSince.Equal(b.FlappingSince) && slices.EqualFunc(a.Changes, b.Changes, time.Time.Equal)
}

// entries turns n into one outbox entry per contact, each with its own
// Message-ID, about the alert of n's rule on this node in role.
func (e *Runner) entries(n rules.Notification, role string, now time.Time) []*outbox.Entry {
	m := outbox.Mail{
		Alert:   alertOf(n, e.cfg.Agent.Node, role),
		Subject: n.Subject,
		Text:    n.Text,
		HTML:    n.HTML,
		Headers: []sdk.Header{
			{Name: "X-Tocsin-Rule", Value: n.Rule},
			{Name: "X-Tocsin-Event", Value: n.Event.String()},
			{Name: "X-Tocsin-Severity", Value: n.Severity},
		},
	}
	for _, path := range n.Attach {
		a, err := attachTail(path)
		if err != nil {
			m.Text += fmt.Sprintf("\n(Could not attach %s: %v)\n", path, err)
			continue
		}
		m.Attachments = append(m.Attachments, a)
	}
	var out []*outbox.Entry
	for _, name := range n.Contacts {
		c := e.cfg.Contact(name)
		if c == nil {
			e.logger.Error("rule notifies an unknown contact", "rule", n.Rule, "contact", name)
			continue
		}
		entry, err := notify.ForContact(e.cfg.Agent.Node, name, c.Email, c.Via, m, now)
		if err != nil {
			e.logger.Error("contact has a bad address", "contact", name, "error", err)
			continue
		}
		entry.Rule, entry.Event = n.Rule, n.Event.String()
		out = append(out, entry)
	}
	return out
}

// attachTail reads up to maxAttachBytes from the end of the file at path.
func attachTail(path string) (sdk.Attachment, error) {
	f, err := os.Open(path)
	if err != nil {
		return sdk.Attachment{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return sdk.Attachment{}, err
	}
	if off := info.Size() - maxAttachBytes; off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return sdk.Attachment{}, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAttachBytes))
	if err != nil {
		return sdk.Attachment{}, err
	}
	return sdk.Attachment{Filename: filepath.Base(path), ContentType: "text/plain; charset=utf-8", Data: data}, nil
}
