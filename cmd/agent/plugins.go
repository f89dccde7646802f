package main

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
)

type pluginsCommand struct{ meta }

func (c *pluginsCommand) Synopsis() string { return "List the installed transport plugins" }

func (c *pluginsCommand) Help() string {
	return `Usage: tocsin plugins [-config PATH | -plugin-dir DIR]

  Starts each plugin in the plugin directory, and each plugin a transport
  names by path, and prints its name, version, protocol, SDK version and
  SHA-256 (the value a transport block's sha256 pin takes).

Options:

  -config PATH      Configuration whose plugin_dir and transports to use.
  -plugin-dir DIR   Plugin directory (default: plugin_dir of -config, else
                    "plugins" next to the tocsin binary).`
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
	host := pluginhost.New(c.quietLogger(), cfg.Agent.PluginDir)
	defer host.Close()

	type entry struct{ plugin, path string }
	var entries []entry
	names, err := host.Available()
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	for _, n := range names {
		entries = append(entries, entry{plugin: n})
	}
	for _, t := range cfg.Transports {
		if t.Path != "" {
			entries = append(entries, entry{plugin: t.Plugin, path: t.Path})
		}
	}
	if len(entries) == 0 {
		fmt.Fprintf(c.stderr, "No plugins in %s.\n", cfg.Agent.PluginDir)
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
