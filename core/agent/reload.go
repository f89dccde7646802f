package agent

import (
	"context"
	"fmt"
	"reflect"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

// Reload replaces the agent's rules, checks, peers, contacts and
// transports with those of cfg, without losing the outbox: notifications
// waiting in it are sent through the new transports of their chains (a
// transport that is gone counts as failed for them, and the next one of
// the chain takes over). Rule state carries over by rule name.
//
// Nothing changes when cfg has errors, or its plugins refuse their
// settings: the diagnostics come back and the old configuration keeps
// running. data_dir cannot change without a restart; listen, token key and
// the delivery block changes are reported as taking effect at the next
// start.
func (a *Agent) Reload(ctx context.Context, cfg *config.Config) hcl.Diagnostics {
	a.reloading.Lock()
	defer a.reloading.Unlock()
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
	restartOnly("delivery block", !reflect.DeepEqual(deliveryValues(cfg.Delivery), deliveryValues(old.cfg.Delivery)))
	restartOnly("token key", cfg.Agent.TokenKeyFile != old.cfg.Agent.TokenKeyFile || cfg.Agent.TokenKeyEnv != old.cfg.Agent.TokenKeyEnv)

	host := pluginhost.New(a.logger, cfg.Agent.PluginDir)
	ts, d := PrepareTransports(ctx, cfg, host, a.logger, countedCredentials{NewTokenStore(cfg.Agent), a.metrics})
	diags = append(diags, d...)
	if diags.HasErrors() {
		host.Close()
		return diags
	}
	// The rule state file has one owner at a time: the old rules stop
	// (without a last evaluation: the agent is not stopping) before the
	// new ones open it.
	if err := old.engine.halt(ctx); err != nil {
		a.logger.Warn("rules did not stop cleanly for the reload", "error", err)
	}
	eng, err := a.newEngine(ctx, cfg)
	if err != nil {
		host.Close()
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot start the new rules", Detail: err.Error() + "; the old configuration keeps running."})
		back, berr := a.newEngine(ctx, old.cfg)
		if berr != nil {
			a.logger.Error("cannot restart the old rules either; restart the agent", "error", berr)
			return diags
		}
		a.mu.Lock()
		a.engine = back
		a.mu.Unlock()
		back.start(ctx)
		return diags
	}
	a.mu.Lock()
	a.cfg, a.transports, a.engine, a.host = cfg, ts, eng, host
	a.mu.Unlock()
	a.watch.retain(ts.Names())
	eng.start(ctx)
	// Sends in flight on the old plugins fail and are retried on the new
	// ones: at-least-once, as after a plugin crash.
	old.host.Close()
	a.dispatcher.Kick()
	a.logger.Info("configuration reloaded", "transports", ts.Names(), "checks", len(cfg.Checks), "peers", len(cfg.Peers), "rules", len(cfg.Rules))
	return diags
}

// newEngine makes the rules of cfg, wired to the agent as Start wires
// them: same start time (agent.started does not move on a reload),
// metrics and outbox variables.
func (a *Agent) newEngine(_ context.Context, cfg *config.Config) (*engine, error) {
	eng, err := newEngine(cfg, a.logger, a, a.now)
	if err != nil {
		return nil, err
	}
	eng.started = a.started
	eng.onEval = a.metrics.RuleEvaluated
	eng.onTick = a.metrics.RuleTick
	eng.moreVars = a.watch.vars
	releaseMemory()
	return eng, nil
}

// halt stops the scheduler and the checks and closes the rule state,
// without a last evaluation.
func (e *engine) halt(ctx context.Context) error {
	err := e.sched.Stop(ctx)
	e.runner.Stop()
	e.close()
	return err
}

// deliveryValues is the comparable part of a delivery block.
func deliveryValues(d config.Delivery) [5]any {
	return [5]any{d.RetryInitial, d.RetryMax, d.MaxAge, d.BatchSize, d.DrainTimeout}
}
