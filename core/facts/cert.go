package facts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// KindCert is the kind that reads when a TLS certificate expires, from a
// PEM file or from a server.
const KindCert Kind = "cert"

// CertSpec is a check of a TLS certificate's dates. Exactly one of File
// and Address is set. It goes in Spec.Options.
type CertSpec struct {
	// File is a PEM file. Its first certificate is the one checked; the
	// others help verify it (intermediates).
	File string
	// Address is "host:port" of a TLS server; the certificate it presents
	// is checked. An expired or untrusted certificate is read all the
	// same: verification decides Verified, never whether it is read.
	Address string
	// ServerName is the name the certificate is verified for and, with
	// Address, the name asked for in the handshake (SNI); default the
	// host of Address. Without it, a File is verified for no name.
	ServerName string
	// CAFile is a PEM file of the certificate authorities to verify
	// against instead of the system's.
	CAFile string
}

// maxCertFile caps how much of a PEM file a cert check reads: a chain is
// a few kilobytes.
const maxCertFile = 1 << 20

// certValues are the values of a cert fact.
var certValues = map[string]cty.Type{
	"file":         cty.String,
	"address":      cty.String,
	"days_left":    cty.Number,
	"not_after":    cty.String,
	"not_before":   cty.String,
	"subject":      cty.String,
	"issuer":       cty.String,
	"verified":     cty.Bool,
	"verify_error": cty.String,
}

func init() {
	register(80, &kindDef{
		name: KindCert,
		args: []Arg{
			// cert = "host:port" reads a server's certificate; any
			// other value is a PEM file.
			{Name: "cert", Main: true, Type: cty.String, Field: "cert.address", Set: func(s *Spec, v cty.Value, c ArgContext) error {
				if isAddress(v.AsString()) {
					s.Options = &CertSpec{Address: v.AsString()}
				} else {
					s.Options = &CertSpec{File: c.path(v.AsString())}
				}
				return nil
			}},
			{Name: "server_name", Type: cty.String, Field: "cert.server_name", Set: setString(func(s *Spec) *string { return &certSpec(*s).ServerName })},
			{Name: "ca_file", Type: cty.String, Set: setPath(func(s *Spec) *string { return &certSpec(*s).CAFile })},
		},
		values:   certValues,
		has:      func(s Spec) bool { return certSpec(s) != nil },
		defaults: func(s Spec) Spec { c := *certSpec(s); s.Options = &c; return s },
		valid: func(s Spec, add addFunc) {
			c := certSpec(s)
			switch {
			case c.File != "" && c.Address != "":
				add("cert", "set file or address, not both")
			case c.File == "" && c.Address == "":
				add("cert", "set file (a PEM file) or address (host:port of a TLS server)")
			case c.Address != "":
				if err := checkHostPort(c.Address); err != nil {
					add("cert.address", "%v", err)
				}
			}
			if c.ServerName != "" && strings.ContainsAny(c.ServerName, " /:") {
				add("cert.server_name", "%q is not a host name", c.ServerName)
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if c := certSpec(s); c != nil {
				if c.File != "" {
					v["file"] = stringVal(c.File)
				}
				if c.Address != "" {
					v["address"] = stringVal(c.Address)
				}
			}
		},
		run: checkCert,
	})
}

// certSpec returns the cert settings of s, or nil.
func certSpec(s Spec) *CertSpec {
	c, _ := s.Options.(*CertSpec)
	return c
}

// isAddress reports whether a cert argument is "host:port" rather than a
// file: no slash, a host, and a numeric port. A file whose name looks so
// is written with its directory ("./db:5432").
func isAddress(v string) bool {
	if strings.ContainsAny(v, `/\`) {
		return false
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// checkCert reads the certificate, from the file or from the server, and
// records its dates, names and whether it verifies. Values: file or
// address, days_left (whole days until not_after, negative once past),
// not_after and not_before (RFC 3339), subject, issuer, verified,
// verify_error (empty when verified). It succeeds when the certificate
// was read and is valid now; an untrusted certificate still succeeds, with
// verified false.
func checkCert(ctx context.Context, s Spec, e *env, v map[string]cty.Value) error {
	c := certSpec(s)
	var chain []*x509.Certificate
	var err error
	name := c.ServerName
	if c.Address != "" {
		if name == "" {
			name, _, _ = net.SplitHostPort(c.Address)
		}
		chain, err = serverChain(ctx, c.Address, name)
	} else {
		chain, err = fileChain(ctx, c.File)
	}
	if err != nil {
		return err
	}
	leaf := chain[0]
	now := e.now()
	v["days_left"] = cty.NumberIntVal(int64(math.Floor(leaf.NotAfter.Sub(now).Hours() / 24)))
	v["not_after"] = timeVal(leaf.NotAfter)
	v["not_before"] = timeVal(leaf.NotBefore)
	v["subject"] = stringVal(leaf.Subject.String())
	v["issuer"] = stringVal(leaf.Issuer.String())

	verr := verifyChain(chain, name, c.CAFile, now)
	v["verified"] = cty.BoolVal(verr == nil)
	v["verify_error"] = cty.StringVal("")
	if verr != nil {
		v["verify_error"] = stringVal(verr.Error())
	}

	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("certificate %q expired on %s", leaf.Subject.String(), leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("certificate %q is not valid before %s", leaf.Subject.String(), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// serverChain returns the certificates the TLS server at address
// presents, leaf first, asking for serverName. It does not verify them
// (verifyChain does), so an expired or untrusted certificate is read too,
// and so is the certificate of a server that then ends the handshake
// (one that wants a client certificate).
func serverChain(ctx context.Context, address, serverName string) ([]*x509.Certificate, error) {
	var raw [][]byte
	d := tls.Dialer{Config: &tls.Config{
		ServerName: serverName,
		// Verification is done apart, so that a certificate that does
		// not verify can still be read.
		InsecureSkipVerify: true, //nolint:gosec // read only, verified in verifyChain
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			raw = rawCerts
			return nil
		},
	}}
	conn, err := d.DialContext(ctx, "tcp", address)
	if err == nil {
		_ = conn.Close()
	}
	if len(raw) == 0 {
		if err == nil {
			err = fmt.Errorf("%s presented no certificate", address)
		}
		return nil, err
	}
	chain := make([]*x509.Certificate, 0, len(raw))
	for i, der := range raw {
		cert, perr := x509.ParseCertificate(der)
		if perr != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", address, i+1, perr)
		}
		chain = append(chain, cert)
	}
	return chain, nil
}

// fileChain returns the certificates of a PEM file, in file order.
func fileChain(ctx context.Context, path string) ([]*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, truncated, err := readCapped(ctx, f, maxCertFile)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if truncated {
		return nil, fmt.Errorf("%s is larger than %d bytes, too large for a PEM certificate file", path, maxCertFile)
	}
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", path, len(chain)+1, err)
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return chain, nil
}

// verifyChain verifies chain[0] at now, with the rest of chain as
// intermediates, against caFile's authorities (the system's when empty),
// for name when it is set.
func verifyChain(chain []*x509.Certificate, name, caFile string, now time.Time) error {
	opts := x509.VerifyOptions{DNSName: name, CurrentTime: now, Intermediates: x509.NewCertPool()}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if caFile != "" {
		data, err := os.ReadFile(caFile)
		if err != nil {
			return fmt.Errorf("cert.ca_file: %w", err)
		}
		opts.Roots = x509.NewCertPool()
		if !opts.Roots.AppendCertsFromPEM(data) {
			return fmt.Errorf("cert.ca_file: no PEM certificate in %s", caFile)
		}
	}
	_, err := chain[0].Verify(opts)
	return err
}
