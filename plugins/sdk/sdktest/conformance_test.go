package sdktest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// memToken is the secret the in-memory target expects.
const memToken = "mem-token-5d0c2a9e41b7"

// mailbox is the in-memory target: it keeps what it was given.
type mailbox struct {
	token string

	mu   sync.Mutex
	msgs [][]byte
}

func (b *mailbox) add(raw []byte) {
	b.mu.Lock()
	b.msgs = append(b.msgs, raw)
	b.mu.Unlock()
}

func (b *mailbox) received() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.msgs...)
}

// mailboxes maps a mailbox setting to its mailbox, the way a network
// address maps to a server.
var mailboxes sync.Map

// memTransport is a small, correct transport that delivers to a mailbox,
// unless one of its bugs is switched on.
type memTransport struct {
	bug string

	mu     sync.Mutex
	box    *mailbox
	token  string
	logger hclog.Logger
}

func newMem(bug string) *memTransport { return &memTransport{bug: bug} }

func (m *memTransport) Describe(context.Context) (*sdk.Description, error) {
	d := &sdk.Description{
		Name:    "memdrop",
		Version: "1.0.0",
		Summary: "Delivers to an in-memory mailbox.",
		Schema: sdk.Schema{
			{Name: "mailbox", Type: sdk.TypeString, Required: true, Description: "Name of the mailbox."},
			{Name: "api_token", Type: sdk.TypeString, Sensitive: true, Description: "Token the mailbox expects."},
		},
	}
	switch m.bug {
	case "bad-name":
		d.Name = "Mem_Drop"
	case "insensitive-token":
		d.Schema[1].Sensitive = false
	case "no-description":
		d.Schema[0].Description = ""
	}
	return d, nil
}

func (m *memTransport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	var s struct {
		Mailbox  string `json:"mailbox"`
		APIToken string `json:"api_token"`
	}
	if err := cfg.Settings.Decode(&s); err != nil {
		return nil, err
	}
	v, ok := mailboxes.Load(s.Mailbox)
	if !ok {
		return sdk.Diagnostics{}.Errorf("mailbox", "Name a mailbox the test created.", "No mailbox %q", s.Mailbox), nil
	}
	if m.bug == "leak-log" {
		cfg.Logger.Debug("configured", "mailbox", s.Mailbox, "token", s.APIToken)
	} else {
		cfg.Logger.Debug("configured", "mailbox", s.Mailbox)
	}
	var diags sdk.Diagnostics
	if m.bug == "unknown-attribute" {
		diags = diags.Warnf("mail_box", "Spell it mailbox.", "Misspelt attribute")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.box, m.token, m.logger = v.(*mailbox), s.APIToken, cfg.Logger
	return diags, nil
}

func (m *memTransport) current() (*mailbox, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.box == nil {
		return nil, "", sdk.PermanentError(errors.New("transport is not configured"), "", "Fix the transport's settings.")
	}
	return m.box, m.token, nil
}

func (m *memTransport) authenticate(box *mailbox, token string) error {
	if token == box.token {
		return nil
	}
	err := errors.New("token rejected")
	if m.bug == "leak-error" {
		err = fmt.Errorf("token %q rejected", token)
	}
	return sdk.PermanentError(err, "401", "Set api_token to the mailbox's token.")
}

func (m *memTransport) Check(context.Context) error {
	box, token, err := m.current()
	if err != nil {
		return err
	}
	return m.authenticate(box, token)
}

func (m *memTransport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	box, token, err := m.current()
	if err != nil {
		if m.bug == "send-unconfigured" {
			out := make([]sdk.Result, len(msgs))
			for i, msg := range msgs {
				out[i] = sdk.Result{MessageID: msg.ID, Receipt: "ok"}
			}
			return out, nil
		}
		return nil, err
	}
	if err := m.authenticate(box, token); err != nil {
		return nil, err
	}
	out := make([]sdk.Result, len(msgs))
	for i, msg := range msgs {
		out[i].MessageID = msg.ID
		if ctx.Err() != nil && m.bug != "ignore-cancel" {
			out[i].Err = sdk.TemporaryError(ctx.Err(), "", "")
			continue
		}
		if m.bug == "panic-invalid" && len(msg.To) == 0 {
			_ = msg.To[0].Address // the bug: assumes a recipient
		}
		if err := msg.Validate(); err != nil {
			if m.bug == "temporary-invalid" {
				out[i].Err = sdk.TemporaryError(err, "", "")
			} else {
				out[i].Err = sdk.PermanentError(err, "", "Report this as a bug.")
			}
			continue
		}
		if m.bug == "drop-attachment" {
			c := *msg
			c.Attachments = nil
			msg = &c
		}
		raw, err := msg.Bytes()
		if err != nil {
			out[i].Err = sdk.PermanentError(err, "", "Report this as a bug.")
			continue
		}
		if m.bug == "json" { // not a bug: a webhook's payload
			raw = fmt.Appendf(nil, `{"id": %q, "subject": %q}`, msg.ID, msg.Subject)
		}
		box.add(raw)
		out[i].Receipt = "stored"
	}
	if m.bug == "reverse-results" {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// memTarget is a Conformance.Target: a fresh mailbox expecting memToken.
func memTarget(t *testing.T) (map[string]any, func() [][]byte) {
	name := t.Name()
	box := &mailbox{token: memToken}
	mailboxes.Store(name, box)
	t.Cleanup(func() { mailboxes.Delete(name) })
	return map[string]any{"mailbox": name, "api_token": memToken}, box.received
}

func TestRunConformance_Passes(t *testing.T) {
	sdktest.RunConformance(t, func() sdk.Transport { return newMem("") }, sdktest.Conformance{
		Target:  memTarget,
		Secrets: []string{memToken},
	})
}

// bugEnv names the bug TestConformanceHelper switches on.
const bugEnv = "SDKTEST_CONFORMANCE_BUG"

// TestConformanceHelper runs the kit against a transport with the bug
// named in $SDKTEST_CONFORMANCE_BUG. It is run as a subprocess by
// TestRunConformance_CatchesBugs and skipped otherwise.
func TestConformanceHelper(t *testing.T) {
	bug := os.Getenv(bugEnv)
	if bug == "" {
		t.Skip("run by TestRunConformance_CatchesBugs")
	}
	sdktest.RunConformance(t, func() sdk.Transport { return newMem(bug) }, sdktest.Conformance{
		Target:  memTarget,
		Secrets: []string{memToken},
	})
}

// TestRunConformance_CatchesBugs runs the kit, in a subprocess, against
// transports that break the contract one way each, and checks the kit
// fails with a message that names the problem.
func TestRunConformance_CatchesBugs(t *testing.T) {
	tests := []struct {
		bug     string
		subtest string
		want    string
	}{
		{bug: "bad-name", subtest: "describe", want: `Description.Name = "Mem_Drop"`},
		{bug: "insensitive-token", subtest: "describe", want: `attribute "api_token" looks like a secret by its name`},
		{bug: "no-description", subtest: "describe", want: `attribute "mailbox" has no Description`},
		{bug: "unknown-attribute", subtest: "configure", want: `names attribute "mail_box", which is not in the schema`},
		{bug: "leak-log", subtest: "no-secrets", want: "leaked into the plugin's log output"},
		{bug: "leak-error", subtest: "no-secrets", want: "leaked into planted Check error"},
		{bug: "send-unconfigured", subtest: "send-before-configure", want: "Send on a transport that was never configured accepted message 0"},
		{bug: "panic-invalid", subtest: "invalid-message", want: "the transport panicked"},
		{bug: "temporary-invalid", subtest: "invalid-message", want: "got a temporary error"},
		{bug: "drop-attachment", subtest: "batch", want: "attachment did not arrive intact"},
		{bug: "reverse-results", subtest: "batch", want: "results must be in the order of the messages"},
		{bug: "ignore-cancel", subtest: "cancelled-context", want: "Send with a cancelled context (in the plugin) delivered message 0"},
	}
	for _, tt := range tests {
		t.Run(tt.bug, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestConformanceHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), bugEnv+"="+tt.bug)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the kit passed a transport with bug %q (err %v):\n%s", tt.bug, err, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestConformanceHelper/"+tt.subtest+" ") {
				t.Errorf("subtest %s did not fail:\n%s", tt.subtest, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output does not say %q:\n%s", tt.want, out)
			}
		})
	}
}
