package pluginhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Spec says which plugin serves which transport.
type Spec struct {
	// Name is the transport's name, for logs and errors.
	Name string
	// Plugin is the plugin's name, the NAME in tocsin-plugin-NAME.
	Plugin string
	// Path is an explicit executable; empty means the plugin directory.
	Path string
	// SHA256 is the pinned hex checksum; empty means no pin.
	SHA256 string
}

// startTimeout bounds how long a plugin may take to answer the handshake.
const startTimeout = 20 * time.Second

// configureTimeout bounds the Configure replayed on a restarted plugin
// (a variable for tests).
var configureTimeout = 30 * time.Second

// Instance is one plugin process serving one transport. It implements
// sdk.Transport and is safe for concurrent use.
type Instance struct {
	host   *Host
	spec   Spec
	logger hclog.Logger

	mu         sync.Mutex
	client     *plugin.Client
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

// PID returns the plugin's process id, or 0 when it is not running.
func (in *Instance) PID() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.client == nil || in.client.Exited() {
		return 0
	}
	if rc := in.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Starts returns how often the plugin process was started.
func (in *Instance) Starts() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.starts
}

// Kill stops the plugin process. The next call starts it again.
func (in *Instance) Kill() {
	in.mu.Lock()
	c := in.client
	in.client, in.transport = nil, nil
	in.mu.Unlock()
	if c != nil {
		c.Kill()
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
		in.client.Kill()
		in.client, in.transport = nil, nil
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
			in.client.Kill()
			in.client, in.transport = nil, nil
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
	var secure *plugin.SecureConfig
	if in.spec.SHA256 != "" {
		sum, err := verify(path, in.spec.SHA256)
		if err != nil {
			return err
		}
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
	cmd := exec.Command(path)
	isolate(cmd)
	tail := newStderrTail(4096)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.ClientPlugins(),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     startTimeout,
		Logger:           in.logger,
		Stderr:           tail,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill() // waits for the stderr copy, so the tail is complete
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
		client.Kill()
		return fmt.Errorf("start plugin %s: %w", in.spec.Plugin, err)
	}
	t, ok := raw.(sdk.Transport)
	if !ok {
		client.Kill()
		return fmt.Errorf("start plugin %s: it does not serve a transport", in.spec.Plugin)
	}
	in.client, in.transport, in.path = client, t, path
	in.starts++
	in.logger.Debug("plugin started", "path", path, "protocol", client.NegotiatedVersion())
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
	deadline := time.NewTimer(2 * time.Second)
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
