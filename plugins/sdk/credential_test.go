package sdk_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// rotating is a transport that rotates its credential on every Check and
// Send, as a provider that issues a new refresh token with each access
// token makes a plugin do.
type rotating struct {
	fakeTransport
	login *sdk.LoginConfig
	n     int
}

func (r *rotating) Check(context.Context) error {
	r.n++
	r.cfg.SaveCredential(r.cfg.Credential + "-check")
	return nil
}

func (r *rotating) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	r.cfg.SaveCredential(r.cfg.Credential + "-send")
	if len(msgs) == 0 {
		return nil, sdk.PermanentError(errors.New("nothing to send"), "", "")
	}
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		out[i] = sdk.Result{MessageID: m.ID}
	}
	return out, nil
}

func (r *rotating) LoginConfig(context.Context) (*sdk.LoginConfig, error) { return r.login, nil }

// saves records what reaches the agent's SaveCredential.
type saves struct {
	mu  sync.Mutex
	got []string
}

func (s *saves) save(v string) { s.mu.Lock(); s.got = append(s.got, v); s.mu.Unlock() }

func (s *saves) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func TestGRPC_CredentialTravelsBothWays(t *testing.T) {
	impl := &rotating{}
	tr := connect(t, impl)
	ctx := context.Background()
	var s saves
	if _, err := tr.Configure(ctx, sdk.Config{Transport: "m365", Settings: sdk.NewSettings([]byte(`{}`)), Credential: "rt-1", SaveCredential: s.save}); err != nil {
		t.Fatal(err)
	}
	if impl.cfg.Credential != "rt-1" {
		t.Fatalf("plugin got credential %q, want rt-1", impl.cfg.Credential)
	}
	if impl.cfg.SaveCredential == nil {
		t.Fatal("plugin got a nil SaveCredential")
	}
	if err := tr.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Send(ctx, []*sdk.Message{testMessage("a@example.com")}); err != nil {
		t.Fatal(err)
	}
	// A batch error still carries the rotated credential: the provider
	// rotated it whether or not the mail went.
	if _, err := tr.Send(ctx, nil); err == nil {
		t.Fatal("empty batch: want the transport's error")
	}
	want := []string{"rt-1-check", "rt-1-send", "rt-1-send"}
	if got := s.all(); !reflect.DeepEqual(got, want) {
		t.Errorf("agent saved %q, want %q", got, want)
	}
}

func TestGRPC_NoCredentialSavedNoCall(t *testing.T) {
	tr := connect(t, &fakeTransport{})
	var s saves
	if _, err := tr.Configure(context.Background(), sdk.Config{Settings: sdk.NewSettings([]byte(`{}`)), SaveCredential: s.save}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.all(); len(got) != 0 {
		t.Errorf("SaveCredential called with %q for a transport that saved nothing", got)
	}
}

func TestGRPC_LoginConfig(t *testing.T) {
	want := &sdk.LoginConfig{
		AuthURL: "https://login.example/authorize", TokenURL: "https://login.example/token",
		NoDeviceReason: "no device flow for these scopes",
		ClientID:       "client", ClientSecret: "s3cret", Scopes: []string{"a", "b"},
		AuthParams: map[string]string{"access_type": "offline"},
		CACertsPEM: []byte("-----BEGIN CERTIFICATE-----"), Account: "alerts@example.com",
	}
	tr := connect(t, &rotating{login: want})
	got, err := tr.(sdk.Authorizer).LoginConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoginConfig over gRPC =\n%+v\nwant\n%+v", got, want)
	}

	plain := connect(t, &fakeTransport{})
	if _, err := plain.(sdk.Authorizer).LoginConfig(context.Background()); !errors.Is(err, sdk.ErrNoLogin) {
		t.Errorf("LoginConfig of a transport without login: err = %v, want ErrNoLogin", err)
	}
}
