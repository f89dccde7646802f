// Command misbehave is a transport plugin that fails on purpose, to test
// that one broken transport does not stop the agent. It is smtp-basic
// with three more settings, each the path of a marker file:
//
//   - exit_while is read from $TOCSIN_TEST_EXIT_WHILE instead (the plugin
//     has no settings yet when it starts): while that file exists, the
//     plugin exits at once, before the handshake;
//   - hang_while: while that file exists, Configure hangs, deaf to the
//     agent's deadline;
//   - refuse_while: while that file exists, Configure refuses the
//     settings with an error diagnostic.
//
// Once the marker is gone, it behaves as smtp-basic.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

// ExitEnv names the variable holding the path of the exit marker.
const ExitEnv = "TOCSIN_TEST_EXIT_WHILE"

func main() {
	if p := os.Getenv(ExitEnv); p != "" && exists(p) {
		fmt.Fprintln(os.Stderr, "misbehave: exiting at once, as", p, "says")
		os.Exit(3)
	}
	sdk.Serve(&transport{Transport: basic.New("test")})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

type transport struct{ *basic.Transport }

var markers = []string{"hang_while", "refuse_while"}

func (t *transport) Describe(ctx context.Context) (*sdk.Description, error) {
	d, err := t.Transport.Describe(ctx)
	if err != nil {
		return nil, err
	}
	d.Name = "misbehave"
	d.Schema = append(append(sdk.Schema(nil), d.Schema...),
		sdk.Attribute{Name: "hang_while", Type: sdk.TypeString, Description: "Configure hangs while this file exists."},
		sdk.Attribute{Name: "refuse_while", Type: sdk.TypeString, Description: "Configure refuses while this file exists."},
	)
	return d, nil
}

func (t *transport) Configure(ctx context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	var m map[string]any
	if err := json.Unmarshal(cfg.Settings.JSON(), &m); err != nil {
		return nil, err
	}
	own := map[string]string{}
	for _, k := range markers {
		if v, ok := m[k].(string); ok {
			own[k] = v
		}
		delete(m, k)
	}
	if p := own["hang_while"]; p != "" {
		// A real hang: the agent's deadline is not looked at.
		for exists(p) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if p := own["refuse_while"]; p != "" && exists(p) {
		return sdk.Diagnostics{}.Errorf("refuse_while", "Remove "+p+".", "Refused on purpose"), nil
	}
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		return nil, err
	}
	cfg.Settings = s
	return t.Transport.Configure(ctx, cfg)
}
