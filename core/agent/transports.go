package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Transport is a configured transport: its block, its plugin process and
// what the plugin said about itself.
type Transport struct {
	Config *config.Transport
	// Plugin sends; in the agent it is a *pluginhost.Instance, which
	// restarts the plugin process when it dies.
	Plugin      sdk.Transport
	Description *sdk.Description

	// credential is what the plugin was configured with from the token
	// store, kept current when the plugin rotates it; nil without a store.
	credential *atomic.Pointer[string]
	// lifetime is what the plugin said of its credential's lifetime when
	// it was configured (sdk.CredentialReporter); nil when it said
	// nothing.
	lifetime *sdk.CredentialLifetime
	// refresh is how often the plugin asked for its firing alerts to be
	// sent again when it was configured (sdk.AlertRefresher); 0 for never.
	refresh time.Duration
}

// Transports holds the configured transports by name.
type Transports map[string]*Transport

// Names returns the transport names, sorted.
func (ts Transports) Names() []string {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StartTimeout bounds how long a transport's plugin may take to start,
// describe itself and take its settings. A plugin that takes longer is
// stopped and counts as failed to start.
const StartTimeout = 30 * time.Second

// PrepareTransports starts the plugin of each transport in cfg (or only
// those named in only, when it is not empty), decodes its config block
// against the schema the plugin describes and configures it, each within
// StartTimeout and all at once. Everything that is wrong comes back as
// diagnostics with the range of the offending setting, in the order of
// the configuration; a transport with errors is left out of the result.
//
// creds (nil for none) supplies what `tocsin oauth login` stored for a
// transport, and receives the credentials plugins rotate.
func PrepareTransports(ctx context.Context, cfg *config.Config, host *pluginhost.Host, logger hclog.Logger, creds Credentials, only ...string) (Transports, hcl.Diagnostics) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var chosen []*config.Transport
	for _, tc := range cfg.Transports {
		if len(only) == 0 || slices.Contains(only, tc.Name) {
			chosen = append(chosen, tc)
		}
	}
	ts := make([]*Transport, len(chosen))
	ds := make([]hcl.Diagnostics, len(chosen))
	var wg sync.WaitGroup
	for i, tc := range chosen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts[i], ds[i] = prepare(ctx, tc, host, logger, creds, StartTimeout)
		}()
	}
	wg.Wait()
	var diags hcl.Diagnostics
	out := Transports{}
	for i, tc := range chosen {
		diags = append(diags, ds[i]...)
		if d := shadowWarning(tc, host); d != nil {
			diags = append(diags, d)
		}
		if ts[i] != nil {
			out[tc.Name] = ts[i]
		}
	}
	return out, diags
}

// prepare starts tc's plugin in host and configures it, within timeout.
func prepare(ctx context.Context, tc *config.Transport, host *pluginhost.Host, logger hclog.Logger, creds Credentials, timeout time.Duration) (*Transport, hcl.Diagnostics) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	in := host.Instance(pluginhost.Spec{Name: tc.Name, Plugin: tc.Plugin, Path: tc.Path, SHA256: tc.SHA256})
	late := func(err error) bool {
		return err != nil && parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
	}
	desc, err := in.Describe(ctx)
	if err != nil {
		in.Kill()
		if late(err) {
			return nil, hcl.Diagnostics{timeoutDiagnostic(tc, "start", timeout, err)}
		}
		return nil, hcl.Diagnostics{pluginDiagnostic(tc, err)}
	}
	if desc.Name != tc.Plugin && tc.Path == "" {
		logger.Warn("plugin reports another name than its file", "transport", tc.Name, "file", tc.Plugin, "reported", desc.Name)
	}
	diags := tc.DecodeSettings(desc.Schema)
	if diags.HasErrors() {
		in.Kill()
		return nil, diags
	}
	pc := sdk.Config{Transport: tc.Name, From: tc.From, Settings: tc.Settings}
	t := &Transport{Config: tc, Plugin: in, Description: desc, credential: &atomic.Pointer[string]{}}
	if creds != nil {
		cred, err := creds.Credential(tc.Name)
		if err != nil {
			// The transport still starts: its plugin says what a missing
			// login means, and other transports are not held up.
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Stored login unreadable",
				Detail:   fmt.Sprintf("The token stored for transport %q by tocsin oauth login cannot be read: %v.", tc.Name, err),
				Subject:  tc.DeclRange.Ptr(),
			})
		}
		pc.Credential = cred
		t.credential.Store(&cred)
		name := tc.Name
		pc.SaveCredential = func(value string) {
			t.credential.Store(&value)
			if err := creds.SaveCredential(name, value); err != nil {
				logger.Error("cannot store the rotated refresh token; the next restart uses the old one, which the provider may refuse", "transport", name, "error", err)
				return
			}
			logger.Info("stored the rotated refresh token", "transport", name)
		}
	}
	pdiags, err := in.Configure(ctx, pc)
	if err != nil {
		in.Kill()
		if late(err) {
			return nil, append(diags, timeoutDiagnostic(tc, "configure", timeout, err))
		}
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Plugin failed to configure",
			Detail:   tc.Scrub(fmt.Sprintf("The %s plugin of transport %q failed: %v", tc.Plugin, tc.Name, err)),
			Subject:  tc.PluginRange.Ptr(),
		})
	}
	diags = append(diags, tc.PluginDiagnostics(tc.Plugin, pdiags)...)
	if diags.HasErrors() {
		in.Kill()
		return nil, diags
	}
	t.lifetime = reportedLifetime(ctx, in, tc, logger)
	t.refresh = reportedRefresh(ctx, in)
	return t, diags
}

// timeoutDiagnostic says that tc's plugin did not answer in time.
func timeoutDiagnostic(tc *config.Transport, what string, timeout time.Duration, err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Plugin did not answer",
		Detail: tc.Scrub(fmt.Sprintf("The %s plugin of transport %q did not %s within %s (%v), so it was stopped. "+
			"It hangs, or waits for something it cannot reach: look at what it logged, try it alone with tocsin test-send -transport %s, and update or replace the plugin.",
			tc.Plugin, tc.Name, what, timeout, err, tc.Name)),
		Subject: tc.PluginRange.Ptr(),
	}
}

// NewPluginHost returns a plugin host that finds plugins in a's
// local_plugin_dir, then in its plugin_dir.
func NewPluginHost(logger hclog.Logger, a config.Agent) *pluginhost.Host {
	return pluginhost.New(logger, a.PluginDir, pluginhost.WithLocalDir(a.LocalPluginDir))
}

// shadowWarning is the warning for a transport tc that runs a plugin of
// local_plugin_dir hiding the bundled one of that name, or nil when it
// does not, or pins which file it runs (path or sha256).
func shadowWarning(tc *config.Transport, host *pluginhost.Host) *hcl.Diagnostic {
	bundled := host.Shadowed(tc.Plugin)
	if bundled == "" || tc.Path != "" || tc.SHA256 != "" {
		return nil
	}
	local, _ := host.Find(tc.Plugin, "")
	sum, err := pluginhost.Checksum(local)
	if err != nil {
		sum = "<its sha256, which tocsin plugins prints>"
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Local plugin shadows the bundled one",
		Detail: fmt.Sprintf("Transport %q runs %s, not the bundled %s of the same name: a plugin in local_plugin_dir wins. If it is not meant to replace the bundled plugin, remove it; if it is, pin it with sha256 = %q in the transport block.",
			tc.Name, local, bundled, sum),
		Subject: tc.PluginRange.Ptr(),
	}
}

// pluginDiagnostic explains why a transport's plugin could not start.
func pluginDiagnostic(tc *config.Transport, err error) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Subject: tc.PluginRange.Ptr()}
	var ce *pluginhost.ChecksumError
	switch {
	case errors.Is(err, pluginhost.ErrNotFound):
		d.Summary = "Unknown plugin"
		d.Detail = fmt.Sprintf("Transport %q names plugin %q, which is not installed: %v. Check the name, set plugin_dir in the agent block, or give the plugin's path.", tc.Name, tc.Plugin, strings.TrimPrefix(err.Error(), pluginhost.ErrNotFound.Error()+": "))
	case errors.As(err, &ce):
		d.Summary = "Plugin checksum mismatch"
		d.Detail = fmt.Sprintf("Transport %q: %v. The plugin was not started.", tc.Name, err)
	default:
		d.Summary = "Plugin did not start"
		d.Detail = tc.Scrub(fmt.Sprintf("Transport %q: %v", tc.Name, err))
	}
	return d
}

// Restarts of a transport that failed to start: after restartInitial,
// doubling up to restartMax.
const (
	restartInitial = 2 * time.Second
	restartMax     = 5 * time.Minute
)

// errReplaced is the error of a send that reached a transport a reload
// had just replaced: the caller looks the transport up again.
var errReplaced = errors.New("transport replaced by a reload")

// remedyReplaced is the remedy of a send that a reload cut short.
const remedyReplaced = "A reload replaced the transport while this send was in flight and it did not finish within drain_timeout, so its plugin was stopped; the notification is sent again through the new one, with the same Message-ID."

// remedyPlugin is the remedy of a plugin's error that came without one.
const remedyPlugin = "The transport's plugin failed without saying what to do; the notification is retried. If it keeps failing, try the transport alone with tocsin test-send -transport NAME and read the plugin's log lines."

// liveTransport is one transport of the running agent: up (its plugin
// took its settings) or failed (its plugin did not start or refused its
// settings, and the agent keeps trying to start it). A reload keeps it,
// plugin process and all, when its settings did not change.
type liveTransport struct {
	name string

	mu       sync.Mutex
	cfg      *config.Transport
	from     sdk.Address   // cfg's from, parsed with cfg
	fromErr  error         // why cfg's from does not parse
	t        *Transport    // nil while failed
	stopT    func()        // stops t's plugin process
	fail     *startFailure // nil while up
	inflight int           // sends holding t
	retired  bool          // a reload replaced it, or the agent stops
	idle     chan struct{} // closed once retired with no send in flight

	stopLoop context.CancelFunc // ends the restart loop; nil when none runs
	loopDone chan struct{}      // closed when the restart loop returned
}

// startFailure is why a transport is not up, and when it is tried again.
type startFailure struct {
	err      string
	remedy   string
	since    time.Time // the first failed start
	attempts int
	next     time.Time
}

// transportSet is the running agent's transports, by name.
type transportSet map[string]*liveTransport

// upTransports makes a set of transports that are up, each stopped by
// nothing (tests, and the agent's tests, own their plugins).
func upTransports(ts Transports) transportSet {
	out := transportSet{}
	for name, t := range ts {
		out[name] = newLive(name, t.Config, t, func() {})
	}
	return out
}

func newLive(name string, tc *config.Transport, t *Transport, stop func()) *liveTransport {
	lt := &liveTransport{name: name, cfg: tc, t: t, stopT: stop, idle: make(chan struct{})}
	lt.from, lt.fromErr = sender(name, tc)
	return lt
}

// sender parses tc's from setting, once per block: a (re)load makes a new
// one.
func sender(name string, tc *config.Transport) (sdk.Address, error) {
	if tc == nil {
		return sdk.Address{}, fmt.Errorf("transport %s: no transport block", name)
	}
	return notify.Sender(tc.Name, tc.From)
}

// up returns the transports that are up.
func (s transportSet) up() Transports {
	out := Transports{}
	for name, lt := range s {
		if t, _ := lt.current(); t != nil {
			out[name] = t
		}
	}
	return out
}

// names returns every transport's name, sorted.
func (s transportSet) names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// current returns the transport when it is up, else why it is not.
func (lt *liveTransport) current() (*Transport, *startFailure) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.currentLocked()
}

func (lt *liveTransport) currentLocked() (*Transport, *startFailure) {
	switch {
	case lt.t != nil:
		return lt.t, nil
	case lt.fail == nil:
		return nil, &startFailure{err: "not started yet"}
	}
	f := *lt.fail
	return nil, &f
}

// config returns the transport's block.
func (lt *liveTransport) config() *config.Transport {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.cfg
}

// sender returns the address the transport's messages come from, as its
// block says (a transport that failed to start has one too).
func (lt *liveTransport) sender() (sdk.Address, error) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.from, lt.fromErr
}

// acquire returns the transport for a send, which must call release when
// it is done. A failed transport's error is temporary and carries its
// remedy; a retired one's is errReplaced.
func (lt *liveTransport) acquire() (*Transport, func(), error) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	switch {
	case lt.retired:
		return nil, nil, errReplaced
	case lt.t == nil:
		_, f := lt.currentLocked()
		return nil, nil, f.deliveryError(lt.name)
	}
	lt.inflight++
	var once sync.Once
	return lt.t, func() { once.Do(lt.release) }, nil
}

func (lt *liveTransport) release() {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.inflight--
	if lt.retired && lt.inflight == 0 {
		closeOnce(lt.idle)
	}
}

// isRetired reports whether a reload replaced the transport.
func (lt *liveTransport) isRetired() bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.retired
}

// retire takes no new sends and ends the restart loop. It returns a
// channel closed once no send is in flight, and a channel closed when the
// restart loop has returned.
func (lt *liveTransport) retire() (idle, loopDone <-chan struct{}) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.retired = true
	if lt.inflight == 0 {
		closeOnce(lt.idle)
	}
	if lt.stopLoop != nil {
		lt.stopLoop()
	}
	done := lt.loopDone
	if done == nil {
		d := make(chan struct{})
		close(d)
		done = d
	}
	return lt.idle, done
}

// stop stops the transport's plugin process, if it runs.
func (lt *liveTransport) stop() {
	lt.mu.Lock()
	stop := lt.stopT
	lt.stopT = nil
	lt.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// started makes the transport up with t, unless it was retired meanwhile
// (then it reports false and the caller stops t).
func (lt *liveTransport) started(t *Transport, stop func()) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.retired {
		return false
	}
	lt.t, lt.stopT, lt.fail = t, stop, nil
	return true
}

// failedStart records a failed start at now, and when the next one is.
func (lt *liveTransport) failedStart(err, remedy string, now time.Time) *startFailure {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	f := lt.fail
	if f == nil {
		f = &startFailure{since: now}
		lt.fail = f
	}
	f.attempts++
	f.err, f.remedy = err, remedy
	f.next = now.Add(restartDelay(f.attempts))
	c := *f
	return &c
}

// keep makes the transport, which a reload keeps, use the new block tc.
func (lt *liveTransport) keep(tc *config.Transport) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.cfg = tc
	lt.from, lt.fromErr = sender(lt.name, tc)
	if lt.t != nil {
		t := *lt.t
		t.Config = tc
		lt.t = &t
	}
}

// restartDelay is the wait after the n-th failed start.
func restartDelay(n int) time.Duration {
	d := restartInitial
	for i := 1; i < n && d < restartMax; i++ {
		d *= 2
	}
	return min(d, restartMax)
}

// deliveryError is what a send through a transport that failed to start
// gets: temporary, so the entry waits for the transport (or falls back
// along via after max_age), with the start's error and remedy.
func (f *startFailure) deliveryError(name string) *sdk.DeliveryError {
	return sdk.TemporaryError(fmt.Errorf("transport %s is not running: it failed to start: %s", name, f.err), "", f.remedy)
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// startedTransport is what a start made: the transport, and how to stop
// its plugin process.
type startedTransport struct {
	t    *Transport
	stop func()
}

// starter starts tc's plugin (found with cfg's plugin_dir) and configures
// it, within a deadline.
type starter func(ctx context.Context, cfg *config.Config, tc *config.Transport) (*startedTransport, hcl.Diagnostics)

// startPlugin is the agent's starter: each transport has a plugin host of
// its own, so that a reload can keep one transport's process and stop
// another's.
func (a *Agent) startPlugin(ctx context.Context, cfg *config.Config, tc *config.Transport) (*startedTransport, hcl.Diagnostics) {
	host := NewPluginHost(a.logger, cfg.Agent)
	if d := shadowWarning(tc, host); d != nil {
		a.logger.Warn(d.Summary+": "+d.Detail, "transport", tc.Name, "at", d.Subject.String())
	}
	t, diags := prepare(ctx, tc, host, a.logger, countedCredentials{NewTokenStore(cfg.Agent), a.metrics}, a.startTimeout())
	if t == nil {
		host.Close()
		return nil, diags
	}
	return &startedTransport{t: t, stop: host.Close}, diags
}

// startTimeout is the bound of one start.
func (a *Agent) startTimeout() time.Duration {
	if a.startLimit > 0 {
		return a.startLimit
	}
	return StartTimeout
}

// failure is a failed start's diagnostics as an error and a remedy for
// the log, /v1/status and the sends that wait for the transport.
func (a *Agent) failure(cfg *config.Config, tc *config.Transport, diags hcl.Diagnostics) (string, string) {
	var msgs []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		m := d.Summary
		if d.Detail != "" {
			m += ": " + d.Detail
		}
		if d.Subject != nil {
			m = fmt.Sprintf("%s:%d: %s", d.Subject.Filename, d.Subject.Start.Line, m)
		}
		// Scrubbed again: a diagnostic made elsewhere may quote what
		// the plugin wrote.
		msgs = append(msgs, strings.Join(strings.Fields(tc.Scrub(m)), " "))
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "the plugin did not start")
	}
	where := ""
	if p := configPath(cfg); p != "" {
		where = " -config " + p
	}
	remedy := fmt.Sprintf("Fix what the error says (tocsin validate%s shows it at its line, tocsin test-send%s -transport %s tries the transport alone), then reload with SIGHUP. Meanwhile the agent tries to start the transport again, with backoff, and its notifications wait in the outbox, or go to the next transport of the contact's via list after max_age.", where, where, tc.Name)
	return strings.Join(msgs, "; "), remedy
}

// startTransports starts the transports tcs of cfg at once, each bounded
// by the start timeout. A transport that fails is in the set, failed, and
// the caller starts its restart loop with superviseFailed. The
// diagnostics come back by transport name.
func (a *Agent) startTransports(ctx context.Context, cfg *config.Config, tcs []*config.Transport) (transportSet, map[string]hcl.Diagnostics) {
	sts := make([]*startedTransport, len(tcs))
	ds := make([]hcl.Diagnostics, len(tcs))
	var wg sync.WaitGroup
	for i, tc := range tcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sts[i], ds[i] = a.start(ctx, cfg, tc)
		}()
	}
	wg.Wait()
	diags := map[string]hcl.Diagnostics{}
	set := transportSet{}
	for i, tc := range tcs {
		diags[tc.Name] = ds[i]
		if st := sts[i]; st != nil {
			set[tc.Name] = newLive(tc.Name, tc, st.t, st.stop)
			continue
		}
		lt := newLive(tc.Name, tc, nil, nil)
		msg, remedy := a.failure(cfg, tc, ds[i])
		lt.failedStart(msg, remedy, a.now())
		set[tc.Name] = lt
	}
	return set, diags
}

// asWarnings returns diags with every error made a warning that says the
// agent runs without the transport for now.
func asWarnings(diags hcl.Diagnostics) hcl.Diagnostics {
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		if d.Severity == hcl.DiagError {
			w := *d
			w.Severity = hcl.DiagWarning
			w.Summary += " (the agent runs without this transport for now, and tries again)"
			d = &w
		}
		out[i] = d
	}
	return out
}

// announceFailed logs lt's failed start and counts it in the outbox fact.
func (a *Agent) announceFailed(lt *liveTransport, f *startFailure) {
	a.logger.Error("transport failed to start; its notifications wait in the outbox, and the agent tries again",
		"transport", lt.name, "attempt", f.attempts, "next", f.next.UTC().Format(time.RFC3339), "error", f.err, "remedy", f.remedy)
	if a.watch != nil {
		a.watch.Failed(lt.name, f.deliveryError(lt.name))
	}
}

// superviseStart starts lt's restart loop, owned by lt (retire ends it):
// until lt is up, it waits for the next attempt, then starts the plugin
// with cfg.
func (a *Agent) superviseStart(lt *liveTransport, cfg *config.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lt.mu.Lock()
	if lt.retired || lt.t != nil {
		lt.mu.Unlock()
		cancel()
		return
	}
	lt.stopLoop, lt.loopDone = cancel, done
	tc := lt.cfg
	lt.mu.Unlock()
	go func() {
		defer close(done)
		defer cancel()
		for {
			_, f := lt.current()
			if f == nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-a.after(f.next.Sub(a.now())):
			}
			st, diags := a.start(ctx, cfg, tc)
			if ctx.Err() != nil {
				if st != nil {
					st.stop()
				}
				return
			}
			if st != nil {
				if !lt.started(st.t, st.stop) {
					st.stop()
					return
				}
				a.logger.Info("transport started; it sends again", "transport", lt.name, "after_attempts", f.attempts+1)
				if a.watch != nil {
					a.watch.Ended(lt.name)
				}
				if a.dispatcher != nil {
					a.dispatcher.Kick()
				}
				a.testChanged(ctx, cfg)
				return
			}
			msg, remedy := a.failure(cfg, tc, diags)
			a.announceFailed(lt, lt.failedStart(msg, remedy, a.now()))
		}
	}()
}

// start runs the agent's starter.
func (a *Agent) start(ctx context.Context, cfg *config.Config, tc *config.Transport) (*startedTransport, hcl.Diagnostics) {
	if a.starter != nil {
		return a.starter(ctx, cfg, tc)
	}
	return a.startPlugin(ctx, cfg, tc)
}

// after is the agent's timer: time.After unless a test replaced it.
func (a *Agent) after(d time.Duration) <-chan time.Time {
	if a.afterFunc != nil {
		return a.afterFunc(d)
	}
	return time.After(d)
}
