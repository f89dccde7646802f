package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// fakeTransport is an in-process sdk.Transport that records what it is
// asked to send and answers with send.
type fakeTransport struct {
	send func(msgs []*sdk.Message) ([]sdk.Result, error)

	mu   sync.Mutex
	sent []*sdk.Message
}

func (f *fakeTransport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{Name: "fake"}, nil
}

func (f *fakeTransport) Configure(context.Context, sdk.Config) (sdk.Diagnostics, error) {
	return nil, nil
}

func (f *fakeTransport) Check(context.Context) error { return nil }

func (f *fakeTransport) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	f.mu.Lock()
	f.sent = append(f.sent, msgs...)
	f.mu.Unlock()
	return f.send(msgs)
}

func (f *fakeTransport) messages() []*sdk.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sdk.Message(nil), f.sent...)
}

// accepts answers every message with receipt.
func accepts(receipt string) *fakeTransport {
	return &fakeTransport{send: func(msgs []*sdk.Message) ([]sdk.Result, error) {
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Receipt: receipt}
		}
		return out, nil
	}}
}

// failsBatch fails the whole batch with err.
func failsBatch(err error) *fakeTransport {
	return &fakeTransport{send: func([]*sdk.Message) ([]sdk.Result, error) { return nil, err }}
}

// failsEach gives every message err as its result.
func failsEach(err error) *fakeTransport {
	return &fakeTransport{send: func(msgs []*sdk.Message) ([]sdk.Result, error) {
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Err: err}
		}
		return out, nil
	}}
}

const testConfig = `
agent {
  node = "node-1.example"
  mute = %MUTE%
}

transport "primary" {
  plugin = "smtp-basic"
  from   = "Tocsin Alerts <alerts@example.com>"
}

transport "backup" {
  plugin = "smtp-basic"
  from   = "backup@example.com"
}

transport "third" {
  plugin = "smtp-basic"
  from   = "third@example.com"
}

contact "ops" {
  email = ["Ops Team <ops@example.com>", "oncall@example.com"]
  via   = [transport.primary, transport.backup, transport.third]
}
`

var testNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// loadConfig writes testConfig into a temporary directory and loads it.
func loadConfig(t *testing.T, mute bool) *config.Config {
	t.Helper()
	src := strings.ReplaceAll(testConfig, "%MUTE%", map[bool]string{true: "true", false: "false"}[mute])
	path := filepath.Join(t.TempDir(), "tocsin.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatalf("load config: %s", diags.Error())
	}
	return cfg
}

// newAgent returns an agent whose transports are the given fakes; a
// transport of the config without a fake is left out, as PrepareTransports
// leaves out one that failed.
func newAgent(t *testing.T, mute bool, plugins map[string]*fakeTransport) *Agent {
	t.Helper()
	cfg := loadConfig(t, mute)
	ts := Transports{}
	for name, p := range plugins {
		tc := cfg.Transport(name)
		if tc == nil {
			t.Fatalf("no transport %q in the config", name)
		}
		ts[name] = &Transport{Config: tc, Plugin: p, Description: &sdk.Description{Name: "fake"}}
	}
	return &Agent{
		cfg:        cfg,
		logger:     hclog.NewNullLogger(),
		transports: upTransports(ts),
		started:    testNow,
		now:        func() time.Time { return testNow },
	}
}

func TestAgent_Notify(t *testing.T) {
	t.Parallel()
	tempErr := sdk.TemporaryError(errors.New("421 try later"), "421", "")
	permErr := sdk.PermanentError(errors.New("535 bad login"), "535 5.7.8", "check the password")
	otherErr := sdk.TemporaryError(errors.New("connection refused"), "", "")

	tests := []struct {
		name    string
		plugins func() map[string]*fakeTransport
		// tried lists the transports that must have been asked to send,
		// in order; the others must not have been.
		tried []string
		// want is the receipt on success.
		want Receipt
		// wantErrs are the texts the error must contain, wantIs the
		// errors it must wrap; empty means success.
		wantErrs []string
		wantIs   []error
	}{
		{
			name: "first transport delivers",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": accepts("250 primary ok"), "backup": accepts("250 backup ok"), "third": accepts("250 third ok")}
			},
			tried: []string{"primary"},
			want:  Receipt{Transport: "primary", Receipt: "250 primary ok"},
		},
		{
			name: "temporary batch error falls back to the next",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": failsBatch(tempErr), "backup": accepts("250 backup ok"), "third": accepts("250 third ok")}
			},
			tried: []string{"primary", "backup"},
			want:  Receipt{Transport: "backup", Receipt: "250 backup ok"},
		},
		{
			name: "permanent per-message error falls back to the next",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": failsEach(permErr), "backup": accepts("250 backup ok"), "third": accepts("250 third ok")}
			},
			tried: []string{"primary", "backup"},
			want:  Receipt{Transport: "backup", Receipt: "250 backup ok"},
		},
		{
			name: "a transport that is not configured is skipped",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"backup": failsEach(tempErr), "third": accepts("250 third ok")}
			},
			tried: []string{"backup", "third"},
			want:  Receipt{Transport: "third", Receipt: "250 third ok"},
		},
		{
			name: "all fail",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"primary": failsBatch(tempErr), "backup": failsEach(permErr), "third": failsBatch(otherErr)}
			},
			tried: []string{"primary", "backup", "third"},
			wantErrs: []string{
				"transport primary: temporary error 421: 421 try later",
				"transport backup: permanent error 535 5.7.8: 535 bad login",
				"transport third: temporary error: connection refused",
			},
			wantIs: []error{tempErr, permErr, otherErr},
		},
		{
			name: "all fail, one not configured",
			plugins: func() map[string]*fakeTransport {
				return map[string]*fakeTransport{"backup": failsEach(permErr), "third": failsBatch(otherErr)}
			},
			tried: []string{"backup", "third"},
			wantErrs: []string{
				"transport primary is not configured",
				"transport backup: permanent error 535 5.7.8: 535 bad login",
				"transport third: temporary error: connection refused",
			},
			wantIs: []error{permErr, otherErr},
		},
	}
	mail := Mail{
		Subject: "Disk full on web-1",
		Text:    "The disk is full.",
		HTML:    "<p>The disk is full.</p>",
		Headers: []sdk.Header{{Name: "X-Tocsin-Rule", Value: "disk"}},
	}
	wantTo := []sdk.Address{{Name: "Ops Team", Address: "ops@example.com"}, {Address: "oncall@example.com"}}
	wantFrom := map[string]sdk.Address{
		"primary": {Name: "Tocsin Alerts", Address: "alerts@example.com"},
		"backup":  {Address: "backup@example.com"},
		"third":   {Address: "third@example.com"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plugins := tt.plugins()
			a := newAgent(t, false, plugins)
			got, err := a.Notify(t.Context(), "ops", mail)

			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				if got.Transport != tt.want.Transport || got.Receipt != tt.want.Receipt {
					t.Errorf("receipt = %+v, want transport %q, receipt %q", got, tt.want.Transport, tt.want.Receipt)
				}
			} else {
				if err == nil {
					t.Fatalf("Notify succeeded with %+v", got)
				}
				lines := strings.Split(err.Error(), "\n")
				if !reflect.DeepEqual(lines, tt.wantErrs) {
					t.Errorf("error lines:\n got  %q\n want %q", lines, tt.wantErrs)
				}
				for _, e := range tt.wantIs {
					if !errors.Is(err, e) {
						t.Errorf("error does not wrap %v", e)
					}
				}
				if got.Transport != "" || got.Receipt != "" {
					t.Errorf("receipt %+v with the error", got)
				}
			}

			// One notification, one Message-ID: every attempt carries the
			// ID the receipt names.
			id := got.MessageID
			if !strings.HasPrefix(id, "20250102T030405Z.") || !strings.HasSuffix(id, "@node-1.example") {
				t.Errorf("Message-ID %q, want the time stamp and @node-1.example", id)
			}
			var tried []string
			for _, name := range []string{"primary", "backup", "third"} {
				p := plugins[name]
				if p == nil {
					continue
				}
				msgs := p.messages()
				if len(msgs) == 0 {
					continue
				}
				tried = append(tried, name)
				if len(msgs) != 1 {
					t.Errorf("%s was asked to send %d messages, want 1", name, len(msgs))
				}
				m := msgs[0]
				if m.ID != id {
					t.Errorf("%s sent Message-ID %q, want %q", name, m.ID, id)
				}
				if m.From != wantFrom[name] {
					t.Errorf("%s sent From %+v, want %+v", name, m.From, wantFrom[name])
				}
				if !reflect.DeepEqual(m.To, wantTo) || m.Cc != nil || m.Bcc != nil {
					t.Errorf("%s sent To %+v Cc %+v Bcc %+v, want To %+v", name, m.To, m.Cc, m.Bcc, wantTo)
				}
				if m.Subject != mail.Subject || m.Text != mail.Text || m.HTML != mail.HTML || !reflect.DeepEqual(m.Headers, mail.Headers) {
					t.Errorf("%s sent %+v, want the content of %+v", name, m, mail)
				}
				if !m.Date.Equal(testNow) {
					t.Errorf("%s sent Date %v, want %v", name, m.Date, testNow)
				}
				if err := m.Validate(); err != nil {
					t.Errorf("%s got a message that does not validate: %v", name, err)
				}
			}
			if !reflect.DeepEqual(tried, tt.tried) {
				t.Errorf("tried %q, want %q", tried, tt.tried)
			}
		})
	}
}

func TestAgent_Notify_muted(t *testing.T) {
	t.Parallel()
	primary := accepts("250 ok")
	a := newAgent(t, true, map[string]*fakeTransport{"primary": primary})
	got, err := a.Notify(t.Context(), "ops", Mail{Subject: "hello"})
	if !errors.Is(err, ErrMuted) {
		t.Fatalf("Notify error = %v, want ErrMuted", err)
	}
	if got != (Receipt{}) {
		t.Errorf("receipt %+v from a muted agent", got)
	}
	if n := len(primary.messages()); n != 0 {
		t.Errorf("a muted agent sent %d messages", n)
	}
}

func TestAgent_Notify_unknownContact(t *testing.T) {
	t.Parallel()
	primary := accepts("250 ok")
	for _, mute := range []bool{false, true} {
		a := newAgent(t, mute, map[string]*fakeTransport{"primary": primary})
		got, err := a.Notify(t.Context(), "nobody", Mail{Subject: "hello"})
		if err == nil || err.Error() != `notify: no contact "nobody"` {
			t.Errorf("mute=%v: Notify error = %v, want notify: no contact \"nobody\"", mute, err)
		}
		if got != (Receipt{}) {
			t.Errorf("mute=%v: receipt %+v for an unknown contact", mute, got)
		}
	}
	if n := len(primary.messages()); n != 0 {
		t.Errorf("sent %d messages for an unknown contact", n)
	}
}

func TestAgent_Notify_idPerNotification(t *testing.T) {
	t.Parallel()
	a := newAgent(t, false, map[string]*fakeTransport{"primary": accepts("250 ok")})
	first, err := a.Notify(t.Context(), "ops", Mail{Subject: "one"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Notify(t.Context(), "ops", Mail{Subject: "two"})
	if err != nil {
		t.Fatal(err)
	}
	if first.MessageID == second.MessageID {
		t.Errorf("two notifications share Message-ID %q", first.MessageID)
	}
}

func TestTransport_Message(t *testing.T) {
	t.Parallel()
	to := []sdk.Address{{Address: "ops@example.com"}}
	m := Mail{Subject: "s", Text: "t", HTML: "h", Headers: []sdk.Header{{Name: "X-A", Value: "b"}}}
	tests := []struct {
		name    string
		from    string
		want    sdk.Address
		wantErr string
	}{
		{name: "bare address", from: "alerts@example.com", want: sdk.Address{Address: "alerts@example.com"}},
		{name: "display name", from: `"Tocsin, Alerts" <alerts@example.com>`, want: sdk.Address{Name: "Tocsin, Alerts", Address: "alerts@example.com"}},
		{name: "not an address", from: "alerts at example.com", wantErr: "transport relay: from: mail: no angle-addr"},
		{name: "empty", from: "", wantErr: "transport relay: from: mail: no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Transport{Config: &config.Transport{Name: "relay", From: tt.from}}
			got, err := tr.Message("id@node", to, m, testNow)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Message error = %v, want %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("message %+v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Message: %v", err)
			}
			want := &sdk.Message{ID: "id@node", Date: testNow, From: tt.want, To: to, Subject: "s", Text: "t", HTML: "h", Headers: m.Headers}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Message =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestTransports_Names(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ts   Transports
		want []string
	}{
		{name: "empty", ts: Transports{}, want: []string{}},
		{name: "sorted", ts: Transports{"relay": nil, "backup": nil, "primary": nil}, want: []string{"backup", "primary", "relay"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ts.Names(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Names = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAgent_health(t *testing.T) {
	t.Parallel()
	a := newAgent(t, false, map[string]*fakeTransport{"primary": accepts("ok"), "backup": accepts("ok")})
	h := a.health()
	if h.Status != "ok" || h.Node != "node-1.example" || h.Started != "2025-01-02T03:04:05Z" || !reflect.DeepEqual(h.Transports, []string{"backup", "primary"}) || h.Version == "" {
		t.Errorf("health = %+v", h)
	}
}
