package main

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

type pluginsCommand struct{ meta }

func (c *pluginsCommand) Synopsis() string { return "List the installed transport plugins" }

func (c *pluginsCommand) Help() string {
	return `Usage: tocsin plugins [-config PATH | -plugin-dir DIR]

  Starts each plugin in the local and the bundled plugin directory, and
  each plugin a transport names by path, and prints its name, version,
  protocol, SDK version and SHA-256 (the value a transport block's sha256
  pin takes).

  A plugin in local_plugin_dir (third-party plugins; in the package,
  /usr/local/lib/tocsin/plugins) wins over a bundled one of the same name
  in plugin_dir: the bundled one is listed too, marked "shadowed by" the
  local one, and a warning says so.

Options:

  -config PATH      Configuration whose plugin_dir, local_plugin_dir and
                    transports to use.
  -plugin-dir DIR   Plugin directory (default: plugin_dir of -config, else
                    "plugins" next to the tocsin binary, or
                    /usr/lib/tocsin/plugins for the package's
                    /usr/bin/tocsin).`
}

func (c *pluginsCommand) Run(args []string) int {
	fs := c.flags("plugins", c.Help())
	path := fs.String("config", "", "")
	dir := fs.String("plugin-dir", "", "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	cfg := config.DefaultConfig()
	if *path != "" {
		var ok bool
		if cfg, ok = c.load(*path); !ok {
			return exitError
		}
	}
	if *dir != "" {
		abs, err := filepath.Abs(*dir)
		if err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
		cfg.Agent.PluginDir = abs
	}
	host := agent.NewPluginHost(c.quietLogger(), cfg.Agent)
	defer host.Close()

	// shadowedBy is the local plugin that hides a bundled one.
	type entry struct{ plugin, path, shadowedBy string }
	var entries []entry
	names, err := host.Available()
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	for _, n := range names {
		entries = append(entries, entry{plugin: n})
		if bundled := host.Shadowed(n); bundled != "" {
			local, _ := host.Find(n, "")
			entries = append(entries, entry{plugin: n, path: bundled, shadowedBy: local})
			fmt.Fprintf(c.stderr, "Warning: plugin %s: %s shadows the bundled %s, which the agent does not run. Remove the local copy, or pin its sha256 in the transport blocks that use it.\n", n, local, bundled)
		}
	}
	for _, t := range cfg.Transports {
		if t.Path != "" {
			entries = append(entries, entry{plugin: t.Plugin, path: t.Path})
		}
	}
	if len(entries) == 0 {
		dirs := cfg.Agent.PluginDir
		if cfg.Agent.LocalPluginDir != "" {
			dirs = cfg.Agent.LocalPluginDir + " or " + dirs
		}
		fmt.Fprintf(c.stderr, "No plugins in %s.\n", dirs)
		return exitError
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tSDK\tSHA256\tPATH")
	failed := false
	for _, e := range entries {
		in := host.Instance(pluginhost.Spec{Name: e.plugin, Plugin: e.plugin, Path: e.path})
		d, err := in.Describe(ctx)
		p, ferr := host.Find(e.plugin, e.path)
		if ferr != nil {
			p = e.path
		}
		sum, serr := pluginhost.Checksum(p)
		if serr != nil {
			sum = "-"
		}
		if e.shadowedBy != "" {
			p += " (shadowed by " + e.shadowedBy + ")"
		}
		if err != nil {
			failed = true
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\t%s\n", e.plugin, sum, p)
			fmt.Fprintf(c.stderr, "Error: plugin %s: %v\n", e.plugin, err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", d.Name, d.Version, d.ProtocolVersion, d.SDKVersion, sum, p)
		in.Kill()
	}
	_ = tw.Flush()
	if failed {
		return exitError
	}
	return exitOK
}
