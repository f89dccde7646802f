package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// SettingsPeer returns the peer this agent takes its transports and
// contacts from (a peer block's settings_from, or the failover library's
// take_settings_from_primary), or nil.
func (c *Config) SettingsPeer() *Check {
	for _, p := range c.Peers {
		if p.Spec.Peer != nil && p.Spec.Peer.SettingsFrom {
			return p
		}
	}
	return nil
}

// SyncedTransport is a transport as a settings peer serves it: its
// settings already decoded by the peer's plugin schema, secrets resolved.
type SyncedTransport struct {
	Name, Plugin, From, Path, SHA256 string
	RateLimit                        Rate
	SendTimeout                      time.Duration
	// Settings is the JSON object of the config block's values.
	Settings []byte
	// TestTo is where the transport's test mail goes (test_to): the
	// backup tests what it took, as the primary tests its own.
	TestTo []string
	// ClientSecretExpires is client_secret_expires: the backup warns of
	// the secret it took as the primary does.
	ClientSecretExpires time.Time
}

// NewSyncedTransport returns the transport s, as taken from origin (such
// as `peer "primary"`): DecodeSettings checks its settings against the
// schema of this agent's plugin, as it would a config block.
func NewSyncedTransport(s SyncedTransport, origin string) *Transport {
	rng := hcl.Range{Filename: origin}
	return &Transport{
		Name: s.Name, Plugin: s.Plugin, From: s.From, Path: s.Path, SHA256: s.SHA256,
		RateLimit: s.RateLimit, SendTimeout: s.SendTimeout, TestTo: slices.Clone(s.TestTo), ClientSecretExpires: s.ClientSecretExpires, Origin: origin,
		DeclRange: rng, PluginRange: rng, defRange: rng, configRange: rng,
		preset: slices.Clone(s.Settings),
	}
}

// Synced returns what t is as a settings peer serves it; its Settings
// must have been decoded.
func (t *Transport) Synced() SyncedTransport {
	return SyncedTransport{Name: t.Name, Plugin: t.Plugin, From: t.From, Path: t.Path, SHA256: t.SHA256,
		RateLimit: t.RateLimit, SendTimeout: t.SendTimeout, Settings: slices.Clone(t.Settings.JSON()), TestTo: slices.Clone(t.TestTo), ClientSecretExpires: t.ClientSecretExpires}
}

// WithSynced returns a copy of c whose transports and contacts of the
// same names as ts and cs are replaced by them (the settings peer's
// win), and the others added after c's own. replaced names those of c
// that were replaced, sorted.
func (c *Config) WithSynced(ts []*Transport, cs []*Contact) (out *Config, replaced []string) {
	cp := *c
	byT := map[string]bool{}
	for _, t := range ts {
		byT[t.Name] = true
	}
	byC := map[string]bool{}
	for _, k := range cs {
		byC[k.Name] = true
	}
	cp.Transports = nil
	for _, t := range c.Transports {
		if byT[t.Name] {
			replaced = append(replaced, "transport "+t.Name)
			continue
		}
		cp.Transports = append(cp.Transports, t)
	}
	cp.Transports = append(cp.Transports, ts...)
	cp.Contacts = nil
	for _, k := range c.Contacts {
		if byC[k.Name] {
			replaced = append(replaced, "contact "+k.Name)
			continue
		}
		cp.Contacts = append(cp.Contacts, k)
	}
	cp.Contacts = append(cp.Contacts, cs...)
	sort.Strings(replaced)
	return &cp, replaced
}

// fromPeer makes the errors of diags (names of transports and contacts
// not declared) warnings when this agent takes its settings from a peer:
// the names are expected from there.
func (l *loader) fromPeer(diags hcl.Diagnostics) hcl.Diagnostics {
	p := l.cfg.SettingsPeer()
	if p == nil {
		return diags
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		w := *d
		if w.Severity == hcl.DiagError {
			w.Severity = hcl.DiagWarning
			w.Detail += fmt.Sprintf(" This agent takes its transports and contacts from peer %q (settings_from), so the name may come from there: tocsin validate lists what the last sync brought, and until a sync brings it, what needs it is not sent.", p.Name)
		}
		out[i] = &w
	}
	return out
}

// decodePreset is DecodeSettings for a transport taken from a settings
// peer: its values are JSON, checked against this agent's plugin's
// schema as a config block would be.
func (t *Transport) decodePreset(schema sdk.Schema, plugin string) hcl.Diagnostics {
	bad := func(format string, args ...any) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Synced settings do not fit the plugin",
			Detail:  fmt.Sprintf("Transport %q from %s: ", t.Name, t.Origin) + fmt.Sprintf(format, args...) + " Install the same plugin (and version) as on the peer, or fix the transport there.",
			Subject: t.DeclRange.Ptr()}}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(t.preset, &raw); err != nil {
		return bad("the settings are not a JSON object: %v.", err)
	}
	known := map[string]bool{}
	for _, a := range schema {
		known[a.Name] = true
	}
	var unknown []string
	for name := range raw {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return bad("this agent's %s plugin has no setting %s.", plugin, strings.Join(unknown, ", "))
	}
	var diags hcl.Diagnostics
	values := map[string]cty.Value{}
	for _, a := range schema {
		r, ok := raw[a.Name]
		if !ok || string(r) == "null" {
			if a.Required {
				diags = append(diags, bad("this agent's %s plugin needs %s, which the peer does not set.", plugin, a.Name)...)
			}
			continue
		}
		v, err := ctyjson.Unmarshal(r, ctyType(a.Type))
		if err != nil {
			diags = append(diags, bad("%s is not a %s.", a.Name, typeNoun(a.Type))...)
			continue
		}
		if a.Sensitive {
			t.remember(v)
		}
		if d := checkValue(a, v, t.DeclRange, plugin); d != nil {
			diags = append(diags, d)
			continue
		}
		values[a.Name] = v
	}
	if diags.HasErrors() {
		return diags
	}
	obj := cty.EmptyObjectVal
	if len(values) > 0 {
		obj = cty.ObjectVal(values)
	}
	js, err := ctyjson.Marshal(obj, obj.Type())
	if err != nil {
		return bad("the settings cannot be encoded: %v.", err)
	}
	t.Settings = sdk.NewSettings(js)
	return diags
}
