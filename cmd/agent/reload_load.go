package main

import (
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
)

// loadForReload is config.Load for a running agent: a panic in the loader
// (a defect of Tocsin, which FuzzLoad and FuzzReload hunt for) refuses the
// reload instead of killing the agent. Load only reads files, so nothing
// is left half done. A stack overflow cannot be recovered from; the limits
// of config.CheckSource keep the loader far from one.
func loadForReload(path string, logger hclog.Logger) (cfg *config.Config, diags hcl.Diagnostics) {
	defer func() {
		if p := recover(); p != nil {
			logger.Error("the configuration loader failed; this is a defect of Tocsin, please report it with the stack", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			cfg = config.DefaultConfig()
			diags = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Configuration loader failed",
				Detail:   fmt.Sprintf("Loading %s failed inside Tocsin (%v). The old configuration keeps running; report this with the log.", path, p),
			}}
		}
	}()
	return config.Load(path)
}
