package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// TestStartPlugin starts the real smtp-basic plugin process and talks to
// it over gRPC: Describe answers with the plugin's name, Check before
// Configure fails as the plugin says, LoginConfig says it has no login,
// and what the plugin logged reaches Logs once it is killed.
func TestStartPlugin(t *testing.T) {
	t.Parallel()
	p, logs := sdktest.StartPlugin(t, "smtp-basic", "github.com/tocsin-dev/tocsin/plugins/smtp-basic")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	d, err := p.Describe(ctx)
	if err != nil || d.Name != "smtp-basic" || d.SDKVersion != sdk.SDKVersion || d.MaxMessageBytes != sdk.MaxRequestBytes {
		t.Fatalf("Describe = %+v, %v; want smtp-basic, SDK %s, %d bytes", d, err, sdk.SDKVersion, sdk.MaxRequestBytes)
	}
	var de *sdk.DeliveryError
	if err := p.Check(ctx); !errors.As(err, &de) || de.Kind != sdk.Permanent {
		t.Errorf("Check before Configure = %v; want a permanent error", err)
	}
	if _, err := p.LoginConfig(ctx); !errors.Is(err, sdk.ErrNoLogin) {
		t.Errorf("LoginConfig = %v; want sdk.ErrNoLogin", err)
	}
	diags, err := p.Configure(ctx, sdk.Config{Transport: "relay", From: "a@b.example", Settings: sdk.NewSettings([]byte(`{"port": "x"}`)), SaveCredential: func(string) {}})
	if err == nil && !diags.HasErrors() {
		t.Errorf("Configure with a bad port = %+v, %v; want an error", diags, err)
	}
	p.Kill()
	// go-plugin relays the plugin's own stderr under its logger's name.
	if !strings.Contains(logs.String(), "plugin.smtp-basic.tocsin-plugin-smtp-basic: ") {
		t.Errorf("logs %q; want lines the plugin process wrote", logs.String())
	}
}
