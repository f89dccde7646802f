package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Subject is the transport under test, as [Run] reaches it: in process
// ([InProcess], what [RunConformance] uses) or as a plugin executable
// started the way the agent starts it (`tocsin plugin check`).
type Subject struct {
	// Connect returns a new, unconfigured instance of the transport. The
	// kit closes it when it is done with it. Required.
	Connect func(ctx context.Context) (*Instance, error)

	// Process is true when each instance is a separate plugin process,
	// possibly not written in Go: its SDK version may differ from the
	// kit's (the protocol version may not).
	Process bool
}

// Instance is one instance of the transport under test.
type Instance struct {
	// Transport is the instance as the agent sees it: every call crosses
	// gRPC. Required.
	Transport sdk.Transport
	// Direct is the instance itself, without gRPC between, when the kit
	// runs it in process; nil for a plugin process.
	Direct sdk.Transport
	// Faults returns what went wrong inside the instance since it was last
	// called, beyond what the calls returned (a panic, a process that
	// exited), one text per fault; nil when there is no way to tell.
	Faults func() []string
	// Crash kills the plugin process, as a crash would; nil when there is
	// no process. The agent's plugin host is expected to start it again
	// on the next call and replay its configuration.
	Crash func() error
	// Close stops the instance. Optional.
	Close func()
}

// Options says what [Run] delivers to and what must stay secret.
type Options struct {
	// Settings configure the transport to deliver to a target, as the
	// agent would decode them from the transport's config block (see
	// [Conformance.Target]). Nil means there is no target: the checks
	// that need a configured transport are skipped, with NoTarget as the
	// reason, and the planted secrets are only configured, never sent
	// with.
	Settings map[string]any
	// Received returns the raw messages (or request bodies) the target
	// accepted so far. A message counts as received when its Message-ID
	// header is the message's ID or, for a payload that is not RFC 5322,
	// when the ID appears in it. Nil: the kit cannot see the target, and
	// deliveries are not verified there.
	Received func() [][]byte
	// Stall, when set, is a target that accepts connections and never
	// answers: the kit checks that the plugin lets go of it once the
	// agent cancels a Send or its deadline passes. Only used for a plugin
	// process ([Instance.Direct] nil).
	Stall *Stall
	// Refuse, when set, makes the target refuse every delivery until
	// undo is called: temporarily (an SMTP 451, an HTTP 503) or
	// permanently (an SMTP 550, an HTTP 400). The kit checks that the
	// plugin's errors say which. Nil: that check is skipped.
	Refuse func(temporary bool) (undo func())
	// NoTarget says why Settings is nil, for the skip reasons.
	NoTarget string

	// Secrets, From, Timeout, CancelWithin and Credential are as in
	// [Conformance].
	Secrets      []string
	From         string
	Timeout      time.Duration
	CancelWithin time.Duration
	Credential   string
	// SecretSettings makes the values of the settings the schema marks
	// Sensitive secrets too.
	SecretSettings bool

	// Logs returns everything the plugin logged so far; the kit looks for
	// secrets in it. Nil: no log is checked.
	Logs func() string
	// Progress, if set, is called with each check's result as it ends.
	Progress func(CheckResult)
}

// Stall is a target that never answers; see [Options.Stall].
type Stall struct {
	// Settings point the transport at the stalled target.
	Settings map[string]any
	// Open returns how many connections (or requests) the target holds
	// open now.
	Open func() int
}

func (o Options) withDefaults() Options {
	if o.From == "" {
		o.From = DefaultConformanceFrom
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultConformanceTimeout
	}
	if o.CancelWithin <= 0 {
		o.CancelWithin = DefaultConformanceCancelWithin
	}
	return o
}

// Status is the outcome of one check.
type Status string

// The outcomes of a check.
const (
	StatusPass Status = "PASS"
	StatusFail Status = "FAIL"
	StatusSkip Status = "SKIP"
)

// CheckResult is the outcome of one check of [Run].
type CheckResult struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Why holds the failures of a failed check, each saying what to fix,
	// or the reason a check was skipped.
	Why []string `json:"why,omitempty"`
	// Notes are what the check observed besides.
	Notes []string `json:"notes,omitempty"`
}

// Report is the outcome of [Run].
type Report struct {
	Checks  []CheckResult `json:"checks"`
	Passed  int           `json:"passed"`
	Failed  int           `json:"failed"`
	Skipped int           `json:"skipped"`
	// Logs is the plugin's log output.
	Logs string `json:"-"`
}

// OK reports whether no check failed.
func (r *Report) OK() bool { return r.Failed == 0 }

// Summary is the report's last line.
func (r *Report) Summary() string {
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s: %d checks, %d passed, %d failed, %d skipped", verdict, len(r.Checks), r.Passed, r.Failed, r.Skipped)
}

// WriteText writes one line per check ("FAIL batch: why"), further
// failures and, with notes, the notes indented below it, and the summary.
func (r *Report) WriteText(w io.Writer, notes bool) error {
	var b strings.Builder
	for _, c := range r.Checks {
		b.WriteString(c.Line())
		b.WriteByte('\n')
		for _, why := range c.Why[min(1, len(c.Why)):] {
			fmt.Fprintf(&b, "     %s\n", indent(why))
		}
		if notes {
			for _, n := range c.Notes {
				fmt.Fprintf(&b, "     note: %s\n", indent(n))
			}
		}
	}
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*Report
		OK bool `json:"ok"`
	}{r, r.OK()})
}

// Line is the check's line in the report: status, name and the first why.
func (c CheckResult) Line() string {
	if len(c.Why) == 0 {
		return fmt.Sprintf("%s %s", c.Status, c.Name)
	}
	return fmt.Sprintf("%s %s: %s", c.Status, c.Name, indent(c.Why[0]))
}

func indent(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n       ")
}

// Run runs the conformance checks against subject and reports each. It is
// what [RunConformance] runs, outside `go test`. The checks, in order:
// handshake (the plugin starts and answers), then those of
// [RunConformance], configure-errors, and crash-mid-send for a plugin
// process.
func Run(ctx context.Context, subject Subject, opts Options) *Report {
	k := newKit(subject, opts)
	defer k.close()
	rep := &Report{}
	for _, c := range k.checks() {
		r := k.runCheck(ctx, c)
		switch r.Status {
		case StatusPass:
			rep.Passed++
		case StatusFail:
			rep.Failed++
		case StatusSkip:
			rep.Skipped++
		}
		rep.Checks = append(rep.Checks, r)
		if opts.Progress != nil {
			opts.Progress(r)
		}
	}
	rep.Logs = k.logs()
	return rep
}

// check is one named check of the kit.
type check struct {
	name string
	run  func(t tb)
}

// checks returns the kit's checks, in the order they run.
func (k *kit) checks() []check {
	return []check{
		{"handshake", k.testHandshake},
		{"describe", k.testDescribe},
		{"configure", k.testConfigure},
		{"configure-errors", k.testConfigureErrors},
		{"send-before-configure", k.testSendBeforeConfigure},
		{"empty-batch", k.testEmptyBatch},
		{"batch", k.testBatch},
		{"invalid-message", k.testInvalidMessage},
		{"concurrent-send", k.testConcurrentSend},
		{"check", k.testCheck},
		{"error-kinds", k.testErrorKinds},
		{"cancelled-context", k.testCancelled},
		{"crash-mid-send", k.testCrash},
		{"planted-secrets", k.testPlantedSecrets},
		{"no-secrets", k.testNoSecrets},
	}
}

// tb is what a check uses of a test: *testing.T in RunConformance, a
// recorder in Run.
type tb interface {
	Helper()
	Error(args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	FailNow()
	Failed() bool
	Skip(args ...any)
	Skipf(format string, args ...any)
	Log(args ...any)
	Logf(format string, args ...any)
	Context() context.Context
	Cleanup(func())
}

// runCheck runs one check on a recorder, in a goroutine of its own (a
// Fatal or Skip ends it), and returns its result once its cleanups ran.
func (k *kit) runCheck(ctx context.Context, c check) CheckResult {
	ctx, cancel := context.WithCancel(ctx)
	r := &rec{ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				r.Errorf("the kit's check %s panicked: %v", c.name, p)
			}
		}()
		c.run(r)
	}()
	<-done
	cancel()
	r.cleanup()
	res := CheckResult{Name: c.name, Status: StatusPass, Notes: r.logs}
	switch {
	case r.failed:
		res.Status, res.Why = StatusFail, r.errors
		if len(res.Why) == 0 {
			res.Why = []string{"failed"}
		}
	case r.skipped != "":
		res.Status, res.Why = StatusSkip, []string{strings.TrimPrefix(r.skipped, "skipped: ")}
	}
	return res
}

// rec records what a check says, the way *testing.T would.
type rec struct {
	ctx context.Context

	mu       sync.Mutex
	failed   bool
	skipped  string
	errors   []string
	logs     []string
	cleanups []func()
}

var _ tb = (*rec)(nil)

func (r *rec) Helper() {}

func (r *rec) Error(args ...any) { r.fail(fmt.Sprint(args...)) }

func (r *rec) Errorf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

func (r *rec) fail(msg string) {
	r.mu.Lock()
	r.failed = true
	r.errors = append(r.errors, msg)
	r.mu.Unlock()
}

func (r *rec) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *rec) FailNow() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *rec) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *rec) Skip(args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *rec) Skipf(format string, args ...any) { r.Skip(fmt.Sprintf(format, args...)) }

func (r *rec) Log(args ...any) {
	r.mu.Lock()
	r.logs = append(r.logs, fmt.Sprint(args...))
	r.mu.Unlock()
}

func (r *rec) Logf(format string, args ...any) { r.Log(fmt.Sprintf(format, args...)) }

func (r *rec) Context() context.Context { return r.ctx }

func (r *rec) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

func (r *rec) cleanup() {
	r.mu.Lock()
	cl := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(cl) - 1; i >= 0; i-- {
		cl[i]()
	}
}

// testHandshake starts the instance the other checks use.
func (k *kit) testHandshake(t tb) {
	c, err := k.open(context.WithoutCancel(t.Context()))
	if err != nil {
		t.Fatalf("the plugin did not start: %v", err)
	}
	k.mu.Lock()
	k.closers = append(k.closers, c.close)
	k.mu.Unlock()
	// The first call starts a plugin process and speaks the handshake.
	d, err := c.agent.Describe(k.ctx(t))
	k.checkPanics(t, c)
	k.recordErr("Describe error", err)
	if err != nil {
		t.Fatalf("the plugin did not start or did not answer: %v; a plugin prints go-plugin's handshake line (CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|NETWORK|ADDRESS|grpc) on stdout and serves gRPC there (see plugins/sdk/PROTOCOL.md)", err)
	}
	k.c = c
	if k.subject.Process {
		t.Logf("plugin %s %s, protocol %d, SDK %s", d.Name, d.Version, d.ProtocolVersion, d.SDKVersion)
	}
}

// testConfigureErrors configures a fresh instance with no settings: each
// error must be a diagnostic that names a setting of the schema, and a
// missing required setting must be named.
func (k *kit) testConfigureErrors(t tb) {
	k.requireStarted(t)
	if k.desc == nil {
		t.Skip("skipped: Describe failed (see the describe check)")
	}
	var required []string
	for _, a := range k.desc.Schema {
		if a.Required {
			required = append(required, a.Name)
		}
	}
	if len(required) == 0 {
		t.Skip("skipped: the schema has no required setting, so no settings at all may be a good configuration")
	}
	c := k.connect(t)
	s, err := sdk.SettingsFromMap(map[string]any{})
	if err != nil {
		t.Fatalf("encode empty settings: %v", err)
	}
	diags, err := c.agent.Configure(k.ctx(t), sdk.Config{Transport: "conformance-empty", From: k.opts.From, Settings: s})
	k.checkPanics(t, c)
	k.recordErr("empty Configure error", err)
	k.recordDiags("empty Configure diagnostic", diags)
	if err != nil {
		t.Fatalf("Configure without the required settings %s failed with an error (%v) instead of diagnostics: a problem with a setting belongs in an error diagnostic naming the attribute, so the agent can point at its line", strings.Join(required, ", "), err)
	}
	if !diags.HasErrors() {
		t.Fatalf("Configure without the required settings %s returned no error diagnostic: a transport must refuse a configuration it cannot deliver with, naming the missing setting", strings.Join(required, ", "))
	}
	named := map[string]bool{}
	for _, d := range diags {
		if d.Severity != sdk.SeverityError {
			continue
		}
		if _, ok := k.desc.Schema.Lookup(d.Attribute); d.Attribute != "" && !ok {
			t.Errorf("diagnostic %q names attribute %q, which is not in the schema: Attribute must be a setting's name or empty", d.Summary, d.Attribute)
		}
		named[d.Attribute] = true
	}
	var missed []string
	for _, r := range required {
		if !named[r] {
			missed = append(missed, r)
		}
	}
	if len(missed) == len(required) {
		t.Errorf("Configure without the required settings %s returned errors that name none of them (%v): set Diagnostic.Attribute to the setting's name", strings.Join(required, ", "), diags.Err())
	} else if len(missed) > 0 {
		t.Logf("no diagnostic named the missing required setting(s) %s", strings.Join(missed, ", "))
	}
}

// testCrash kills the plugin process while a Send is under way: the
// agent's host must report the batch as temporarily failed or delivered
// (never permanently failed), start the plugin again, replay its settings,
// and the next Send must deliver.
func (k *kit) testCrash(t tb) {
	c := k.requireConfigured(t)
	if c.crash == nil {
		t.Skip("skipped: needs a plugin process; run `tocsin plugin check` on the built plugin")
	}
	msgs := []*sdk.Message{k.message("crash 1"), k.message("crash 2")}
	type outcome struct {
		results []sdk.Result
		err     error
	}
	done := make(chan outcome, 1)
	ctx := k.ctx(t)
	go func() {
		r, err := c.agent.Send(ctx, msgs)
		done <- outcome{r, err}
	}()
	// Kill it once the first message arrived, if the kit can see that:
	// the second is then likely under way.
	if k.observable() {
		poll(t.Context(), k.opts.Timeout, func() bool { _, ok := k.find(msgs[0].ID); return ok })
	}
	if err := c.crash(); err != nil {
		t.Fatalf("kill the plugin process: %v", err)
	}
	var o outcome
	select {
	case o = <-done:
	case <-time.After(k.opts.Timeout):
		t.Fatalf("Send had not returned %v after the plugin process was killed under it", k.opts.Timeout)
	}
	c.faults() // the crash was ours
	k.recordErr("crash Send error", o.err)
	k.recordResults("crash Send result", o.results)
	switch {
	case o.err != nil && !sdk.IsTemporary(o.err):
		t.Errorf("Send whose plugin process was killed under it failed with a permanent error (%s): the agent would drop the mail", explain(o.err))
	case o.err != nil:
		t.Logf("Send under the crash failed, temporarily: %v", o.err)
	default:
		for i, r := range o.results {
			if r.Err != nil && !sdk.IsTemporary(r.Err) {
				t.Errorf("message %d of the Send whose plugin process was killed under it got a permanent error (%s)", i, explain(r.Err))
			}
		}
		t.Log("Send under the crash was retried by the host on a new process")
	}
	after := k.message("after crash")
	results, err := c.agent.Send(k.ctx(t), []*sdk.Message{after})
	c.faults() // the host may find the killed process only now, and start it again
	k.recordErr("after-crash Send error", err)
	k.recordResults("after-crash Send result", results)
	if err == nil && len(results) == 1 {
		err = results[0].Err
	}
	if err != nil {
		t.Fatalf("after a crash the host starts the plugin again and replays its settings, but the next Send failed: %s; a plugin must start cleanly after being killed (no lock or socket file left behind that it trips over)", explain(err))
	}
	if k.observable() {
		if got := k.wait(t, []string{after.ID}); len(got) == 0 {
			t.Errorf("the Send after the crash reported message %s delivered, but it did not reach the target", after.ID)
		}
	}
}

// stallDeadline is the deadline of the Send the kit lets run into a stalled
// target.
const stallDeadline = time.Second

// cancelAtTarget points a fresh plugin process at a target that never
// answers, and checks that the plugin lets go of it once the agent
// cancels a Send, and once a Send's deadline passes.
func (k *kit) cancelAtTarget(t tb) {
	t.Helper()
	if k.opts.Stall == nil {
		t.Skip("skipped: the agent's side gave up at once, as it must; whether the plugin stops too needs a target that never answers (the kit's SMTP or HTTP target in -config)")
	}
	for _, mode := range []string{"cancelled", "deadline"} {
		c := k.connect(t)
		s, err := sdk.SettingsFromMap(k.opts.Stall.Settings)
		if err != nil {
			t.Fatalf("encode the stalled target's settings: %v", err)
		}
		diags, err := c.agent.Configure(k.ctx(t), sdk.Config{Transport: "conformance-stalled", From: k.opts.From, Settings: s, Credential: k.latestCredential(), SaveCredential: k.savedCredential})
		k.checkPanics(t, c)
		k.recordErr("stalled Configure error", err)
		k.recordDiags("stalled Configure diagnostic", diags)
		if err == nil {
			err = diags.Err()
		}
		if err != nil {
			t.Skipf("skipped: Configure with the settings that point at the stalled target failed: %v", err)
		}
		before := k.opts.Stall.Open()
		var ctx context.Context
		var cancel context.CancelFunc
		if mode == "deadline" {
			ctx, cancel = context.WithTimeout(t.Context(), stallDeadline)
		} else {
			ctx, cancel = context.WithCancel(t.Context())
		}
		type outcome struct {
			results []sdk.Result
			err     error
		}
		done := make(chan outcome, 1)
		msgs := []*sdk.Message{k.message("stalled " + mode)}
		go func() {
			r, err := c.agent.Send(ctx, msgs)
			done <- outcome{r, err}
		}()
		if !poll(t.Context(), k.opts.Timeout, func() bool { return k.opts.Stall.Open() > before }) {
			cancel()
			t.Skipf("skipped: the plugin did not reach the stalled target within %v", k.opts.Timeout)
		}
		if mode == "cancelled" {
			cancel()
		}
		var o outcome
		select {
		case o = <-done:
		case <-time.After(k.opts.Timeout):
			cancel()
			t.Fatalf("Send with a %s context had not returned after %v", mode, k.opts.Timeout)
		}
		cancel()
		k.recordErr("stalled Send error", o.err)
		k.recordResults("stalled Send result", o.results)
		checkCancelled(t, mode+", at a stalled target", o.results, o.err)
		start := time.Now()
		if !poll(t.Context(), k.opts.CancelWithin, func() bool { return k.opts.Stall.Open() <= before }) {
			t.Errorf("Send with a %s context: the plugin still held its connection to the target %v after the agent gave up: it ignores cancellation; pass the call's ctx to every network call (dial, request, read), so the agent can stop a stuck delivery", mode, k.opts.CancelWithin)
			continue
		}
		t.Logf("%s: the plugin let go of the stalled target %v after the agent gave up", mode, time.Since(start).Round(time.Millisecond))
	}
}

// poll reports whether cond became true within d.
func poll(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sensitiveValues returns the string values in settings of the attributes
// schema marks Sensitive.
func sensitiveValues(schema sdk.Schema, settings map[string]any) []string {
	var out []string
	for name, v := range settings {
		if a, ok := schema.Lookup(name); !ok || !a.Sensitive {
			continue
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// testErrorKinds makes the target refuse deliveries, temporarily and then
// permanently: the plugin's error must say which, because the agent
// retries the one and gives up on the other.
func (k *kit) testErrorKinds(t tb) {
	c := k.requireConfigured(t)
	if k.opts.Refuse == nil {
		t.Skip("skipped: needs a target that can refuse deliveries (the kit's SMTP or HTTP target in -config)")
	}
	for _, temporary := range []bool{true, false} {
		kind, refusal := "permanently", "an SMTP 550 or an HTTP 400"
		if temporary {
			kind, refusal = "temporarily", "an SMTP 451 or an HTTP 503"
		}
		undo := k.opts.Refuse(temporary)
		results, err := c.agent.Send(k.ctx(t), []*sdk.Message{k.message("refused " + kind)})
		undo()
		k.checkPanics(t, c)
		k.recordErr("refused Send error", err)
		k.recordResults("refused Send result", results)
		if err == nil && len(results) == 1 {
			err = results[0].Err
		}
		switch {
		case err == nil:
			t.Errorf("the target refused the delivery %s (%s), but Send reported the message delivered", kind, refusal)
		case sdk.IsTemporary(err) != temporary:
			t.Errorf("the target refused the delivery %s (%s), but the plugin's error is %s: %s; a temporary refusal must be a temporary error (the agent retries), a permanent one permanent (the agent gives up and says why)", kind, refusal, errKind(err), explain(err))
		default:
			t.Logf("refused %s: %s", kind, explain(err))
		}
	}
}

func errKind(err error) string {
	if sdk.IsTemporary(err) {
		return "temporary"
	}
	return "permanent"
}
