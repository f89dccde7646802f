package main

import (
	"context"
	"fmt"
	"html"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/devsink"
)

// devListen is dev mode's status address when it is free.
const devListen = "127.0.0.1:9870"

// devConfig is the configuration dev mode writes and loads. It is a real
// config file, loaded by the real loader, so a newcomer can copy it.
const devConfig = `# Written by "tocsin run -dev". A real agent reads a file like this one:
# copy it, point the transport at your mail server, and run
#   tocsin validate -config FILE && tocsin run -config FILE

agent {
  node      = "dev"
  data_dir  = "data"          # relative paths are relative to this file
  listen    = %q
  log_level = "info"
}

# The dev sink: an SMTP server inside the agent on 127.0.0.1 that prints and
# saves every mail. The smtp-basic plugin talks to it like to any server.
transport "dev" {
  plugin = "smtp-basic"
  from   = "Tocsin dev <tocsin@dev.localhost>"
  config {
    host     = "127.0.0.1"
    port     = %d
    security = "none"           # plain SMTP is fine on loopback, nowhere else
  }
}

contact "dev" {
  email = ["operator@dev.localhost"]
  via   = [transport.dev]
}
`

func (c *runCommand) runDev(ctx context.Context, dir string) int {
	abs, err := filepath.Abs(dir)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	sink, err := devsink.Start(filepath.Join(abs, "mail"), c.stdout)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sink.Close(sctx)
	}()

	listen := devListen
	if ln, err := net.Listen("tcp", devListen); err != nil {
		listen = "127.0.0.1:0" // 9870 is taken: any free port will do
	} else {
		_ = ln.Close()
	}
	cfgPath := filepath.Join(abs, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(devConfig, listen, sink.Addr().Port)), 0o600); err != nil {
		fmt.Fprintf(c.stderr, "Error: write dev config: %v\n", err)
		return exitError
	}
	cfg, ok := c.load(cfgPath)
	if !ok {
		return exitError
	}
	hint := "Hint: dev mode runs the plugins next to the tocsin binary; build both with `make build` (or use `make dev`)."
	return c.serve(ctx, cfg, hint, func(a *agent.Agent, logger hclog.Logger) {
		fmt.Fprintf(c.stdout, `
==> Tocsin %s dev mode
    Config:   %s (written for you: a real config looks like it)
    Dev sink: smtp://%s, mail saved under %s
    Status:   http://%s/healthz
    Ctrl-C stops the agent.
`, buildinfo.Version, cfgPath, sink.Addr(), filepath.Join(abs, "mail"), a.Addr())
		rc, err := a.Notify(ctx, "dev", startupMail(cfg.Agent.Node, a.Addr()))
		if err != nil {
			fmt.Fprintf(c.stderr, "Error: the startup mail was not delivered:\n")
			printDeliveryError(c.stderr, err)
			return
		}
		logger.Info("startup mail accepted", "message_id", rc.MessageID, "server", rc.Receipt)
	})
}

func startupMail(node, addr string) agent.Mail {
	host, _ := os.Hostname()
	lines := []string{
		fmt.Sprintf("Tocsin %s started on node %q (host %s) at %s.", buildinfo.Version, node, host, time.Now().UTC().Format(time.RFC1123Z)),
		"",
		"This mail went from the agent through the smtp-basic plugin, a separate",
		"process spoken to over gRPC, to the dev sink. That is the whole path a",
		"real alert takes.",
		"",
		"Next: tocsin test-send -config FILE -transport NAME -to YOU@EXAMPLE.COM",
		"Status: http://" + addr + "/healthz",
	}
	text := strings.Join(lines, "\n") + "\n"
	var b strings.Builder
	b.WriteString("<html><body>")
	for _, l := range lines {
		b.WriteString("<p>" + html.EscapeString(l) + "</p>")
	}
	b.WriteString("</body></html>")
	return agent.Mail{Subject: fmt.Sprintf("[tocsin] %s: agent started", node), Text: text, HTML: b.String()}
}
