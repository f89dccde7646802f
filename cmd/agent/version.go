package main

import (
	"fmt"
	"runtime"

	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

type versionCommand struct{ meta }

func (c *versionCommand) Synopsis() string { return "Print the version" }

func (c *versionCommand) Help() string {
	return `Usage: tocsin version

  Prints the agent's version, the Go release it was built with, and the
  plugin protocol and SDK versions it speaks.`
}

func (c *versionCommand) Run(args []string) int {
	fs := c.flags("version", c.Help())
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	fmt.Fprintf(c.stdout, "tocsin %s (%s %s/%s), plugin protocol %d, sdk %s\n",
		buildinfo.Version, buildinfo.GoVersion(), runtime.GOOS, runtime.GOARCH, sdk.ProtocolVersion, sdk.SDKVersion)
	return exitOK
}
