package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
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

// enqueuer takes notifications for delivery, durably; the Agent is one,
// over its outbox.
type enqueuer interface {
	enqueue(ctx context.Context, entries []*outbox.Entry) error
}

// engine evaluates the rules on their schedules over the facts the checks
// and peers observe, keeps alert state in the store, and hands
// notifications to the outbox. A rule's state is saved only after its
// notifications are stored in the outbox; if that fails, the old state
// stays and the next tick tries again.
type engine struct {
	cfg      *config.Config
	logger   hclog.Logger
	notify   enqueuer
	runner   *facts.Runner
	sched    *rules.Scheduler
	store    *rules.Store
	now      func() time.Time
	started  time.Time
	peerName map[string]bool

	mu       sync.Mutex
	states   map[string]rules.State
	lastEval map[string]evalRecord
	node     map[string]cty.Value
	nodeErr  string
	stopping bool
	failed   int // evaluations whose notifications could not be enqueued

	// onEval, if set, is told of each evaluation (for metrics).
	onEval func(rule string, failed bool)
	// moreVars, if set, adds the variable outbox, for the rules that
	// read it (readsOutbox): counting the outbox is a scan of its index,
	// which thousands of other rules need not pay for.
	moreVars    func(vars map[string]cty.Value)
	readsOutbox map[string]bool
}

// evalRecord is the last evaluation of a rule, for /v1/status.
type evalRecord struct {
	At     time.Time
	Events []string
	Err    string
}

func newEngine(cfg *config.Config, logger hclog.Logger, n enqueuer, now func() time.Time) (*engine, error) {
	e := &engine{
		cfg: cfg, logger: logger.Named("rules"), notify: n, now: now, started: now(),
		peerName: map[string]bool{}, states: map[string]rules.State{}, lastEval: map[string]evalRecord{},
		readsOutbox: map[string]bool{},
	}
	var specs []facts.Spec
	for _, c := range cfg.Checks {
		specs = append(specs, c.Spec)
	}
	for _, p := range cfg.Peers {
		specs = append(specs, p.Spec)
		e.peerName[p.Name] = true
	}
	runner, err := facts.NewRunner(logger, specs, facts.WithClock(now))
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
	}
	e.sched = rules.NewScheduler(e.logger, time.Local)
	for _, r := range cfg.Rules {
		r.Prepare()
		r := r
		e.readsOutbox[r.Name] = r.Reads("outbox")
		if _, err := e.sched.Add(r.Schedule, func(ctx context.Context) { e.evaluate(ctx, r) }); err != nil {
			e.close()
			return nil, fmt.Errorf("rule %s: %w", r.Name, err)
		}
	}
	return e, nil
}

// start starts the checks and, once each has run once (or after a short
// wait), the scheduler, so the first evaluations see facts.
func (e *engine) start(ctx context.Context) {
	e.runner.Start(ctx)
	wait, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := e.runner.Ready(wait); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		e.logger.Warn("checks not ready", "error", err)
	}
	e.sched.Start()
}

// stop evaluates every rule once more with agent.stopping set (so a
// shutdown rule can speak), then stops the scheduler and the checks.
func (e *engine) stop(ctx context.Context) error {
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
	err := e.sched.Stop(ctx)
	for _, r := range e.cfg.Rules {
		if ctx.Err() != nil {
			break
		}
		e.evaluate(ctx, r)
	}
	e.runner.Stop()
	e.close()
	return err
}

func (e *engine) close() {
	if e.store != nil {
		if err := e.store.Close(); err != nil {
			e.logger.Warn("closing the rule state", "error", err)
		}
		e.store = nil
	}
}

// facts returns what rules read now.
func (e *engine) facts() rules.Facts {
	snap := e.runner.Snapshot()
	f := rules.Facts{Checks: map[string]facts.Fact{}, Peers: map[string]facts.Fact{}}
	for name, fact := range snap {
		if e.peerName[name] {
			f.Peers[name] = fact
		} else {
			f.Checks[name] = fact
		}
	}
	node, err := rules.EvalNode(e.cfg.Node.Fields, f.Checks, f.Peers, rules.Functions(e.now))
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
	f.Node = node
	return f
}

// agentVar is the agent variable rules and templates read.
func (e *engine) agentVar() cty.Value {
	e.mu.Lock()
	stopping := e.stopping
	e.mu.Unlock()
	return cty.ObjectVal(map[string]cty.Value{
		"node":     cty.StringVal(e.cfg.Agent.Node),
		"version":  cty.StringVal(buildinfo.Version),
		"started":  cty.StringVal(e.started.UTC().Format(time.RFC3339)),
		"stopping": cty.BoolVal(stopping),
	})
}

// evaluate runs one rule once and delivers what it has to say.
func (e *engine) evaluate(ctx context.Context, r *rules.Rule) {
	now := e.now()
	ectx := e.facts().EvalContext(e.now)
	ectx.Variables["agent"] = e.agentVar()
	if e.moreVars != nil && e.readsOutbox[r.Name] {
		e.moreVars(ectx.Variables)
	}

	e.mu.Lock()
	prev := e.states[r.Name]
	e.mu.Unlock()
	res := rules.Evaluate(r, prev, ectx, now)

	rec := evalRecord{At: now, Err: res.State.Err}
	for _, ev := range res.Events {
		rec.Events = append(rec.Events, ev.String())
		switch ev {
		case rules.EventErrorStarted:
			e.logger.Warn("rule cannot be evaluated; it neither fires nor resolves until it can", "rule", r.Name, "error", res.State.Err)
		case rules.EventErrorCleared:
			e.logger.Info("rule evaluates again", "rule", r.Name)
		case rules.EventFire, rules.EventRepeat, rules.EventResolve:
			e.logger.Info("rule "+ev.String(), "rule", r.Name, "severity", r.Severity)
		}
	}

	var entries []*outbox.Entry
	for _, n := range res.Notifications {
		entries = append(entries, e.entries(n, now)...)
	}
	delivered := true
	if err := e.notify.enqueue(ctx, entries); err != nil {
		delivered = false
		e.logger.Error("notifications not stored; the rule's next evaluation tries again", "rule", r.Name, "error", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastEval[r.Name] = rec
	if e.onEval != nil {
		e.onEval(r.Name, rec.Err != "")
	}
	if !delivered {
		e.failed++
		return // keep the old state: the next tick tries again
	}
	e.states[r.Name] = res.State
	if e.store != nil {
		if err := e.store.Save(r.Name, res.State); err != nil {
			e.logger.Error("saving rule state failed; a restart may repeat this alert", "rule", r.Name, "error", err)
		}
	}
}

// entries turns n into one outbox entry per contact, each with its own
// Message-ID.
func (e *engine) entries(n rules.Notification, now time.Time) []*outbox.Entry {
	m := outbox.Mail{
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
		to, err := addresses(c.Email)
		if err != nil {
			e.logger.Error("contact has a bad address", "contact", name, "error", err)
			continue
		}
		mail := m
		mail.To = to
		out = append(out, &outbox.Entry{
			ID:         notify.NewMessageID(e.cfg.Agent.Node, now),
			Rule:       n.Rule,
			Event:      n.Event.String(),
			Contact:    name,
			Via:        append([]string(nil), c.Via...),
			Mail:       mail,
			EnqueuedAt: now,
		})
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

// RuleStatus is a rule's line in /v1/status.
type RuleStatus struct {
	Name         string    `json:"name"`
	Severity     string    `json:"severity"`
	Schedule     string    `json:"schedule"`
	Phase        string    `json:"phase"`
	Since        time.Time `json:"since,omitzero"`
	FiredAt      time.Time `json:"fired_at,omitzero"`
	LastNotified time.Time `json:"last_notified,omitzero"`
	Error        string    `json:"error,omitempty"`
	LastEval     time.Time `json:"last_eval,omitzero"`
	LastEvents   []string  `json:"last_events,omitempty"`
}

// CheckStatus is a check's or peer's line in /v1/status: whether it
// passed, never what it read (a file or a command's output may hold
// secrets).
type CheckStatus struct {
	Kind     string    `json:"kind"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Latency  float64   `json:"latency_seconds"`
	Observed time.Time `json:"observed"`
}

// deliveryFailures returns how many evaluations could not hand over
// their notifications.
func (e *engine) deliveryFailures() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// status returns the rules, checks and node for /v1/status.
func (e *engine) status() (facts.NodeStatus, []RuleStatus, map[string]CheckStatus) {
	node := e.facts().Node // fresh node facts, also where no rule reads them
	checks := map[string]CheckStatus{}
	for name, f := range e.runner.Snapshot() {
		checks[name] = CheckStatus{Kind: string(f.Kind), OK: f.OK, Error: f.Error, Latency: f.Latency.Seconds(), Observed: f.Observed}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []RuleStatus
	for _, r := range e.cfg.Rules {
		st := e.states[r.Name]
		rec := e.lastEval[r.Name]
		out = append(out, RuleStatus{
			Name: r.Name, Severity: r.Severity, Schedule: r.Schedule, Phase: st.Phase.String(),
			Since: st.ActiveSince, FiredAt: st.FiredAt, LastNotified: st.LastNotified,
			Error: st.Err, LastEval: rec.At, LastEvents: rec.Events,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return nodeStatus(e.cfg.Agent.Node, node), out, checks
}

// nodeStatus converts node facts to the shape peers read.
func nodeStatus(name string, node map[string]cty.Value) facts.NodeStatus {
	ns := facts.NodeStatus{Name: name}
	str := func(k string) string {
		v, ok := node[k]
		if !ok || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
			return ""
		}
		return v.AsString()
	}
	list := func(k string) []string {
		v, ok := node[k]
		if !ok || v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) {
			return nil
		}
		var out []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if !e.IsNull() && e.Type() == cty.String {
				out = append(out, e.AsString())
			}
		}
		return out
	}
	if s := str("name"); s != "" {
		ns.Name = s
	}
	ns.Role, ns.Version = str("role"), str("version")
	ns.SharedIPs, ns.TestIPs = list("shared_ips"), list("test_ips")
	if v, ok := node["auto_failover"]; ok && v.IsKnown() && !v.IsNull() && v.Type() == cty.Bool {
		ns.AutoFailover = v.True()
	}
	if s := str("last_sync"); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			ns.LastSync = &t
		}
	}
	return ns
}
