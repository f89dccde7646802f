// Command inheritor is a transport plugin (smtp-basic's transport) that,
// before it serves, starts `sleep 1000` with its own stdout and stderr, so
// the pipes to the agent stay open after the plugin itself exits.
package main

import (
	"os"
	"os/exec"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

func main() {
	cmd := exec.Command("sleep", "1000")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	sdk.Serve(basic.New("inheritor"))
}
