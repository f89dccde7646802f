// Command spawner is a transport plugin (smtp-basic's transport) that
// starts `sleep 1000` in Configure and never waits for it, to test that
// stopping a plugin stops the processes it started.
package main

import (
	"context"
	"os/exec"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

type spawner struct{ sdk.Transport }

func (s spawner) Configure(ctx context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	if err := exec.Command("sleep", "1000").Start(); err != nil {
		return nil, err
	}
	return s.Transport.Configure(ctx, cfg)
}

func main() { sdk.Serve(spawner{basic.New("spawner")}) }
