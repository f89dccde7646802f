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
	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/buildinfo"
	"github.com/tocsin-dev/tocsin/core/devpeer"
	"github.com/tocsin-dev/tocsin/core/devsink"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/outbox"
)

// devListen is dev mode's status address when it is free.
const devListen = "127.0.0.1:9870"

// devConfig is the configuration dev mode writes and loads. It is a real
// config file, loaded by the real loader, so a newcomer can copy it.
const devConfig = `# Written by "tocsin run -dev". A real agent reads a file like this one:
# copy it, point the transport at your mail server and the library at your
# appliances, and run
#   tocsin validate -config FILE && tocsin run -config FILE

agent {
  node      = "dev-backup"
  data_dir  = "data"          # relative paths are relative to this file
  listen    = %q
  log_level = "info"
  # The API is served over TLS with the identity dev mode generated for
  # this agent in data/tls (tocsin identity -config FILE prints its
  # fingerprint, which the partner pins). On loopback, as here, an agent
  # serves plain HTTP unless given these two lines; on a network address
  # it serves TLS with the identity it generates in data_dir by itself:
  # leave them out of a real config. Callers need a credential: this
  # host's tocsin command has data/admin.token, the partner its pinned
  # certificate.
  tls_cert_file = "data/tls/agent.crt"
  tls_key_file  = "data/tls/agent.key"
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

# The built-in failover rules (rules/README.md), for this agent as the
# backup of a simulated pair: the primary's agent at peer_url is played by
# dev mode itself and stops answering %s after the start.
library "failover" {
  role           = "backup"
  version        = "1.0"
  # The link is authenticated both ways, as between two real nodes: only
  # the agent presenting the certificate with this fingerprint is believed
  # (an impostor's answer is a failed peer fact), and this agent presents
  # its own identity, which the simulated primary pins in turn.
  peer_url         = %q
  peer_fingerprint = %q
  auto_failover  = true
  takeover_after = "2m"
  evaluate_every = "10s"         # rules and checks; default: each rule's schedule, checks every 30s
  heartbeat      = "@every 1m"   # a real agent says this once a day
  notify         = [contact.dev]
  disable        = ["startup"]   # dev mode sends its own startup mail at once
}
`

// devFaultAfter is when the simulated primary stops answering.
const devFaultAfter = 30 * time.Second

// devConfigText is devConfig for the agent listening on listen, the dev
// sink on smtpPort, and the simulated primary at peerURL with the
// certificate whose fingerprint is peerFingerprint.
func devConfigText(listen string, smtpPort int, peerURL, peerFingerprint string) string {
	return fmt.Sprintf(devConfig, listen, smtpPort, devFaultAfter, peerURL, peerFingerprint)
}

func (c *runCommand) runDev(ctx context.Context, dir string) int {
	abs, err := filepath.Abs(dir)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	// Dev mode starts afresh: alert state from an earlier run would keep
	// its alerts from firing again; the identities are made anew too.
	dataDir, primaryDir := filepath.Join(abs, "data"), filepath.Join(abs, "primary")
	for _, d := range []string{dataDir, primaryDir} {
		if err := os.RemoveAll(d); err != nil {
			fmt.Fprintf(c.stderr, "Error: %v\n", err)
			return exitError
		}
	}
	// The agent's identity, made before the config that names it: the
	// simulated primary pins it.
	own, err := identity.Load(dataDir, "", "")
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: dev mode's agent identity: %v\n", err)
		return exitError
	}
	primaryID, err := identity.Load(primaryDir, "", "")
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: dev mode's simulated primary's identity: %v\n", err)
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

	listen, err := devListenAddr()
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	primary, err := devpeer.Start(facts.NodeStatus{Name: "dev-primary", Role: "primary", Version: "1.0", AutoFailover: true}, buildinfo.Version, primaryID, own.Fingerprint())
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = primary.Close(sctx)
	}()
	cfgPath := filepath.Join(abs, "agent.hcl")
	cfgText := devConfigText(listen, sink.Addr().Port, primary.URL(), primary.Fingerprint())
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
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
    API:      https://%s, TLS with this agent's identity (%s);
              callers need a credential, such as %s for this host.
    Status:   %s
    Outbox:   %s
    HA pair:  this agent is the backup; dev mode plays the primary at %s,
              each pinning the other's certificate (peer_fingerprint).
              In %s the primary stops answering (a scripted fault): expect
              primary_unchecked_auto about 1.5 minutes after the fault and
              takeover a minute after that, and a heartbeat every minute.
    Ctrl-C stops the agent.
`, buildinfo.Version, cfgPath, sink.Addr(), filepath.Join(abs, "mail"), a.Addr(), own.Fingerprint(), apiauth.LocalTokenPath(dataDir),
			devStatusCommand(a.Addr(), own.CertFile(), apiauth.LocalTokenPath(dataDir)), devOutboxCommand(cfgPath), primary.URL(), devFaultAfter)
		go c.devFault(ctx, primary)
		id, err := a.Enqueue(ctx, agent.Notice{Source: "dev_startup", Contact: "dev", Mail: startupMail(cfg.Agent.Node, a.Addr())})
		if err != nil {
			fmt.Fprintf(c.stderr, "Error: the startup mail was not queued: %v\n", err)
			return
		}
		if id != "" { // "": muted
			logger.Info("startup mail queued; the outbox delivers it", "message_id", id)
		}
	}, "")
}

// devStatusCommand is the shell command that reads the status of the dev
// agent at addr: curl trusting exactly the agent's certificate, with the
// local admin token as credential.
func devStatusCommand(addr, certFile, tokenFile string) string {
	return fmt.Sprintf(`curl --cacert %s -H "Authorization: Bearer $(cat %s)" https://%s/v1/status`,
		shellQuote(certFile), shellQuote(tokenFile), addr)
}

// devOutboxCommand is the tocsin command that lists the dev agent's
// outbox, through its API: the running tocsin binary, by its path, since
// `make dev` does not put it on PATH.
func devOutboxCommand(cfgPath string) string {
	bin, err := os.Executable()
	if err != nil {
		bin = "tocsin"
	}
	return shellQuote(bin) + " outbox list -config " + shellQuote(cfgPath)
}

// devFault plays the scripted fault: the simulated primary stops
// answering after devFaultAfter, unless the agent stops first.
func (c *runCommand) devFault(ctx context.Context, primary *devpeer.Peer) {
	select {
	case <-ctx.Done():
	case <-time.After(devFaultAfter):
		primary.Fail()
		fmt.Fprintf(c.stdout, "\n==> dev: scripted fault: the simulated primary stops answering now (%s).\n\n", time.Now().Format(time.TimeOnly))
	}
}

// devListenAddr returns 127.0.0.1:9870 when it is free, else another free
// port: the address goes into the config, which the library's self check
// reads, so it must be known before the agent starts.
func devListenAddr() (string, error) {
	ln, err := net.Listen("tcp", devListen)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("no free port on 127.0.0.1: %w", err)
		}
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr, nil
}

func startupMail(node, addr string) outbox.Mail {
	host, _ := os.Hostname()
	lines := []string{
		fmt.Sprintf("Tocsin %s started on node %q (host %s) at %s.", buildinfo.Version, node, host, time.Now().UTC().Format(time.RFC1123Z)),
		"",
		"This mail went from the agent through the smtp-basic plugin, a separate",
		"process spoken to over gRPC, to the dev sink. That is the whole path a",
		"real alert takes.",
		"",
		"Next: tocsin test-send -config FILE -transport NAME -to YOU@EXAMPLE.COM",
		"Health: https://" + addr + "/healthz",
	}
	text := strings.Join(lines, "\n") + "\n"
	var b strings.Builder
	b.WriteString("<html><body>")
	for _, l := range lines {
		b.WriteString("<p>" + html.EscapeString(l) + "</p>")
	}
	b.WriteString("</body></html>")
	return outbox.Mail{Subject: fmt.Sprintf("[tocsin] %s: agent started", node), Text: text, HTML: b.String()}
}
