package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/host"
)

// Spec says which plugin serves which transport.
type Spec struct {
	// Name is the transport's name, for logs and errors.
	Name string
	// Plugin is the plugin's name, the NAME in tocsin-plugin-NAME.
	Plugin string
	// Path is an explicit executable; empty means the plugin directory.
	Path string
	// SHA256 is the pinned hex checksum; empty means no pin. The host
	// hashes the open file and executes that same file. For a binary the
	// pin covers what the kernel loads from it; for a "#!" script, the
	// script's own bytes, not its interpreter nor anything it reads,
	// imports or runs.
	SHA256 string
}

// startTimeout bounds how long a plugin may take to answer the handshake.
const startTimeout = 20 * time.Second

// StopTimeout bounds how long Kill and Host.Close wait for a plugin to
// stop. A plugin asked to stop exits at once; one that does not is killed
// with its whole process group when the time is up.
const StopTimeout = 10 * time.Second

// configureTimeout bounds the Configure replayed on a restarted plugin
// (a variable for tests).
var configureTimeout = 30 * time.Second

// exitWait bounds how long a call that broke with the connection waits for
// go-plugin to see the plugin's exit, which tells a death from a
// connection trouble (a variable for tests).
var exitWait = 2 * time.Second

// Instance is one plugin process serving one transport. It implements
// sdk.Transport and is safe for concurrent use.
type Instance struct {
	host   *Host
	spec   Spec
	logger hclog.Logger

	mu         sync.Mutex
	client     *plugin.Client
	run        *procRunner
	transport  sdk.Transport
	path       string
	configured *sdk.Config // the last good configuration, replayed after a restart
	starts     int
}

var (
	_ sdk.Transport  = (*Instance)(nil)
	_ sdk.Authorizer = (*Instance)(nil)
)

// Spec returns the instance's spec.
func (in *Instance) Spec() Spec { return in.spec }

// Path returns the executable the instance runs, once it has started.
func (in *Instance) Path() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.path
}

// PID returns the plugin's process id, or 0 when it is not running. The
// plugin leads its own process group, whose id is the same number.
func (in *Instance) PID() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.client == nil || in.client.Exited() || in.run == nil {
		return 0
	}
	return in.run.pid
}

// Starts returns how often the plugin process was started.
func (in *Instance) Starts() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.starts
}

// Kill stops the plugin process and every process it started, waiting at
// most StopTimeout. The next call starts it again.
func (in *Instance) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if err := in.Stop(ctx); err != nil {
		in.logger.Warn("plugin did not stop in time; killed it", "error", err)
	}
}

// Stop stops the plugin process and every process it started. It asks
// the plugin to exit, and kills its process group when it has not by the
// time ctx is done; the error then says so. The next call starts it again.
func (in *Instance) Stop(ctx context.Context) error {
	in.mu.Lock()
	c, r := in.client, in.run
	in.client, in.run, in.transport = nil, nil, nil
	in.mu.Unlock()
	if err := stopClient(ctx, c, r); err != nil {
		return fmt.Errorf("stop plugin %s: %w", in.spec.Plugin, err)
	}
	return nil
}

// stopClient runs go-plugin's Kill (a graceful request, then SIGKILL to
// the process group, then waiting for the output to be read) and, when ctx
// is done first, kills the group and closes the output pipes, on which
// Kill then returns by itself.
func stopClient(ctx context.Context, c *plugin.Client, r *procRunner) error {
	if c == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Kill()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		if r != nil {
			r.forceStop()
		}
		return fmt.Errorf("it did not stop in time, so its process group was killed: %w", ctx.Err())
	}
}

// ensure returns a live transport, starting the plugin (again) when needed.
func (in *Instance) ensure(ctx context.Context) (sdk.Transport, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.host.isClosed() {
		return nil, errors.New("plugin host is closed")
	}
	if in.client != nil && !in.client.Exited() {
		return in.transport, nil
	}
	if in.client != nil {
		in.logger.Warn("plugin process exited; starting it again")
		if err := stopClient(ctx, in.client, in.run); err != nil {
			in.logger.Warn("cleaning up after the exited plugin", "error", err)
		}
		in.client, in.run, in.transport = nil, nil, nil
	}
	if err := in.startLocked(ctx); err != nil {
		return nil, err
	}
	if in.configured != nil {
		cctx, cancel := context.WithTimeout(ctx, configureTimeout)
		diags, err := in.transport.Configure(cctx, *in.configured)
		cancel()
		if err == nil {
			err = diags.Err()
		}
		if err != nil {
			// Not configured, it must not send: the next call starts it again.
			_ = stopClient(ctx, in.client, in.run)
			in.client, in.run, in.transport = nil, nil, nil
			return nil, fmt.Errorf("configure restarted plugin %s: %w", in.spec.Plugin, err)
		}
	}
	return in.transport, nil
}

func (in *Instance) startLocked(ctx context.Context) error {
	// go-plugin's start takes no context; StartTimeout bounds it instead.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start plugin %s: %w", in.spec.Plugin, err)
	}
	path, err := in.host.Find(in.spec.Plugin, in.spec.Path)
	if err != nil {
		return err
	}
	// The file is opened once, checked, and that open file is executed;
	// go-plugin's SecureConfig would check a path again, and the runner
	// does not execute a path.
	exe, err := openPinned(path, in.spec.SHA256)
	if err != nil {
		return err
	}
	defer exe.Close()
	var run *procRunner
	tail := newStderrTail(4096)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: host.ClientPlugins(),
		RunnerFunc:       newRunner(exe, func(r *procRunner) { run = r }),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     startTimeout,
		Logger:           in.logger,
		Stderr:           tail,
		GRPCDialOptions:  host.DialOptions(),
	})
	fail := func(err error) error {
		// Stopping waits for the stderr copy, so the tail is complete.
		if serr := stopClient(ctx, client, run); serr != nil {
			in.logger.Warn("stopping a plugin that failed to start", "error", serr)
		}
		return err
	}
	rpc, err := client.Client()
	if err != nil {
		err = fail(err)
		if strings.Contains(strings.ToLower(err.Error()), "incompatible api version") {
			err = fmt.Errorf("%w; this agent speaks plugin protocol %d: install a plugin built with an SDK for it, or an agent that speaks the plugin's", err, sdk.ProtocolVersion)
		}
		if said := tail.Lines(3); len(said) > 0 {
			err = fmt.Errorf("%w (the plugin's last output: %s)", err, strings.Join(said, " / "))
		}
		return fmt.Errorf("start plugin %s (%s): %w", in.spec.Plugin, path, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		return fail(fmt.Errorf("start plugin %s: %w", in.spec.Plugin, err))
	}
	t, ok := raw.(sdk.Transport)
	if !ok {
		return fail(fmt.Errorf("start plugin %s: it does not serve a transport", in.spec.Plugin))
	}
	in.client, in.run, in.transport, in.path = client, run, t, path
	in.starts++
	pid := ""
	if run != nil {
		pid = run.ID()
	}
	in.logger.Debug("plugin started", "path", path, "pid", pid, "protocol", client.NegotiatedVersion())
	return nil
}

// call runs fn on a live transport. When fn fails because the plugin
// process died, it runs fn once more on a fresh process.
func (in *Instance) call(ctx context.Context, fn func(sdk.Transport) error) error {
	t, err := in.ensure(ctx)
	if err != nil {
		return err
	}
	err = fn(t)
	if err == nil || !in.died(ctx, err) {
		return err
	}
	in.logger.Warn("plugin process died during a call; starting it again and retrying once", "error", err)
	if t, err = in.ensure(ctx); err != nil {
		return err
	}
	return fn(t)
}

// died reports whether err came from the plugin process going away, waiting
// briefly for go-plugin to notice the exit.
func (in *Instance) died(ctx context.Context, err error) bool {
	if code := status.Code(err); (code != codes.Unavailable && code != codes.Canceled) || ctx.Err() != nil {
		return false
	}
	in.mu.Lock()
	c := in.client
	in.mu.Unlock()
	if c == nil {
		return true
	}
	deadline := time.NewTimer(exitWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !c.Exited() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}

// Describe returns the plugin's description.
func (in *Instance) Describe(ctx context.Context) (*sdk.Description, error) {
	var d *sdk.Description
	err := in.call(ctx, func(t sdk.Transport) (err error) {
		d, err = t.Describe(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := d.Schema.Validate(); err != nil {
		return nil, fmt.Errorf("plugin %s describes a bad schema: %w", in.spec.Plugin, err)
	}
	return d, nil
}

// Configure hands the plugin its settings. Settings without error
// diagnostics are remembered and replayed when the plugin restarts.
//
// A credential the plugin replaces (a rotated refresh token) goes to
// cfg.SaveCredential and also replaces cfg.Credential in the remembered
// settings, so a restarted plugin gets the new one.
func (in *Instance) Configure(ctx context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	save := cfg.SaveCredential
	cfg.SaveCredential = func(value string) {
		in.mu.Lock()
		if in.configured != nil {
			in.configured.Credential = value
		}
		in.mu.Unlock()
		if save != nil {
			save(value)
		}
	}
	var diags sdk.Diagnostics
	err := in.call(ctx, func(t sdk.Transport) (err error) {
		diags, err = t.Configure(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	if diags.HasErrors() {
		in.configured = nil
	} else {
		c := cfg
		in.configured = &c
	}
	in.mu.Unlock()
	return diags, nil
}

// LoginConfig asks the plugin how to run `tocsin oauth login`; it returns
// sdk.ErrNoLogin for a plugin without interactive login.
func (in *Instance) LoginConfig(ctx context.Context) (*sdk.LoginConfig, error) {
	var lc *sdk.LoginConfig
	err := in.call(ctx, func(t sdk.Transport) (err error) {
		a, ok := t.(sdk.Authorizer)
		if !ok {
			return sdk.ErrNoLogin
		}
		lc, err = a.LoginConfig(ctx)
		return err
	})
	return lc, err
}

// Check asks the plugin to prove it can reach its provider.
func (in *Instance) Check(ctx context.Context) error {
	return in.call(ctx, func(t sdk.Transport) error { return t.Check(ctx) })
}

// Send hands msgs to the plugin. Errors other than a *sdk.DeliveryError
// (the process could not be started, the call broke) are wrapped as
// temporary delivery errors: they may pass.
func (in *Instance) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	var results []sdk.Result
	err := in.call(ctx, func(t sdk.Transport) (err error) {
		results, err = t.Send(ctx, msgs)
		return err
	})
	if err != nil {
		var de *sdk.DeliveryError
		if !errors.As(err, &de) {
			var ce *ChecksumError
			if errors.As(err, &ce) || errors.Is(err, ErrNotFound) {
				return nil, sdk.PermanentError(err, "", "Install the plugin, or fix the transport's plugin, path or sha256 setting.")
			}
			return nil, sdk.TemporaryError(err, "", "")
		}
		return nil, err
	}
	return results, nil
}
