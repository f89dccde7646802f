package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/tocsin-dev/tocsin/core/identity"
)

type identityCommand struct{ meta }

func (c *identityCommand) Synopsis() string {
	return "Print the fingerprint of this agent's TLS identity, for the partner to pin"
}

func (c *identityCommand) Help() string {
	return `Usage: tocsin identity [-config PATH] [-cert FILE]

  Prints the SHA-256 fingerprint of the certificate this agent serves and
  presents to its partner, and the certificate's file. The partner pins
  it, the way SSH pins a host key: peer_fingerprint in its library block,
  or fingerprint in its peer block.

  The certificate is the agent block's tls_cert_file when it is set, else
  the identity the agent keeps in data_dir/tls. When there is none yet,
  the command generates it, as the agent's first start would, and says
  so. It reads the private key: run it as the agent's user or root.

  With -cert, it prints the fingerprint of any PEM certificate instead (a
  partner's .crt, or one copied from it), without a configuration.

  Exits 0 when the fingerprint was printed, 1 when not.

Options:
  -config PATH   Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).
  -cert FILE     Print the fingerprint of the PEM certificate in FILE.`
}

func (c *identityCommand) Run(args []string) int {
	fs := c.flags("identity", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	certFile := fs.String("cert", "", "")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["cert"] && set["config"]:
		return c.usageError(fs, "give -cert or -config, not both: -cert prints the fingerprint of a certificate file without a configuration")
	case set["cert"] && *certFile == "":
		return c.usageError(fs, "-cert needs the path of a PEM certificate file")
	case set["cert"]:
		return c.printCertFile(*certFile)
	}
	cfg, ok := c.load(*path)
	if !ok {
		return exitError
	}
	id, err := identity.Load(cfg.Agent.DataDir, cfg.Agent.TLSCertFile, cfg.Agent.TLSKeyFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	printIdentity(c.stdout, id.Fingerprint(), id.CertFile())
	if id.Created() {
		fmt.Fprintf(c.stdout, "Created:      just now, as the agent's first start would: a new identity, which no partner has pinned yet\n")
	}
	fmt.Fprintf(c.stdout, "\nPin it on the partner: peer_fingerprint = %q in its library block, or fingerprint in its peer block.\n", id.Fingerprint())
	return exitOK
}

// printCertFile prints the fingerprint of the PEM certificate in name.
func (c *identityCommand) printCertFile(name string) int {
	f, err := os.Open(name)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: read certificate: %v\n", err)
		return exitError
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxCertFile))
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: read certificate %s: %v\n", name, err)
		return exitError
	}
	fp, err := identity.FingerprintPEM(data)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %s: %v (a PEM file starts with -----BEGIN CERTIFICATE-----)\n", name, err)
		return exitError
	}
	printIdentity(c.stdout, fp, name)
	fmt.Fprintf(c.stdout, "\nTo trust it, pin it on the node that reads this one: peer_fingerprint = %q in its library block, or fingerprint in its peer block.\n", fp)
	return exitOK
}

// printIdentity prints a fingerprint and the file of its certificate.
func printIdentity(w io.Writer, fp, certFile string) {
	fmt.Fprintf(w, "Fingerprint:  %s\nCertificate:  %s\n", fp, certFile)
}
