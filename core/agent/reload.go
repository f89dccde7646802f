package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// Reload replaces the agent's rules, checks, peers, contacts and
// transports with those of cfg, without losing the outbox: notifications
// waiting in it are sent through the new transports of their chains (a
// transport that is gone counts as failed for them, and the next one of
// the chain takes over). Rule state carries over by rule name.
//
// A transport whose settings did not change (plugin, path, sha256,
// plugin_dir, from, config block and stored login) keeps its plugin
// process; a new rate_limit applies at once. One that changed gets a new
// process, and the sends in flight on the old one finish there before it
// stops (for up to drain_timeout; a send cut short then is sent again,
// with the same Message-ID).
//
// Nothing changes when cfg has errors, or a new or changed transport's
// plugin does not start or refuses its settings: the diagnostics come
// back and the old configuration keeps running. The exception is a
// transport that is failed already: its new settings replace the old,
// failed or not, and the agent goes on trying to start it. data_dir
// cannot change without a restart; listen, token key and the delivery
// block changes are reported as taking effect at the next start.
//
// The transports and contacts synced from a settings peer (settings_from)
// are added to cfg's, in place of its own of the same names.
func (a *Agent) Reload(ctx context.Context, cfg *config.Config) hcl.Diagnostics {
	a.reloading.Lock()
	defer a.reloading.Unlock()
	prev := a.localConfig()
	a.mu.Lock()
	a.local = cfg
	a.mu.Unlock()
	diags := a.reload(ctx, a.withSynced(cfg))
	if diags.HasErrors() {
		a.mu.Lock()
		a.local = prev
		a.mu.Unlock()
		a.withSynced(prev)
		return diags
	}
	if a.synced.stop == nil {
		// settings_from came with this reload: the loop starts now (it
		// reads the settings peer of the running configuration at each
		// round, so one that is running follows later changes).
		a.startSync(cfg)
	}
	return diags
}

// reload is Reload of cfg, the files' configuration with the synced
// settings in it; a.reloading is held. Applying synced settings comes
// here too.
func (a *Agent) reload(ctx context.Context, cfg *config.Config) hcl.Diagnostics {
	old := a.current()
	if a.stopped {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Agent is stopping", Detail: "The agent is stopping; the new configuration is not applied."}}
	}
	if cfg.Agent.DataDir != old.cfg.Agent.DataDir {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "data_dir changed", Detail: fmt.Sprintf("data_dir moves from %s to %s, which holds the outbox and rule state: restart the agent for that (and move the files).", old.cfg.Agent.DataDir, cfg.Agent.DataDir)}}
	}
	var diags hcl.Diagnostics
	restartOnly := func(what string, changed bool) {
		if changed {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: what + " changes at the next start", Detail: "The reload keeps the old " + what + "; restart the agent to apply the new one."})
		}
	}
	restartOnly("listen", cfg.Agent.Listen != old.cfg.Agent.Listen)
	restartOnly("TLS certificate", cfg.Agent.TLSCertFile != old.cfg.Agent.TLSCertFile || cfg.Agent.TLSKeyFile != old.cfg.Agent.TLSKeyFile ||
		cfg.Agent.TLSClientCAFile != old.cfg.Agent.TLSClientCAFile || cfg.Agent.InsecurePlainHTTP != old.cfg.Agent.InsecurePlainHTTP)
	restartOnly("delivery block", !reflect.DeepEqual(deliveryValues(cfg.Delivery), deliveryValues(old.cfg.Delivery)))
	restartOnly("token key", cfg.Agent.TokenKeyFile != old.cfg.Agent.TokenKeyFile || cfg.Agent.TokenKeyEnv != old.cfg.Agent.TokenKeyEnv)

	// Keep the transports that did not change; start the others.
	next := transportSet{}
	kept := map[string]*config.Transport{}
	var changed []*config.Transport
	creds := NewTokenStore(cfg.Agent)
	for _, tc := range cfg.Transports {
		if lt := old.transports[tc.Name]; lt != nil && a.unchanged(lt, old.cfg, cfg, tc, creds) {
			next[tc.Name] = lt
			kept[tc.Name] = tc
			continue
		}
		changed = append(changed, tc)
	}
	started, byName := a.startTransports(ctx, cfg, changed)
	for _, tc := range changed {
		lt, d := started[tc.Name], byName[tc.Name]
		next[tc.Name] = lt
		if _, f := lt.current(); f != nil {
			if prev := old.transports[tc.Name]; prev != nil {
				if t, _ := prev.current(); t == nil {
					// Failed before, failed now: the new settings replace
					// the old, and the agent goes on trying them.
					d = asWarnings(d)
				}
			}
		}
		diags = append(diags, d...)
	}
	if diags.HasErrors() {
		a.stopTransports(started)
		return diags
	}
	// The rule state file has one owner at a time: the old rules stop
	// (without a last evaluation: the agent is not stopping) before the
	// new ones open it.
	if err := old.engine.Close(ctx); err != nil {
		a.logger.Warn("rules did not stop cleanly for the reload", "error", err)
	}
	eng, err := a.newEngine(ctx, cfg)
	if err != nil {
		a.stopTransports(started)
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot start the new rules", Detail: err.Error() + "; the old configuration keeps running."})
		back, berr := a.newEngine(ctx, old.cfg)
		if berr != nil {
			a.logger.Error("cannot restart the old rules either; restart the agent", "error", berr)
			return diags
		}
		a.mu.Lock()
		a.engine = back
		a.mu.Unlock()
		back.Start(ctx)
		return diags
	}
	for name, tc := range kept {
		next[name].keep(tc)
	}
	// The API's credentials follow the configuration; its TLS and
	// listen address wait for a restart.
	sec := newAPISecurity(cfg, a.logger)
	a.auth.Store(sec.auth)
	for _, p := range sec.problems {
		a.logger.Error("API: "+p, "fix", "correct the configuration (tocsin validate), then reload or restart")
	}
	a.mu.Lock()
	a.cfg, a.transports, a.engine = cfg, next, eng
	a.apiProblems = sec.problems
	a.mu.Unlock()
	a.watch.Retain(next.names())
	eng.Start(ctx)
	drain := old.cfg.Delivery.DrainTimeout
	if drain <= 0 {
		drain = config.DefaultDelivery().DrainTimeout
	}
	for name, lt := range old.transports {
		if next[name] != lt {
			a.retire(lt, drain)
		}
	}
	a.superviseFailed(started, cfg)
	a.dispatcher.Kick()
	a.logger.Info("configuration reloaded", "transports", next.names(), "kept", slices.Sorted(maps.Keys(kept)), "restarted", len(changed), "checks", len(cfg.Checks), "peers", len(cfg.Peers), "rules", len(cfg.Rules))
	a.testChanged(ctx, cfg)
	return diags
}

// unchanged reports whether transport lt, running with oldCfg, would run
// the same with tc of cfg: same plugin file and pin, same plugin_dir and
// local_plugin_dir,
// same sender, same settings and the same stored login. Only a
// transport that is up can be kept.
func (a *Agent) unchanged(lt *liveTransport, oldCfg, cfg *config.Config, tc *config.Transport, creds Credentials) bool {
	t, _ := lt.current()
	if t == nil || t.Description == nil {
		return false
	}
	was := t.Config
	if was.Plugin != tc.Plugin || was.Path != tc.Path || was.SHA256 != tc.SHA256 || was.From != tc.From ||
		oldCfg.Agent.PluginDir != cfg.Agent.PluginDir || oldCfg.Agent.LocalPluginDir != cfg.Agent.LocalPluginDir {
		return false
	}
	if d := tc.DecodeSettings(t.Description.Schema); d.HasErrors() || !bytes.Equal(was.Settings.JSON(), tc.Settings.JSON()) {
		return false
	}
	if t.credential != nil {
		cred, err := creds.Credential(tc.Name)
		if err == nil && t.credential.Load() != nil && cred != *t.credential.Load() {
			return false // a new login was stored: the plugin takes it
		}
	}
	return true
}

// retire takes a transport a reload replaced out of service: it gets no
// new sends, its restart loop ends, and its plugin stops once the sends
// in flight on it are over, or after bound (they then fail, and are
// retried with the same Message-ID).
func (a *Agent) retire(lt *liveTransport, bound time.Duration) {
	idle, loopDone := lt.retire()
	a.retiring.Add(1)
	go func() {
		defer a.retiring.Done()
		<-loopDone
		select {
		case <-idle:
			lt.stop()
			return
		default:
		}
		select {
		case <-idle:
		case <-a.after(bound):
			a.logger.Warn("sends in flight on a transport the reload replaced did not finish in time; stopping its plugin, and they are sent again with the same Message-ID", "transport", lt.name, "waited", bound)
		}
		lt.stop()
	}()
}

// newEngine makes the rules of cfg, wired to the agent as Start wires
// them: same start time (agent.started does not move on a reload),
// metrics, outbox and credential variables (the credentials of cfg's
// transports, read again: a renewed certificate counts from the reload).
func (a *Agent) newEngine(_ context.Context, cfg *config.Config) (*engine.Runner, error) {
	creds := newCredentialWatch(cfg, NewTokenStore(cfg.Agent).List, a.logger.Named("credential"))
	creds.plugin = a.pluginLifetime
	eng, err := engine.New(cfg, a.logger, handoff{a}, engine.Options{
		Now: a.now, Started: a.started, OnEval: a.metrics.RuleEvaluated, OnTick: a.metrics.RuleTick, Outbox: a.outboxFact,
		Silences:    a.silenceVars,
		PeerNotices: a.notices,
		Credential:  creds.Value,
	})
	if se := (*rules.StoreError)(nil); errors.As(err, &se) {
		// The recover command the error gives names the configuration;
		// the engine's wrapping has already rendered it without.
		se.ConfigPath = configPath(cfg)
		err = fmt.Errorf("rule state: %w", se)
	}
	if err != nil {
		return nil, err
	}
	names := make([]string, len(cfg.Rules))
	for i, r := range cfg.Rules {
		names[i] = r.Name
	}
	a.metrics.RulesConfigured(names)
	a.credentials.Store(creds)
	releaseMemory()
	return eng, nil
}

// handoff is the agent as its rule runner's engine.Enqueuer: the outbox,
// through the agent's store-failure accounting.
type handoff struct{ a *Agent }

// Enqueue stores entries and marks in the outbox (Agent.enqueue).
func (h handoff) Enqueue(ctx context.Context, marks []outbox.Mark, entries []*outbox.Entry) error {
	return h.a.enqueue(ctx, marks, entries)
}

// Marks returns the hand-off marks stored in the outbox.
func (h handoff) Marks() (map[string]outbox.Mark, error) { return h.a.marks() }

// deliveryValues is the comparable part of a delivery block.
func deliveryValues(d config.Delivery) [5]any {
	return [5]any{d.RetryInitial, d.RetryMax, d.MaxAge, d.BatchSize, d.DrainTimeout}
}
