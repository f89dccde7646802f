package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// fakeTimers is the agent's timer in these tests: every wait asked for
// is recorded, and fires only when the test says so.
type fakeTimers struct {
	asked chan time.Duration
	mu    sync.Mutex
	chans []chan time.Time
}

func newFakeTimers() *fakeTimers { return &fakeTimers{asked: make(chan time.Duration, 64)} }

func (f *fakeTimers) after(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.mu.Lock()
	f.chans = append(f.chans, c)
	f.mu.Unlock()
	f.asked <- d
	return c
}

// next returns the next wait asked for.
func (f *fakeTimers) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-f.asked:
		return d
	case <-time.After(10 * time.Second): // a hang guard, not a timing
		t.Fatal("no timer was asked for")
		return 0
	}
}

// fire fires the last timer asked for.
func (f *fakeTimers) fire() {
	f.mu.Lock()
	c := f.chans[len(f.chans)-1]
	f.mu.Unlock()
	c <- time.Time{}
}

// fakeStarter starts fake plugins: it counts starts and stops by
// transport, and fails a transport while broken says so.
type fakeStarter struct {
	mu      sync.Mutex
	broken  map[string]bool
	plugins map[string]sdk.Transport // what each start of the transport gets
	starts  map[string]int
	stops   map[string]int
	tried   chan string // every start, by transport name
}

func newFakeStarter() *fakeStarter {
	return &fakeStarter{broken: map[string]bool{}, plugins: map[string]sdk.Transport{}, starts: map[string]int{}, stops: map[string]int{}, tried: make(chan string, 64)}
}

func (f *fakeStarter) start(_ context.Context, _ *config.Config, tc *config.Transport) (*startedTransport, hcl.Diagnostics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tried <- tc.Name
	if f.broken[tc.Name] {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin did not start", Detail: fmt.Sprintf("Transport %q: start plugin fake: exit status 3", tc.Name), Subject: tc.PluginRange.Ptr()}}
	}
	f.starts[tc.Name]++
	p := f.plugins[tc.Name]
	if p == nil {
		p = accepts("250 ok")
	}
	name := tc.Name
	return &startedTransport{
		t: &Transport{Config: tc, Plugin: p, Description: &sdk.Description{Name: "fake", Batch: true}},
		stop: func() {
			f.mu.Lock()
			f.stops[name]++
			f.mu.Unlock()
		},
	}, nil
}

func (f *fakeStarter) count(m map[string]int, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m[name]
}

func (f *fakeStarter) setBroken(name string, b bool) {
	f.mu.Lock()
	f.broken[name] = b
	f.mu.Unlock()
}

const twoTransports = `
agent {
  node     = "node-1"
  data_dir = "data"
  listen   = "127.0.0.1:0"
}
transport "good" {
  plugin = "smtp-basic"
  from   = "good@example.com"
}
transport "broken" {
  plugin = "smtp-basic"
  from   = "%FROM%"
}
contact "good" {
  email = ["a@example.com"]
  via   = [transport.good]
}
contact "bad" {
  email = ["b@example.com"]
  via   = [transport.broken]
}
`

// writeConfig writes twoTransports, with from as broken's sender, to
// path and loads it.
func writeConfig(t *testing.T, path, from string) *config.Config {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(twoTransports, "%FROM%", from)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatalf("load: %s", diags.Error())
	}
	return cfg
}

// startFake starts an agent on cfg whose plugins come from fs and whose
// timers are ft, and stops it at the end of the test.
func startFake(t *testing.T, cfg *config.Config, fs *fakeStarter, ft *fakeTimers) (*Agent, hcl.Diagnostics) {
	t.Helper()
	a, diags := start(context.Background(), &Agent{cfg: cfg, logger: hclog.NewNullLogger(), now: func() time.Time { return testNow }, starter: fs.start, afterFunc: ft.after})
	if a != nil {
		t.Cleanup(func() {
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	return a, diags
}

// TestAgent_BrokenTransport: an agent with one good and one broken
// transport runs with the good one, says the broken one failed (health,
// status, metrics, the outbox fact), keeps trying to start it with
// backoff, and uses it once it starts.
func TestAgent_BrokenTransport(t *testing.T) {
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "agent.hcl"), "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	fs.setBroken("broken", true)
	a, diags := startFake(t, cfg, fs, ft)
	if a == nil {
		t.Fatalf("the agent did not start: %s", diags.Error())
	}
	if diags.HasErrors() || len(diags) != 1 || !strings.Contains(diags[0].Summary, "runs without this transport") {
		t.Errorf("diagnostics: %s", diags.Error())
	}
	if h := a.health(); h.Status != "degraded" || len(h.Transports) != 2 {
		t.Errorf("health = %+v", h)
	}
	st := a.deliveryStatus().Transports
	if b := st["broken"]; b.State != TransportFailed || !strings.Contains(b.Error, "exit status 3") || !strings.Contains(b.Error, "agent.hcl:12") || !strings.Contains(b.Remedy, "tocsin validate -config ") || !b.NextStart.Equal(testNow.Add(restartInitial)) {
		t.Errorf("status of broken = %+v", b)
	}
	if g := st["good"]; g.State != TransportUp || g.Error != "" {
		t.Errorf("status of good = %+v", g)
	}
	if up := a.transportsUp(); !up["good"] || up["broken"] {
		t.Errorf("up = %v", up)
	}
	if f := a.watch.Fact().Failing["broken"]; f.Failures != 1 || !strings.Contains(f.LastError, "exit status 3") {
		t.Errorf("outbox fact: broken = %+v", f)
	}
	if _, _, err := a.sendNow(context.Background(), contactEntry(t, a, "good", outbox.Mail{Subject: "s"})); err != nil {
		t.Errorf("notify through good: %v", err)
	}
	_, _, err := a.sendNow(context.Background(), contactEntry(t, a, "bad", outbox.Mail{Subject: "s"}))
	var de *sdk.DeliveryError
	if !errors.As(err, &de) || !de.Temporary() || de.Remedy == "" || !strings.Contains(err.Error(), "not running") {
		t.Errorf("notify through broken: %v", err)
	}

	// Backoff: 2s, then 4s, while it keeps failing.
	<-fs.tried
	<-fs.tried
	if d := ft.next(t); d != restartInitial {
		t.Errorf("first restart after %v, want %v", d, restartInitial)
	}
	ft.fire()
	if name := <-fs.tried; name != "broken" {
		t.Errorf("restarted %q", name)
	}
	if d := ft.next(t); d != 2*restartInitial {
		t.Errorf("second restart after %v, want %v", d, 2*restartInitial)
	}
	if f := a.watch.Fact().Failing["broken"]; f.Failures != 2 {
		t.Errorf("outbox fact after two failed starts: %+v", f)
	}
	fs.setBroken("broken", false)
	ft.fire()
	<-fs.tried
	waitFor(t, "broken up", func() bool { return a.health().Status == "ok" })
	if b := a.deliveryStatus().Transports["broken"]; b.State != TransportUp || b.Error != "" || b.Failing != nil {
		t.Errorf("status of broken once started = %+v", b)
	}
	if _, ok := a.watch.Fact().Failing["broken"]; ok {
		t.Error("the outbox fact still says broken is failing")
	}
	if _, _, err := a.sendNow(context.Background(), contactEntry(t, a, "bad", outbox.Mail{Subject: "s"})); err != nil {
		t.Errorf("notify through broken once started: %v", err)
	}
}

// waitFor polls cond, which a goroutine of the agent makes true soon; it
// is a hang guard, not a timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAgent_NoTransportStarts: when no transport starts at all, the agent
// does not start.
func TestAgent_NoTransportStarts(t *testing.T) {
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "agent.hcl"), "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	fs.setBroken("broken", true)
	fs.setBroken("good", true)
	a, diags := startFake(t, cfg, fs, ft)
	if a != nil || !diags.HasErrors() || diags[len(diags)-1].Summary != "No transport started" {
		t.Errorf("agent %v, diagnostics %v", a, diags)
	}
}

// TestAgent_StopEndsRestarts: Stop ends a failed transport's restart loop.
func TestAgent_StopEndsRestarts(t *testing.T) {
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "agent.hcl"), "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	fs.setBroken("broken", true)
	a, _ := start(context.Background(), &Agent{cfg: cfg, logger: hclog.NewNullLogger(), now: func() time.Time { return testNow }, starter: fs.start, afterFunc: ft.after})
	ft.next(t)
	lt := a.current().transports["broken"]
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, done := lt.retire()
	select {
	case <-done:
	default:
		t.Error("the restart loop runs after Stop")
	}
	if n := fs.count(fs.stops, "good"); n != 1 {
		t.Errorf("good's plugin stopped %d times", n)
	}
}

// blockingTransport accepts every message, once the test lets the send
// through.
type blockingTransport struct {
	fakeTransport
	entered chan struct{}
	release chan struct{}
}

func newBlocking() *blockingTransport {
	b := &blockingTransport{entered: make(chan struct{}, 8), release: make(chan struct{})}
	b.send = accepts("250 ok").send
	return b
}

func (b *blockingTransport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.fakeTransport.Send(ctx, msgs)
}

// TestAgent_ReloadKeepsUnchangedTransports is finding 6 of issue 11: a
// reload keeps the plugin of a transport whose settings did not change,
// and a send in flight on it goes on; a transport that changed gets a new
// plugin, and the old one stops only once its send in flight is over.
func TestAgent_ReloadKeepsUnchangedTransports(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.hcl")
	cfg := writeConfig(t, path, "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	blockGood, blockOld := newBlocking(), newBlocking()
	fs.plugins["good"], fs.plugins["broken"] = blockGood, blockOld
	a, diags := startFake(t, cfg, fs, ft)
	if a == nil || len(diags) > 0 {
		t.Fatalf("start: %s", diags.Error())
	}
	dt := dispatchTransports{a}
	send := func(name string) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := dt.Send(context.Background(), name, []*sdk.Message{{ID: "m-" + name}})
			done <- err
		}()
		return done
	}
	goodDone, oldDone := send("good"), send("broken")
	<-blockGood.entered
	<-blockOld.entered

	// broken's sender changes; good's settings do not.
	fs.plugins["broken"] = accepts("250 new")
	if d := a.Reload(context.Background(), writeConfig(t, path, "changed@example.com")); len(d) > 0 {
		t.Fatalf("reload: %s", d.Error())
	}
	if n := fs.count(fs.starts, "good"); n != 1 {
		t.Errorf("good started %d times; an unchanged transport keeps its plugin", n)
	}
	if n := fs.count(fs.starts, "broken"); n != 2 {
		t.Errorf("broken started %d times; a changed one gets a new plugin", n)
	}
	if n := fs.count(fs.stops, "broken"); n != 0 {
		t.Errorf("the old plugin of broken stopped with a send in flight")
	}
	ft.next(t) // the bound of the old plugin's drain
	// New sends go to the new plugin meanwhile.
	if res, err := dt.Send(context.Background(), "broken", []*sdk.Message{{ID: "n"}}); err != nil || res[0].Receipt != "250 new" {
		t.Errorf("a send after the reload: %v %v", res, err)
	}
	close(blockOld.release)
	close(blockGood.release)
	if err := <-oldDone; err != nil {
		t.Errorf("the send in flight on the old plugin: %v", err)
	}
	if err := <-goodDone; err != nil {
		t.Errorf("the send in flight on the kept plugin: %v", err)
	}
	a.retiring.Wait()
	if n := fs.count(fs.stops, "broken"); n != 1 {
		t.Errorf("the old plugin of broken stopped %d times once its send was over", n)
	}
	if n := fs.count(fs.stops, "good"); n != 0 {
		t.Errorf("the kept plugin stopped")
	}
	if got := a.current().transports["broken"].config().From; got != "changed@example.com" {
		t.Errorf("broken's from after the reload = %q", got)
	}
}

// TestAgent_ReloadDrainIsBounded: a send in flight on a replaced plugin
// that does not finish within drain_timeout is cut short: the plugin
// stops, and the send's error says why and what happens next.
func TestAgent_ReloadDrainIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.hcl")
	cfg := writeConfig(t, path, "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	stuck := newBlocking()
	fs.plugins["broken"] = stuck
	a, _ := startFake(t, cfg, fs, ft)
	done := make(chan error, 1)
	go func() {
		_, err := dispatchTransports{a}.Send(context.Background(), "broken", []*sdk.Message{{ID: "m"}})
		done <- err
	}()
	<-stuck.entered
	if d := a.Reload(context.Background(), writeConfig(t, path, "changed@example.com")); len(d) > 0 {
		t.Fatalf("reload: %s", d.Error())
	}
	if d := ft.next(t); d != config.DefaultDelivery().DrainTimeout {
		t.Errorf("the drain is bounded by %v, want drain_timeout", d)
	}
	ft.fire()
	a.retiring.Wait()
	if n := fs.count(fs.stops, "broken"); n != 1 {
		t.Errorf("the old plugin stopped %d times after the bound", n)
	}
	// The fake plugin does not die when stopped; a real one fails the send
	// without a remedy, which the agent supplies.
	_, err := withRemedies(nil, sdk.TemporaryError(errors.New("plugin host is closed"), "", ""), true)
	if de := sdk.AsDeliveryError(err); de.Remedy != remedyReplaced {
		t.Errorf("remedy of a send cut short: %q", de.Remedy)
	}
	close(stuck.release)
	<-done
}

// TestAgent_ReloadFixesFailedTransport: a reload gives a failed transport
// its new settings and tries them at once; a reload whose new transport
// fails while the running one works is refused.
func TestAgent_ReloadFixesFailedTransport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.hcl")
	cfg := writeConfig(t, path, "broken@example.com")
	fs, ft := newFakeStarter(), newFakeTimers()
	fs.setBroken("broken", true)
	a, _ := startFake(t, cfg, fs, ft)
	ft.next(t)
	old := a.current().transports["broken"]

	// Still broken with the new settings: applied, with warnings.
	d := a.Reload(context.Background(), writeConfig(t, path, "second@example.com"))
	if d.HasErrors() || len(d) == 0 {
		t.Errorf("reload of a failed transport that still fails: %s", d.Error())
	}
	a.retiring.Wait()
	if _, done := old.retire(); !isClosed(done) {
		t.Error("the old restart loop still runs")
	}
	ft.next(t) // the new restart loop
	if got := a.current().transports["broken"].config().From; got != "second@example.com" {
		t.Errorf("from = %q", got)
	}

	// Fixed: up at once.
	fs.setBroken("broken", false)
	if d := a.Reload(context.Background(), writeConfig(t, path, "third@example.com")); len(d) > 0 {
		t.Errorf("reload: %s", d.Error())
	}
	if h := a.health(); h.Status != "ok" {
		t.Errorf("health after the fixing reload: %+v", h)
	}

	// Broken again in a reload while it runs: refused, the old keeps running.
	fs.setBroken("broken", true)
	d = a.Reload(context.Background(), writeConfig(t, path, "fourth@example.com"))
	if !d.HasErrors() {
		t.Error("a reload whose changed transport fails was applied")
	}
	if got := a.current().transports["broken"].config().From; got != "third@example.com" || a.health().Status != "ok" {
		t.Errorf("after the refused reload: from %q, health %+v", got, a.health())
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestWithRemedies: every error a send returns carries a remedy; a
// plugin's own remedy is kept.
func TestWithRemedies(t *testing.T) {
	own := sdk.PermanentError(errors.New("535 auth"), "535", "Fix the password.")
	res, err := withRemedies([]sdk.Result{{MessageID: "a", Err: errors.New("bare")}, {MessageID: "b", Err: own}, {MessageID: "c"}}, nil, false)
	if err != nil || sdk.AsDeliveryError(res[0].Err).Remedy != remedyPlugin || sdk.AsDeliveryError(res[1].Err).Remedy != "Fix the password." || res[2].Err != nil {
		t.Errorf("results %+v, %v", res, err)
	}
	if _, err := withRemedies(nil, sdk.TemporaryError(errors.New("plugin host is closed"), "", ""), false); sdk.AsDeliveryError(err).Remedy != remedyPlugin || !sdk.IsTemporary(err) {
		t.Errorf("batch error %v", err)
	}
}
