// Command tocsin is the Tocsin agent and its tools: run, validate,
// test-send, plugins and version. See README.md.
package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0 // done
	exitError = 1 // the command ran and failed: bad config, a failed send
	exitUsage = 2 // the command line was wrong
)

func run(args []string, stdout, stderr io.Writer) int {
	return newCLI(args, stdout, stderr).run()
}
