package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// fakeTransport records what it is given and answers what it is told.
type fakeTransport struct {
	cfg      sdk.Config
	diags    sdk.Diagnostics
	checkErr error
	sendErr  error
	got      []*sdk.Message
	results  func(msgs []*sdk.Message) []sdk.Result
}

func (f *fakeTransport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name: "fake", Version: "1.2.3", Summary: "a fake", Batch: true,
		Schema: sdk.Schema{
			{Name: "host", Type: sdk.TypeString, Required: true, Description: "the host"},
			{Name: "password", Type: sdk.TypeString, Sensitive: true},
			{Name: "security", Type: sdk.TypeString, OneOf: []string{"none", "tls"}, Default: "tls"},
			{Name: "port", Type: sdk.TypeNumber},
			{Name: "verify", Type: sdk.TypeBool},
			{Name: "names", Type: sdk.TypeListOfString},
			{Name: "timeout", Type: sdk.TypeDuration},
		},
	}, nil
}

func (f *fakeTransport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	f.cfg = cfg
	return f.diags, nil
}

func (f *fakeTransport) Check(context.Context) error { return f.checkErr }

func (f *fakeTransport) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	f.got = msgs
	if f.sendErr != nil {
		return nil, f.sendErr
	}
	return f.results(msgs), nil
}

// connect serves impl over an in-process gRPC connection and returns the
// agent's view of it.
func connect(t *testing.T, impl sdk.Transport) sdk.Transport {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		sdk.PluginName: sdk.Plugin(impl),
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return raw.(sdk.Transport)
}

func TestGRPC_Describe(t *testing.T) {
	tr := connect(t, &fakeTransport{})
	d, err := tr.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := (&fakeTransport{}).Describe(context.Background())
	want.SDKVersion, want.ProtocolVersion = sdk.SDKVersion, sdk.ProtocolVersion
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Describe over gRPC =\n%+v\nwant\n%+v", d, want)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("schema: %v", err)
	}
}

func TestGRPC_Configure(t *testing.T) {
	fake := &fakeTransport{diags: sdk.Diagnostics{}.
		Errorf("port", "Use 1-65535.", "port %d is out of range", 70000).
		Warnf("verify", "", "verification is off")}
	tr := connect(t, fake)
	settings, err := sdk.SettingsFromMap(map[string]any{"host": "mx", "port": 70000, "timeout": "5s"})
	if err != nil {
		t.Fatal(err)
	}
	diags, err := tr.Configure(context.Background(), sdk.Config{Transport: "relay", From: "a@example.com", Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(diags, fake.diags) {
		t.Errorf("diagnostics = %+v, want %+v", diags, fake.diags)
	}
	if !diags.HasErrors() || diags.Err() == nil {
		t.Error("HasErrors/Err should report the port error")
	}
	if fake.cfg.Transport != "relay" || fake.cfg.From != "a@example.com" || fake.cfg.Logger == nil {
		t.Errorf("plugin got config %+v", fake.cfg)
	}
	var s struct {
		Host    string       `json:"host"`
		Port    int          `json:"port"`
		Timeout sdk.Duration `json:"timeout"`
	}
	if err := fake.cfg.Settings.Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Host != "mx" || s.Port != 70000 || time.Duration(s.Timeout) != 5*time.Second {
		t.Errorf("decoded settings = %+v", s)
	}
	var narrow struct {
		Host string `json:"host"`
	}
	if err := fake.cfg.Settings.Decode(&narrow); err == nil {
		t.Error("Decode into a struct without a field for every setting should fail")
	}
}

// wasteful is a transport whose Configure leaves 64 MiB of garbage, as a
// setup that parses large files does.
type wasteful struct{ fakeTransport }

var sink []byte

func (w *wasteful) Configure(ctx context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	b := make([]byte, 64<<20)
	for i := range b {
		b[i] = byte(i) // resident, not only reserved
	}
	sink = b
	sink = nil
	return w.fakeTransport.Configure(ctx, cfg)
}

// TestGRPC_ConfigureReleasesMemory: once a transport is configured, the
// garbage of its setup is collected and its memory returned to the
// system, rather than held until the next collection (a plugin mostly
// idles after Configure).
func TestGRPC_ConfigureReleasesMemory(t *testing.T) {
	tr := connect(t, &wasteful{})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := tr.Configure(context.Background(), sdk.Config{Transport: "relay", Settings: sdk.NewSettings(nil)}); err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Errorf("the heap holds %d MiB more after Configure: its garbage was not collected", grown>>20)
	}
	if kept := int64(after.HeapIdle) - int64(after.HeapReleased); kept > 16<<20 {
		t.Errorf("%d MiB of idle heap not returned to the system after Configure", kept>>20)
	}
}

func TestGRPC_ErrorsKeepTheirClass(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want *sdk.DeliveryError
	}{
		{
			name: "permanent with code and remedy",
			err:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.3", Reply: "535 5.7.3 Authentication unsuccessful", Remedy: "fix the login", Err: errors.New("auth failed")},
			want: &sdk.DeliveryError{Kind: sdk.Permanent, Code: "535 5.7.3", Reply: "535 5.7.3 Authentication unsuccessful", Remedy: "fix the login"},
		},
		{
			name: "temporary with retry-after",
			err:  &sdk.DeliveryError{Kind: sdk.Temporary, Code: "429", RetryAfter: 7 * time.Second, Err: errors.New("slow down")},
			want: &sdk.DeliveryError{Kind: sdk.Temporary, Code: "429", RetryAfter: 7 * time.Second},
		},
		{
			name: "plain error becomes temporary",
			err:  errors.New("something odd"),
			want: &sdk.DeliveryError{Kind: sdk.Temporary},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := connect(t, &fakeTransport{checkErr: tt.err, sendErr: tt.err})
			for _, got := range []error{
				tr.Check(context.Background()),
				func() error {
					_, err := tr.Send(context.Background(), []*sdk.Message{testMessage("a@x")})
					return err
				}(),
			} {
				var de *sdk.DeliveryError
				if !errors.As(got, &de) {
					t.Fatalf("error %v (%T) is not a *DeliveryError", got, got)
				}
				if de.Kind != tt.want.Kind || de.Code != tt.want.Code || de.Reply != tt.want.Reply || de.Remedy != tt.want.Remedy || de.RetryAfter != tt.want.RetryAfter {
					t.Errorf("got %+v, want %+v", de, tt.want)
				}
				wantText := tt.err.Error()
				if src, ok := tt.err.(*sdk.DeliveryError); ok {
					wantText = src.Err.Error()
				}
				if de.Err == nil || de.Err.Error() != wantText {
					t.Errorf("error text = %v, want %q", de.Err, wantText)
				}
				if sdk.IsTemporary(got) != (tt.want.Kind == sdk.Temporary) {
					t.Errorf("IsTemporary = %v", sdk.IsTemporary(got))
				}
			}
		})
	}
}

func TestGRPC_SendBatch(t *testing.T) {
	fake := &fakeTransport{results: func(msgs []*sdk.Message) []sdk.Result {
		out := make([]sdk.Result, len(msgs))
		for i, m := range msgs {
			out[i] = sdk.Result{MessageID: m.ID, Receipt: "250 ok " + m.ID}
		}
		out[1].Receipt = ""
		out[1].Err = sdk.PermanentError(errors.New("550 no such user"), "550 5.1.1", "check the address")
		return out
	}}
	tr := connect(t, fake)
	msgs := []*sdk.Message{testMessage("one@x"), testMessage("two@x"), testMessage("three@x")}
	msgs[1].ID = "second@tocsin"
	res, err := tr.Send(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Receipt != "250 ok "+msgs[0].ID || res[1].Err == nil || sdk.IsTemporary(res[1].Err) || res[2].Err != nil {
		t.Fatalf("results = %+v", res)
	}
	if res[1].MessageID != "second@tocsin" {
		t.Errorf("message id = %q", res[1].MessageID)
	}
	// The full message model survives the trip.
	if !reflect.DeepEqual(normalize(fake.got[0]), normalize(msgs[0])) {
		t.Errorf("message over gRPC =\n%+v\nwant\n%+v", fake.got[0], msgs[0])
	}
}

func normalize(m *sdk.Message) sdk.Message {
	c := *m
	c.Date = c.Date.UTC()
	return c
}

func testMessage(to string) *sdk.Message {
	return &sdk.Message{
		ID:          "id-" + to,
		Date:        time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		From:        sdk.Address{Name: "Tocsin", Address: "tocsin@example.com"},
		To:          []sdk.Address{{Address: to}},
		Cc:          []sdk.Address{{Name: "C", Address: "c@example.com"}},
		Bcc:         []sdk.Address{{Address: "b@example.com"}},
		ReplyTo:     []sdk.Address{{Address: "ops@example.com"}},
		Subject:     "Version mismatch",
		Text:        "text body",
		HTML:        "<p>html body</p>",
		Attachments: []sdk.Attachment{{Filename: "log.txt", ContentType: "text/plain", Data: []byte("line 1\n")}},
		Headers:     []sdk.Header{{Name: "X-Tocsin-Rule", Value: "version_mismatch"}},
	}
}

// panicky panics in every method but Describe, whose answer is nil.
type panicky struct{}

func (panicky) Describe(context.Context) (*sdk.Description, error) { return nil, nil }
func (panicky) Configure(context.Context, sdk.Config) (sdk.Diagnostics, error) {
	panic("configure boom")
}
func (panicky) Check(context.Context) error { panic("check boom") }
func (panicky) Send(context.Context, []*sdk.Message) ([]sdk.Result, error) {
	panic("send boom")
}

// TestGRPC_PanicsBecomeErrors: a bug in a plugin is an error for the
// agent, not a dead plugin process.
func TestGRPC_PanicsBecomeErrors(t *testing.T) {
	tr := connect(t, panicky{})
	ctx := context.Background()
	if _, err := tr.Describe(ctx); err == nil {
		t.Error("a nil description must be an error")
	}
	if _, err := tr.Configure(ctx, sdk.Config{}); err == nil || !strings.Contains(err.Error(), "configure boom") {
		t.Errorf("Configure = %v", err)
	}
	if err := tr.Check(ctx); err == nil || !strings.Contains(err.Error(), "check boom") {
		t.Errorf("Check = %v", err)
	}
	_, err := tr.Send(ctx, []*sdk.Message{testMessage("a@x")})
	if de := sdk.AsDeliveryError(err); de == nil || de.Kind != sdk.Permanent || !strings.Contains(err.Error(), "send boom") || !strings.Contains(de.Remedy, "bug in the plugin") {
		t.Errorf("Send = %v (%+v)", err, de)
	}
	// The server is still alive.
	if _, err := tr.Describe(ctx); err == nil {
		t.Error("describe after panics")
	}
}
