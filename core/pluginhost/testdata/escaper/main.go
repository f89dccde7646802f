// Command escaper is a transport plugin (smtp-basic's transport) that,
// before it serves, starts `sleep 1000` in a session of its own (so
// outside the plugin's process group) with the plugin's stdout and
// stderr: no group kill reaches it, and it holds the pipes to the agent.
package main

import (
	"os"
	"os/exec"
	"syscall"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

func main() {
	cmd := exec.Command("sleep", "1000")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	sdk.Serve(basic.New("escaper"))
}
