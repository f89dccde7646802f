package sdk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// reporting is a fakeTransport that says when its credential expires.
type reporting struct {
	fakeTransport
	lifetime *sdk.CredentialLifetime
	err      error
	asked    int
}

func (r *reporting) CredentialLifetime(context.Context) (*sdk.CredentialLifetime, error) {
	r.asked++
	return r.lifetime, r.err
}

// lifetimeOf configures the agent's view of impl and returns what it
// reports of the credential's lifetime.
func lifetimeOf(t *testing.T, impl sdk.Transport) *sdk.CredentialLifetime {
	t.Helper()
	tr := connect(t, impl)
	if _, err := tr.Configure(context.Background(), sdk.Config{Transport: "relay"}); err != nil {
		t.Fatal(err)
	}
	r, ok := tr.(sdk.CredentialReporter)
	if !ok {
		t.Fatal("the agent's side of a plugin is not a CredentialReporter")
	}
	l, err := r.CredentialLifetime(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestGRPC_CredentialLifetime: what a plugin reports with Configure
// reaches the agent; a plugin that does not implement CredentialReporter
// (as every plugin built before it) still configures, and reports
// nothing, as does one whose report fails or whose settings have errors.
func TestGRPC_CredentialLifetime(t *testing.T) {
	expires := time.Date(2027, 3, 1, 12, 30, 0, 0, time.UTC)
	t.Run("reported", func(t *testing.T) {
		impl := &reporting{lifetime: &sdk.CredentialLifetime{Expires: expires, What: "API key alerts-2026"}}
		l := lifetimeOf(t, impl)
		if l == nil || !l.Expires.Equal(expires) || l.What != "API key alerts-2026" {
			t.Errorf("lifetime %+v, want %s, API key alerts-2026", l, expires)
		}
	})
	t.Run("a plugin that does not report it", func(t *testing.T) {
		impl := &fakeTransport{}
		if l := lifetimeOf(t, impl); l != nil {
			t.Errorf("lifetime %+v, want nil", l)
		}
		if impl.cfg.Transport != "relay" {
			t.Errorf("configured with %+v", impl.cfg)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		if l := lifetimeOf(t, &reporting{}); l != nil {
			t.Errorf("lifetime %+v, want nil", l)
		}
	})
	t.Run("the report fails", func(t *testing.T) {
		if l := lifetimeOf(t, &reporting{lifetime: &sdk.CredentialLifetime{Expires: expires}, err: errors.New("no certificate")}); l != nil {
			t.Errorf("lifetime %+v, want nil", l)
		}
	})
	t.Run("settings with errors are not asked", func(t *testing.T) {
		impl := &reporting{lifetime: &sdk.CredentialLifetime{Expires: expires}}
		impl.diags = impl.diags.Errorf("host", "Set host.", "host is missing")
		if l := lifetimeOf(t, impl); l != nil || impl.asked != 0 {
			t.Errorf("lifetime %+v after %d questions, want nil after none", l, impl.asked)
		}
	})
	t.Run("a later Configure replaces it", func(t *testing.T) {
		impl := &reporting{lifetime: &sdk.CredentialLifetime{Expires: expires}}
		tr := connect(t, impl)
		ctx := context.Background()
		if _, err := tr.Configure(ctx, sdk.Config{}); err != nil {
			t.Fatal(err)
		}
		impl.lifetime = nil
		if _, err := tr.Configure(ctx, sdk.Config{}); err != nil {
			t.Fatal(err)
		}
		if l, _ := tr.(sdk.CredentialReporter).CredentialLifetime(ctx); l != nil {
			t.Errorf("lifetime %+v after a Configure that reported none, want nil", l)
		}
	})
}
