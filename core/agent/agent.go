package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/channelwatch"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/metrics"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/outboxapi"
	"github.com/tocsin-dev/tocsin/core/peersync"
	"github.com/tocsin-dev/tocsin/core/server"
)

// Agent is a running Tocsin agent.
type Agent struct {
	cfg        *config.Config
	logger     hclog.Logger
	transports transportSet
	engine     *engine.Runner
	server     *server.Server
	started    time.Time
	now        func() time.Time

	outbox     *outbox.Outbox
	dispatcher *delivery.Dispatcher
	deliveries *deliveryLog
	watch      *channelwatch.Watch // the outbox fact: counts and failure streaks
	tests      *transportTests     // the test mails of the transports with test_to
	dispatched chan struct{}       // closed when the dispatcher's Run returns
	metrics    *metrics.Metrics

	// reloading serialises Reload and Stop; stopped is set by Stop.
	reloading sync.Mutex
	stopped   bool
	// retiring counts the transports a reload replaced whose sends in
	// flight are still finishing; Stop waits for them.
	retiring sync.WaitGroup

	// Tests replace how a transport starts, the timer of the restarts and
	// the start timeout; nil and zero mean the real ones.
	starter    starter
	afterFunc  func(time.Duration) <-chan time.Time
	startLimit time.Duration

	// credentials keeps the variable credential of the running
	// configuration's transports (credential_facts.go); newEngine
	// replaces it.
	credentials atomic.Pointer[credentialWatch]

	// auth checks the API's callers; a reload replaces it.
	auth atomic.Pointer[apiauth.Authenticator]
	// notices are the peers' stop notices (stopnotice.go); stopNotice is
	// this agent's own, set by AnnounceStop.
	notices    *facts.PeerNotices
	stopNotice atomic.Pointer[facts.StopNotice]
	// apiProblems are the parts of the API's security that could not be
	// set up (see apiSecurity): /healthz reports them. Guarded by mu.
	apiProblems []string

	// sil are the silences (silence.go); silenceSweepEvery, when set,
	// is how often their ends are looked for (tests).
	sil               *silencing
	refresh           *refreshing // keeps firing alerts alive (core/refresh)
	silenceSweepEvery time.Duration
	// local is the configuration of the files, without the settings
	// synced from a peer (cfg holds both); synced is that sync. local
	// is guarded by mu, and written under reloading too.
	local  *config.Config
	synced settingsSync

	// mu guards what a reload replaces: cfg, transports and engine.
	// Read them through current() once the agent runs.
	mu sync.RWMutex
}

// running is what a reload replaces, read together.
type running struct {
	cfg        *config.Config
	transports transportSet
	engine     *engine.Runner
}

// current returns the configuration the agent runs now.
func (a *Agent) current() running {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return running{cfg: a.cfg, transports: a.transports, engine: a.engine}
}

// Start opens the outbox, starts and configures every transport (all at
// once, each within StartTimeout), starts delivering what the outbox
// holds (from before a restart too), then the rules and the status server.
//
// A transport that does not start (its plugin fails, hangs or refuses its
// settings) does not stop the agent: it runs with the others, reports the
// transport failed (log, /healthz, /v1/status, /metrics and the outbox
// fact), keeps trying to start it with backoff, and its notifications wait
// in the outbox. Only when no transport at all starts does Start give up.
// On errors it stops whatever it started and returns the diagnostics.
func Start(ctx context.Context, cfg *config.Config, logger hclog.Logger) (*Agent, hcl.Diagnostics) {
	return start(ctx, &Agent{cfg: cfg, logger: logger, now: time.Now})
}

// start is Start for an agent whose test hooks are set.
func start(ctx context.Context, a *Agent) (*Agent, hcl.Diagnostics) {
	// The transports and contacts of the settings peer's last good copy
	// are there from the start: the peer may be down now.
	a.local = a.cfg
	a.cfg = a.withSynced(a.cfg)
	a.takeStartLogins()
	cfg, logger := a.cfg, a.logger
	a.started = a.now()
	ob, err := outbox.Open(OutboxPath(cfg.Agent.DataDir), outbox.Options{ConfigPath: configPath(cfg)})
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot open the outbox", Detail: err.Error()}}
	}
	a.outbox = ob
	a.openSilences(cfg.Agent.DataDir)
	a.openRefresh(cfg.Agent.DataDir)
	a.metrics = metrics.New()
	a.metrics.Outbox(ob.Stats)
	a.deliveries = &deliveryLog{logger: logger.Named("delivery")}
	a.watch = channelwatch.New(a.deliveries, ob.Stats, a.now, logger.Named("delivery"))
	a.tests = newTransportTests(cfg.Agent.DataDir, a.now, logger.Named("test-mail"))
	a.metrics.TransportTests(a.tests.metrics)
	var (
		diags  hcl.Diagnostics
		byName map[string]hcl.Diagnostics
	)
	a.transports, byName = a.startTransports(ctx, cfg, cfg.Transports)
	for _, tc := range cfg.Transports {
		diags = append(diags, byName[tc.Name]...)
	}
	a.metrics.PluginStarts(a.pluginStarts)
	a.metrics.TransportsUp(a.transportsUp)
	a.metrics.States(a.ruleStates, a.checkStates)
	if len(a.transports) > 0 && len(a.transports.up()) == 0 {
		a.stopTransports(a.transports)
		_ = ob.Close()
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No transport started", Detail: "Not one transport's plugin started and took its settings, so the agent could send nothing: fix what is said above (tocsin validate shows it too), then start the agent again."})
	}
	// The agent runs with the transports that started; the others' errors
	// are warnings now, and each failed transport is logged and retried.
	diags = asWarnings(diags)
	a.dispatcher = delivery.New(ob, dispatchTransports{a}, policy(cfg.Delivery), refreshObserver{a.refresh.keeper, a.metrics.Observer(testObserver{a, a.watch})}, logger.Named("delivery"))
	a.dispatched = make(chan struct{})
	go func() {
		defer close(a.dispatched)
		if err := a.dispatcher.Run(context.WithoutCancel(ctx)); err != nil {
			logger.Error("delivery stopped", "error", err)
		}
	}()
	a.superviseFailed(a.transports, cfg)
	a.openPeerNotices(cfg)
	eng, err := a.newEngine(ctx, cfg)
	if err != nil {
		a.stopDelivery(ctx)
		a.stopTransports(a.transports)
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot start the rules", Detail: err.Error() + "."})
	}
	// The dispatcher runs already and reads the agent through current().
	a.mu.Lock()
	a.engine = eng
	a.mu.Unlock()
	// Hosts: the CLI calls the agent by its listen address, a peer may by
	// its node name; any other name is refused (DNS rebinding), unless
	// the request carries a credential.
	sec := newAPISecurity(cfg, logger)
	a.auth.Store(sec.auth)
	a.mu.Lock()
	a.apiProblems = sec.problems
	a.mu.Unlock()
	for _, p := range sec.problems {
		logger.Error("API: "+p, "fix", "correct the configuration (tocsin validate), then reload or restart")
	}
	for _, d := range cfg.Insecure {
		logger.Warn(d.Summary+": "+d.Detail, "at", d.Subject.String())
	}
	if sec.tls == nil && plainOnNetwork(cfg.Agent) {
		// Accepted by the operator, so not a degradation; but said at
		// every start, as validate says it.
		logger.Warn("Plain HTTP on the network: the API on "+cfg.Agent.Listen+" is served without TLS (insecure_plain_http = true): its credentials and answers cross the network in the clear",
			"fix", "remove insecure_plain_http from the agent block to serve TLS with the agent's own identity (tocsin identity prints its fingerprint, which the partner pins)")
	}
	handlers := sec.handlers(server.Handlers{Health: a.health, Routes: a.routes(), Hosts: server.OwnNames(cfg.Agent.Node, cfg.Agent.Listen)}, &a.auth, a.statusOf)
	srv, err := a.listen(logger, cfg, sec, handlers)
	if err != nil {
		_ = eng.Close(ctx) // never started: closes the rule state
		a.stopDelivery(ctx)
		a.stopTransports(a.transports)
		return nil, append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot serve the status endpoint", Detail: err.Error() + ". Set listen in the agent block to a free host:port."})
	}
	a.server = srv
	eng.Start(ctx)
	a.runSilences(context.WithoutCancel(ctx))
	a.runRefresh(context.WithoutCancel(ctx))
	a.startSync(a.local)
	logger.Info("agent started", "node", cfg.Agent.Node, "version", buildinfo.Version, "listen", a.Addr(), "tls", sec.tls != nil,
		"transports", a.transports.up().Names(), "failed_transports", failedNames(a.transports), "checks", len(cfg.Checks), "peers", len(cfg.Peers), "rules", len(cfg.Rules), "mute", cfg.Agent.Mute)
	a.testChanged(ctx, cfg)
	return a, diags
}

// superviseFailed logs each failed transport of set and starts its
// restart loop.
func (a *Agent) superviseFailed(set transportSet, cfg *config.Config) {
	for _, name := range set.names() {
		lt := set[name]
		if _, f := lt.current(); f != nil {
			a.announceFailed(lt, f)
			a.superviseStart(lt, cfg)
		}
	}
}

// failedNames returns the names of the transports of set that are not up.
func failedNames(set transportSet) []string {
	var out []string
	for _, name := range set.names() {
		if t, _ := set[name].current(); t == nil {
			out = append(out, name)
		}
	}
	return out
}

// stopTransports retires every transport of set, waits for their restart
// loops and stops their plugins. Sends must be over (the dispatcher
// stopped).
func (a *Agent) stopTransports(set transportSet) {
	for _, lt := range set {
		_, loopDone := lt.retire()
		<-loopDone
		lt.stop()
	}
}

// routes are the agent's endpoints beyond /healthz and /v1/status: the
// outbox API and /metrics.
func (a *Agent) routes() map[string]http.Handler {
	r := outboxapi.Routes(a.outbox, a.dispatcher)
	r["GET /metrics"] = a.metrics.Handler()
	maps.Copy(r, a.silenceRoutes())
	r["POST "+facts.StopNoticePath] = http.HandlerFunc(a.serveStopNotice)
	r["GET "+peersync.Path] = http.HandlerFunc(a.servePeerSettings)
	return r
}

// configPath is the -config an operator gave, as near as the loaded
// files tell: the file, or the directory of several.
func configPath(cfg *config.Config) string {
	switch len(cfg.Files) {
	case 0:
		return ""
	case 1:
		return cfg.Files[0]
	}
	return filepath.Dir(cfg.Files[0])
}

// Status is what /v1/status serves: the node's facts in the shape a
// peer's peer check reads, then the rules with their state and the checks,
// never what a check read.
type Status struct {
	facts.Status
	Rules  []engine.RuleStatus           `json:"rules"`
	Checks map[string]engine.CheckStatus `json:"checks"`
	// DeliveryFailures counts evaluations whose notifications could not
	// be stored in the outbox (each is tried again at the next tick).
	DeliveryFailures int `json:"delivery_failures"`
	// Delivery is the outbox and what the dispatcher did.
	Delivery DeliveryStatus `json:"delivery"`
	// Silences are the silences in force (tocsin silence).
	Silences []SilenceView `json:"silences"`
	// Settings is where the transports and contacts come from when the
	// agent takes them from a peer (settings_from); nil otherwise.
	Settings *SettingsStatus `json:"settings,omitempty"`
	// Credentials are the transports' credentials, the variable
	// credential (credential_facts.go).
	Credentials map[string]CredentialStatus `json:"credentials"`

	// rulesJSON, when set, is Rules already encoded (encodeRules), which
	// WriteJSON writes in Rules' place.
	rulesJSON []byte
}

// statusOf is the status, its rules as a list (for the read role's view,
// which hides their errors) or, without list, already encoded.
func (a *Agent) statusOf(list bool) Status {
	cur := a.current()
	node, checks := cur.engine.NodeAndChecks()
	st := Status{
		Status:           facts.Status{Node: node, AgentVersion: buildinfo.Version, Time: a.now().UTC()},
		Checks:           checks,
		DeliveryFailures: cur.engine.DeliveryFailures(),
		Delivery:         a.deliveryStatus(),
		Silences:         a.silenceViews(),
		Settings:         a.synced.status(),
		Credentials:      a.credentialStatus(),
	}
	a.stopStatus(&st.Status)
	if list {
		st.Rules = cur.engine.RuleStatuses()
	} else {
		st.rulesJSON = cur.engine.RulesStatusJSON(encodeRules)
	}
	return st
}

// Addr returns the address of the status server.
// It is "" when the API is not served (its TLS identity is unusable).
func (a *Agent) Addr() string {
	if a.server == nil {
		return ""
	}
	return a.server.Addr()
}

// listen serves the API as sec allows: not at all when its TLS identity
// is unusable (the agent still evaluates and mails; the log and the
// self check say why).
func (a *Agent) listen(logger hclog.Logger, cfg *config.Config, sec apiSecurity, h server.Handlers) (*server.Server, error) {
	if !sec.serve {
		return nil, nil
	}
	return server.Listen(logger, cfg.Agent.Listen, h)
}

// Transports returns the configured transports that are up.
func (a *Agent) Transports() Transports { return a.current().transports.up() }

// health is /healthz: "ok", or "degraded" with the problems while a
// transport is not up or notifications cannot be stored in the outbox.
func (a *Agent) health() server.Health {
	cur := a.current()
	h := server.Health{
		Status:     server.StatusOK,
		Node:       cur.cfg.Agent.Node,
		Version:    buildinfo.Version,
		Transports: cur.transports.names(),
		Started:    a.started.UTC().Format(time.RFC3339),
	}
	for _, name := range cur.transports.names() {
		if _, f := cur.transports[name].current(); f != nil {
			h.Status = server.StatusDegraded
			h.Problems = append(h.Problems, fmt.Sprintf("transport %s failed to start (next try %s): %s. %s", name, f.next.UTC().Format(time.RFC3339), f.err, f.remedy))
		}
	}
	a.mu.RLock()
	apiProblems := a.apiProblems
	a.mu.RUnlock()
	for _, p := range apiProblems {
		h.Status = server.StatusDegraded
		h.Problems = append(h.Problems, "API: "+p)
	}
	for _, d := range cur.cfg.Insecure {
		h.Status = server.StatusDegraded
		h.Problems = append(h.Problems, d.Summary+": "+d.Detail)
	}
	if a.sil != nil && a.sil.problem != "" {
		h.Status = server.StatusDegraded
		h.Problems = append(h.Problems, "silences: "+a.sil.problem)
	}
	if s := a.storeStatus(); s != nil {
		h.Status = server.StatusDegraded
		h.Problems = append(h.Problems, fmt.Sprintf("notifications cannot be stored in the outbox since %s (%d not stored): %s. %s",
			s.Since.Format(time.RFC3339), s.Failures, s.LastError, s.Remedy))
	}
	return h
}

// Stop evaluates the rules a last time (agent.stopping), lets the
// dispatcher finish the sends in flight (and the last evaluation's mail)
// for up to drain_timeout or until ctx ends, closes the outbox with what is
// left in it for the next start, and stops the status server and every
// plugin.
func (a *Agent) Stop(ctx context.Context) error {
	a.reloading.Lock() // no reload from here on
	a.stopped = true
	a.reloading.Unlock()
	a.stopSilences() // no silence's end is announced after this
	a.waitSilences()
	a.stopRefresh() // the alerts kept are saved for the next start
	a.stopSync()
	cur := a.current()
	err := cur.engine.Stop(ctx) // a last evaluation, through the still running plugins
	a.flush(ctx)                // its mail (the shutdown notice) goes out now
	a.stopDelivery(ctx)
	if a.server != nil { // nil: the API was not served
		if serr := a.server.Shutdown(ctx); serr != nil {
			err = errors.Join(err, serr)
		}
	}
	a.stopTransports(cur.transports)
	a.retiring.Wait() // bounded by drain_timeout, and no send is left
	a.logger.Info("agent stopped")
	return err
}

// flush waits, for up to the delivery block's drain_timeout or until ctx ends, until nothing in
// the outbox is due: what a stopping agent enqueued goes out before it
// exits, unless a transport is failing (a retry then waits in the outbox
// for the next start).
func (a *Agent) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.drainTimeout())
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		a.dispatcher.Kick()
		due, _, err := a.outbox.Due(1)
		if err != nil || len(due) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// drainTimeout is the delivery block's drain_timeout.
func (a *Agent) drainTimeout() time.Duration {
	if d := a.current().cfg.Delivery.DrainTimeout; d > 0 {
		return d
	}
	return config.DefaultDelivery().DrainTimeout
}

// stopDelivery drains the dispatcher, bounded by drain_timeout and ctx,
// and closes the outbox.
func (a *Agent) stopDelivery(ctx context.Context) {
	dctx, cancel := context.WithTimeout(ctx, a.drainTimeout())
	defer cancel()
	if err := a.dispatcher.Stop(dctx); err != nil {
		a.logger.Warn("stopped before every send in flight finished; they stay in the outbox for the next start", "error", err)
	}
	<-a.dispatched
	if err := a.outbox.Close(); err != nil {
		a.logger.Error("closing the outbox", "error", err)
	}
}
