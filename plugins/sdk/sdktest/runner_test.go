package sdktest_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// runMem runs the kit, outside RunConformance, against the in-memory
// transport with bug, and returns the report by check name.
func runMem(t *testing.T, bug string, opts sdktest.Options) (*sdktest.Report, map[string]sdktest.CheckResult) {
	t.Helper()
	logs := &sdktest.Logs{}
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs})
	opts.Logs = logs.String
	rep := sdktest.Run(t.Context(), sdktest.InProcess(t, func() sdk.Transport { return newMem(bug) }, logger), opts)
	byName := map[string]sdktest.CheckResult{}
	for _, c := range rep.Checks {
		byName[c.Name] = c
	}
	return rep, byName
}

func TestRun_Passes(t *testing.T) {
	settings, received := memTarget(t)
	var progress []string
	rep, byName := runMem(t, "", sdktest.Options{
		Settings: settings, Received: received, Secrets: []string{memToken},
		Progress: func(r sdktest.CheckResult) { progress = append(progress, r.Name) },
	})
	if !rep.OK() || rep.Failed != 0 {
		t.Fatalf("report failed:\n%+v", rep.Checks)
	}
	want := "handshake describe configure configure-errors send-before-configure empty-batch batch invalid-message concurrent-send check error-kinds cancelled-context crash-mid-send planted-secrets no-secrets"
	if got := strings.Join(progress, " "); got != want {
		t.Errorf("progress = %s, want %s", got, want)
	}
	for _, c := range rep.Checks {
		wantStatus := sdktest.StatusPass
		if c.Name == "crash-mid-send" || c.Name == "error-kinds" {
			wantStatus = sdktest.StatusSkip // no process to kill, no target that refuses
		}
		if c.Status != wantStatus {
			t.Errorf("%s: %s %q, want %s", c.Name, c.Status, c.Why, wantStatus)
		}
	}
	if why := byName["crash-mid-send"].Why; len(why) != 1 || !strings.Contains(why[0], "needs a plugin process") {
		t.Errorf("crash-mid-send skipped for %q", why)
	}
	if rep.Passed != 13 || rep.Skipped != 2 || rep.Summary() != "PASS: 15 checks, 13 passed, 0 failed, 2 skipped" {
		t.Errorf("summary %q", rep.Summary())
	}
}

// TestRun_Bugs runs the kit in process against transports that break the
// contract, without a subprocess: the runner reports the failure on the
// check that caught it.
func TestRun_Bugs(t *testing.T) {
	tests := []struct {
		bug, check, want string
	}{
		{bug: "bad-name", check: "describe", want: `Description.Name = "Mem_Drop"`},
		{bug: "leak-error", check: "no-secrets", want: "leaked into planted Check error"},
		{bug: "leak-log", check: "no-secrets", want: "leaked into the plugin's log output"},
		{bug: "reverse-results", check: "batch", want: "results must be in the order of the messages"},
		{bug: "temporary-invalid", check: "invalid-message", want: "got a temporary error"},
		{bug: "panic-invalid", check: "invalid-message", want: "the transport panicked"},
		{bug: "ignore-cancel", check: "cancelled-context", want: "(in the plugin) delivered message 0"},
		{bug: "send-unconfigured", check: "send-before-configure", want: "never configured accepted message 0"},
	}
	for _, tt := range tests {
		t.Run(tt.bug, func(t *testing.T) {
			settings, received := memTarget(t)
			rep, byName := runMem(t, tt.bug, sdktest.Options{Settings: settings, Received: received, Secrets: []string{memToken}})
			if rep.OK() {
				t.Fatalf("the report passed:\n%+v", rep.Checks)
			}
			c := byName[tt.check]
			if c.Status != sdktest.StatusFail || !strings.Contains(strings.Join(c.Why, "\n"), tt.want) {
				t.Errorf("%s: %s %q, want FAIL with %q", tt.check, c.Status, c.Why, tt.want)
			}
			if !strings.HasPrefix(c.Line(), "FAIL "+tt.check+": ") {
				t.Errorf("line %q", c.Line())
			}
		})
	}
}

func TestRun_NoTarget(t *testing.T) {
	rep, byName := runMem(t, "", sdktest.Options{NoTarget: "no -config given"})
	if !rep.OK() {
		t.Fatalf("report failed:\n%+v", rep.Checks)
	}
	for name, want := range map[string]string{
		"handshake":             "PASS",
		"describe":              "PASS",
		"configure-errors":      "PASS",
		"send-before-configure": "PASS",
		"configure":             "SKIP configure: no -config given",
		"batch":                 "SKIP batch: needs a successful delivery; no -config given",
		"planted-secrets":       "SKIP planted-secrets: needs settings to plant secrets in; no -config given",
	} {
		if got := byName[name].Line(); got != want+map[bool]string{true: " " + name, false: ""}[want == "PASS"] {
			t.Errorf("line %q, want %q", got, want)
		}
	}
}

func TestRun_Unobservable(t *testing.T) {
	settings, _ := memTarget(t)
	rep, byName := runMem(t, "", sdktest.Options{Settings: settings, Secrets: []string{memToken}})
	if !rep.OK() {
		t.Fatalf("report failed:\n%+v", rep.Checks)
	}
	if n := byName["batch"].Notes; len(n) != 1 || !strings.Contains(n[0], "delivery not verified") {
		t.Errorf("batch notes %q", n)
	}
}

func TestRun_HandshakeFails(t *testing.T) {
	s := sdktest.Subject{Process: true, Connect: func(context.Context) (*sdktest.Instance, error) {
		return nil, errors.New("Unrecognized remote plugin message: garbage")
	}}
	rep := sdktest.Run(t.Context(), s, sdktest.Options{Settings: map[string]any{"x": "y"}})
	if rep.OK() || rep.Failed != 1 || rep.Passed != 0 {
		t.Fatalf("report:\n%+v", rep.Checks)
	}
	if l := rep.Checks[0].Line(); !strings.HasPrefix(l, "FAIL handshake: the plugin did not start: Unrecognized remote plugin message: garbage") {
		t.Errorf("line %q", l)
	}
	for _, c := range rep.Checks[1:] {
		if c.Status != sdktest.StatusSkip {
			t.Errorf("%s: %s, want SKIP", c.Name, c.Status)
		}
	}
}

func TestReport_WriteText(t *testing.T) {
	rep := &sdktest.Report{
		Checks: []sdktest.CheckResult{
			{Name: "handshake", Status: sdktest.StatusPass, Notes: []string{"plugin x 1.0"}},
			{Name: "batch", Status: sdktest.StatusFail, Why: []string{"first\nsecond line", "another"}},
			{Name: "crash-mid-send", Status: sdktest.StatusSkip, Why: []string{"needs a process"}},
		},
		Passed: 1, Failed: 1, Skipped: 1,
	}
	var b strings.Builder
	if err := rep.WriteText(&b, true); err != nil {
		t.Fatal(err)
	}
	want := `PASS handshake
     note: plugin x 1.0
FAIL batch: first
       second line
     another
SKIP crash-mid-send: needs a process
FAIL: 3 checks, 1 passed, 1 failed, 1 skipped
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestRun_NonMailPayload: a target that receives JSON with the message's
// ID in it (a webhook) counts as delivered; the MIME checks are left out.
func TestRun_NonMailPayload(t *testing.T) {
	settings, received := memTarget(t)
	rep, byName := runMem(t, "json", sdktest.Options{Settings: settings, Received: received, Secrets: []string{memToken}})
	if !rep.OK() {
		t.Fatalf("report failed:\n%+v", rep.Checks)
	}
	if n := byName["batch"].Notes; len(n) != 1 || !strings.Contains(n[0], "the HTML part and the attachment are not checked") {
		t.Errorf("batch notes %q", n)
	}
}
