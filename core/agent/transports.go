package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
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

// PrepareTransports starts the plugin of each transport in cfg (or only
// those named in only, when it is not empty), decodes its config block
// against the schema the plugin describes and configures it. Everything
// that is wrong comes back as diagnostics with the range of the offending
// setting; a transport with errors is left out of the result.
//
// creds (nil for none) supplies what `tocsin oauth login` stored for a
// transport, and receives the credentials plugins rotate.
func PrepareTransports(ctx context.Context, cfg *config.Config, host *pluginhost.Host, logger hclog.Logger, creds Credentials, only ...string) (Transports, hcl.Diagnostics) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var diags hcl.Diagnostics
	out := Transports{}
	for _, tc := range cfg.Transports {
		if len(only) > 0 && !contains(only, tc.Name) {
			continue
		}
		t, d := prepare(ctx, tc, host, logger, creds)
		diags = append(diags, d...)
		if t != nil {
			out[tc.Name] = t
		}
	}
	return out, diags
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func prepare(ctx context.Context, tc *config.Transport, host *pluginhost.Host, logger hclog.Logger, creds Credentials) (*Transport, hcl.Diagnostics) {
	in := host.Instance(pluginhost.Spec{Name: tc.Name, Plugin: tc.Plugin, Path: tc.Path, SHA256: tc.SHA256})
	desc, err := in.Describe(ctx)
	if err != nil {
		in.Kill()
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
		name := tc.Name
		pc.SaveCredential = func(value string) {
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
		return nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Plugin failed to configure",
			Detail:   fmt.Sprintf("The %s plugin of transport %q failed: %v", tc.Plugin, tc.Name, err),
			Subject:  tc.PluginRange.Ptr(),
		})
	}
	diags = append(diags, tc.PluginDiagnostics(tc.Plugin, pdiags)...)
	if diags.HasErrors() {
		in.Kill()
		return nil, diags
	}
	return &Transport{Config: tc, Plugin: in, Description: desc}, diags
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
		d.Detail = fmt.Sprintf("Transport %q: %v", tc.Name, err)
	}
	return d
}
