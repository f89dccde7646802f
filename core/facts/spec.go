package facts

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Defaults applied by Spec.WithDefaults to fields left at their zero value.
const (
	DefaultEvery            = 30 * time.Second
	DefaultTimeout          = 10 * time.Second
	DefaultHTTPMaxBody      = 1 << 20
	DefaultFileMaxBytes     = 1 << 20
	DefaultCommandMaxOutput = 64 << 10
	DefaultPingCount        = 3
	// DefaultDNSPort is the port of a DNS server given without one.
	DefaultDNSPort = "53"
)

// maxPingCount bounds PingSpec.Count so that a typo cannot make a check
// flood its target.
const maxPingCount = 100

// Kind names what a check observes.
type Kind string

// The kinds of check.
const (
	KindTCP       Kind = "tcp"
	KindDNS       Kind = "dns"
	KindHTTP      Kind = "http"
	KindPing      Kind = "ping"
	KindInterface Kind = "interface"
	KindFile      Kind = "file"
	KindCommand   Kind = "command"
	KindPeer      Kind = "peer"
)

// Kinds lists every kind, in the order the documentation presents them.
var Kinds = []Kind{KindTCP, KindDNS, KindHTTP, KindPing, KindInterface, KindFile, KindCommand, KindPeer}

// Spec describes one named check: what it observes, how often and for how
// long at most. Exactly one of the kind-specific fields is set. A config
// decoder fills a Spec from a check block; Validate then reports what is
// wrong, naming each field as it is written in the configuration
// (snake_case, prefixed with the kind: "http.expect_status").
type Spec struct {
	// Name is the check's name, an identifier (letters, digits, "_" and
	// "-", not starting with a digit) so that rules can write
	// check.NAME.FIELD.
	Name string
	// Kind selects the kind-specific field. It may be left empty when
	// exactly one kind-specific field is set; it is then implied.
	Kind Kind
	// Every is the interval between runs; default DefaultEvery.
	Every time.Duration
	// Timeout bounds one run; default DefaultTimeout, or Every when that is
	// shorter. It may not be longer than Every, so runs never pile up.
	Timeout time.Duration

	// TCP is set for a tcp check.
	TCP *TCPSpec
	// DNS is set for a dns check.
	DNS *DNSSpec
	// HTTP is set for an http check.
	HTTP *HTTPSpec
	// Ping is set for a ping check.
	Ping *PingSpec
	// Interface is set for an interface check.
	Interface *InterfaceSpec
	// File is set for a file check.
	File *FileSpec
	// Command is set for a command check.
	Command *CommandSpec
	// Peer is set for a peer check.
	Peer *PeerSpec
}

// TCPSpec is a check that a TCP connection can be opened.
type TCPSpec struct {
	// Address is "host:port"; the host may be a name or an IP address.
	Address string
}

// DNSSpec is a check that a name resolves.
type DNSSpec struct {
	// Name is the name to resolve.
	Name string
	// Type is "A", "AAAA" or "" for both.
	Type string
	// Server is "ip:port" (or "ip", port 53) of the DNS server to ask
	// instead of the system's. The Go resolver still consults /etc/hosts
	// first, so names listed there never reach the server.
	Server string
}

// HTTPSpec is a check that an HTTP(S) URL answers with an expected status.
type HTTPSpec struct {
	// URL is an http or https URL.
	URL string
	// Method is the request method; default GET.
	Method string
	// Headers are sent with the request; "Host" sets the request's host.
	Headers map[string]string
	// ExpectStatus lists the acceptable status codes; empty accepts any
	// 2xx. Redirects are followed, so the status is the final one.
	ExpectStatus []int
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's.
	CAFile string
	// TLSSkipVerify switches certificate verification off.
	TLSSkipVerify bool
	// MaxBody caps how much of the body is read; default
	// DefaultHTTPMaxBody.
	MaxBody int64
}

// PingSpec is an ICMP echo check.
type PingSpec struct {
	// Address is a host name or an IP address.
	Address string
	// Count is the number of echo requests; default DefaultPingCount.
	// They are sent a second apart, closer when the timeout is short.
	Count int
}

// InterfaceSpec is a check of this host's network interfaces. At least one
// of Address and Name is set.
type InterfaceSpec struct {
	// Address is an IP address that should be assigned to an interface
	// (to the interface Name when that is set too).
	Address string
	// Name is the name of an interface that should be up.
	Name string
}

// FileSpec is a check of a local file.
type FileSpec struct {
	// Path is the file's path.
	Path string
	// JSON asks for the content to be parsed as JSON; the check fails
	// when it does not parse.
	JSON bool
	// MaxBytes caps how much of the file is read; default
	// DefaultFileMaxBytes.
	MaxBytes int64
}

// CommandSpec is a check that runs a local command. Exactly one of Argv and
// Shell is set.
type CommandSpec struct {
	// Argv is the program and its arguments, run without a shell. A
	// program without a slash is looked up in $PATH.
	Argv []string
	// Shell is a script run with /bin/sh -c.
	Shell string
	// JSON asks for stdout to be parsed as JSON; the check fails when it
	// does not parse.
	JSON bool
	// Env holds "KEY=value" entries added to the agent's environment.
	Env []string
	// Dir is the working directory; default the agent's.
	Dir string
	// MaxOutput caps how much of stdout and of stderr is kept; default
	// DefaultCommandMaxOutput.
	MaxOutput int64
}

// PeerSpec is a check of another Tocsin agent through its /v1/status.
type PeerSpec struct {
	// URL is the base URL of the other agent, e.g. "http://10.0.0.2:9870".
	URL string
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's.
	CAFile string
	// TLSSkipVerify switches certificate verification off.
	TLSSkipVerify bool
	// Fingerprint pins the peer's certificate ("sha256:" and 64 hex
	// digits, see core/identity): only a peer presenting exactly that
	// certificate is read. It needs an https URL.
	Fingerprint string
	// TokenFile holds the token this agent presents to the peer, 0600;
	// empty presents none (a client certificate may do instead).
	TokenFile string
	// Insecure reads the peer over plain HTTP, or without verifying its
	// certificate, where it is not on this host. Without it such a peer
	// is not read: its fact fails with an error that says how to secure
	// the link.
	Insecure bool
	// ClientCertFile and ClientKeyFile are this agent's own certificate
	// and key, presented to the peer so that it can pin this agent; when
	// empty, the identity the agent generated under IdentityDir (its
	// data_dir) is presented, once it exists.
	ClientCertFile, ClientKeyFile, IdentityDir string
}

// kindFields returns the kinds whose field is set, in Kinds order.
func (s Spec) kindFields() []Kind {
	var set []Kind
	for _, k := range Kinds {
		if s.hasField(k) {
			set = append(set, k)
		}
	}
	return set
}

func (s Spec) hasField(k Kind) bool {
	switch k {
	case KindTCP:
		return s.TCP != nil
	case KindDNS:
		return s.DNS != nil
	case KindHTTP:
		return s.HTTP != nil
	case KindPing:
		return s.Ping != nil
	case KindInterface:
		return s.Interface != nil
	case KindFile:
		return s.File != nil
	case KindCommand:
		return s.Command != nil
	case KindPeer:
		return s.Peer != nil
	}
	return false
}

// WithDefaults returns a copy of s with its kind implied (when it was left
// empty and exactly one kind-specific field is set) and every unset field
// that has a default set to it. The copy is deep: it shares nothing
// mutable with s. It does not validate; call Validate for that.
func (s Spec) WithDefaults() Spec {
	if s.Kind == "" {
		if set := s.kindFields(); len(set) == 1 {
			s.Kind = set[0]
		}
	}
	if s.Every == 0 {
		s.Every = DefaultEvery
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
		if s.Every > 0 {
			s.Timeout = min(s.Timeout, s.Every)
		}
	}
	if s.TCP != nil {
		c := *s.TCP
		s.TCP = &c
	}
	if s.DNS != nil {
		c := *s.DNS
		c.Type = strings.ToUpper(strings.TrimSpace(c.Type))
		if c.Server != "" {
			if _, err := netip.ParseAddr(c.Server); err == nil {
				c.Server = net.JoinHostPort(c.Server, DefaultDNSPort)
			}
		}
		s.DNS = &c
	}
	if s.HTTP != nil {
		c := *s.HTTP
		c.Headers = maps.Clone(c.Headers)
		c.ExpectStatus = slices.Clone(c.ExpectStatus)
		if c.Method == "" {
			c.Method = http.MethodGet
		}
		if c.MaxBody == 0 {
			c.MaxBody = DefaultHTTPMaxBody
		}
		s.HTTP = &c
	}
	if s.Ping != nil {
		c := *s.Ping
		if c.Count == 0 {
			c.Count = DefaultPingCount
		}
		s.Ping = &c
	}
	if s.Interface != nil {
		c := *s.Interface
		s.Interface = &c
	}
	if s.File != nil {
		c := *s.File
		if c.MaxBytes == 0 {
			c.MaxBytes = DefaultFileMaxBytes
		}
		s.File = &c
	}
	if s.Command != nil {
		c := *s.Command
		c.Argv = slices.Clone(c.Argv)
		c.Env = slices.Clone(c.Env)
		if c.MaxOutput == 0 {
			c.MaxOutput = DefaultCommandMaxOutput
		}
		s.Command = &c
	}
	if s.Peer != nil {
		c := *s.Peer
		s.Peer = &c
	}
	return s
}

// FieldError is one problem of a Spec. Field is the path of the Spec
// field, such as "http.url", so a config decoder can point at the setting
// it came from.
type FieldError struct {
	Check   string
	Field   string
	Problem string
}

// Error reads `check "web": http.url: must be set`.
func (e *FieldError) Error() string {
	return fmt.Sprintf("check %q: %s: %s", e.Check, e.Field, e.Problem)
}

// Validate reports what is wrong with s once its defaults are applied, as
// one error that names the check and the field, e.g.
// `check "web": http.url: must be set`. Several problems are joined with
// errors.Join; each is a *FieldError. It does no I/O: a CA file or a
// command that is missing shows up as a failed fact when the check runs.
func (s Spec) Validate() error {
	s = s.WithDefaults()
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Check: s.Name, Field: field, Problem: fmt.Sprintf(format, args...)})
	}

	switch {
	case s.Name == "":
		add("name", "must be set")
	case !hclsyntax.ValidIdentifier(s.Name):
		add("name", "must be an identifier (letters, digits, \"_\" and \"-\", not starting with a digit) so that rules can write check.NAME")
	}
	if s.Every < 0 {
		add("every", "must be positive, not %s", s.Every)
	}
	switch {
	case s.Timeout < 0:
		add("timeout", "must be positive, not %s", s.Timeout)
	case s.Every > 0 && s.Timeout > s.Every:
		add("timeout", "%s is longer than every (%s); a run must end before the next one starts", s.Timeout, s.Every)
	}

	set := s.kindFields()
	switch {
	case s.Kind == "" && len(set) == 0:
		add("kind", "no check kind set; set one of %s", kindList())
		return errors.Join(errs...)
	case s.Kind == "":
		add("kind", "only one kind per check, found %s", joinKinds(set))
		return errors.Join(errs...)
	case !slices.Contains(Kinds, s.Kind):
		add("kind", "unknown kind %q; want one of %s", s.Kind, kindList())
		return errors.Join(errs...)
	case !s.hasField(s.Kind):
		add(string(s.Kind), "kind is %q but its settings are missing", s.Kind)
		return errors.Join(errs...)
	case len(set) > 1:
		add("kind", "only one kind per check, found %s", joinKinds(set))
		return errors.Join(errs...)
	}

	switch s.Kind {
	case KindTCP:
		if err := checkHostPort(s.TCP.Address); err != nil {
			add("tcp.address", "%v", err)
		}
	case KindDNS:
		d := s.DNS
		if strings.TrimSpace(d.Name) == "" {
			add("dns.name", "must be set")
		}
		if d.Type != "" && d.Type != "A" && d.Type != "AAAA" {
			add("dns.type", "%q is not one of \"A\", \"AAAA\" or \"\" (both)", d.Type)
		}
		if d.Server != "" {
			if err := checkIPPort(d.Server); err != nil {
				add("dns.server", "%v", err)
			}
		}
	case KindHTTP:
		h := s.HTTP
		if err := checkURL(h.URL); err != nil {
			add("http.url", "%v", err)
		}
		if !validToken(h.Method) {
			add("http.method", "%q is not an HTTP method", h.Method)
		}
		for _, code := range h.ExpectStatus {
			if code < 100 || code > 599 {
				add("http.expect_status", "%d is not an HTTP status (100 to 599)", code)
			}
		}
		for name := range h.Headers {
			if !validToken(name) {
				add("http.headers", "%q is not a header name", name)
			}
		}
		if h.MaxBody < 0 {
			add("http.max_body", "must be positive, not %d", h.MaxBody)
		}
	case KindPing:
		p := s.Ping
		if strings.TrimSpace(p.Address) == "" {
			add("ping.address", "must be set")
		}
		if p.Count < 1 || p.Count > maxPingCount {
			add("ping.count", "must be between 1 and %d, not %d", maxPingCount, p.Count)
		}
	case KindInterface:
		i := s.Interface
		if i.Address == "" && i.Name == "" {
			add("interface", "set address, name or both")
		}
		if i.Address != "" {
			if _, err := netip.ParseAddr(i.Address); err != nil {
				add("interface.address", "%q is not an IP address", i.Address)
			}
		}
	case KindFile:
		f := s.File
		if f.Path == "" {
			add("file.path", "must be set")
		}
		if f.MaxBytes < 0 {
			add("file.max_bytes", "must be positive, not %d", f.MaxBytes)
		}
	case KindCommand:
		c := s.Command
		switch {
		case len(c.Argv) > 0 && c.Shell != "":
			add("command", "set argv or shell, not both")
		case len(c.Argv) == 0 && c.Shell == "":
			add("command", "set argv (run without a shell) or shell (run with /bin/sh -c)")
		case len(c.Argv) > 0 && c.Argv[0] == "":
			add("command.argv", "the program (first element) must not be empty")
		}
		for _, e := range c.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				add("command.env", "%q is not KEY=value", e)
			}
		}
		if c.MaxOutput < 0 {
			add("command.max_output", "must be positive, not %d", c.MaxOutput)
		}
	case KindPeer:
		if err := checkURL(s.Peer.URL); err != nil {
			add("peer.url", "%v", err)
		} else if u, _ := url.Parse(s.Peer.URL); s.Peer.Fingerprint != "" && u.Scheme != "https" {
			add("peer.fingerprint", "a pinned fingerprint needs an https:// URL, not %s", s.Peer.URL)
		}
		if s.Peer.Fingerprint != "" && s.Peer.CAFile != "" {
			add("peer.fingerprint", "set fingerprint or ca_file, not both: the fingerprint pins one certificate, the CA file trusts an authority")
		}
	}
	return errors.Join(errs...)
}

func kindList() string { return joinKinds(Kinds) }

func joinKinds(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// checkHostPort accepts "host:port" with both parts present.
func checkHostPort(s string) error {
	if s == "" {
		return errors.New("must be set")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if port == "" {
		return fmt.Errorf("%q has no port", s)
	}
	return nil
}

// checkIPPort accepts "ip:port" ("[ip]:port" for IPv6).
func checkIPPort(s string) error {
	if _, err := netip.ParseAddrPort(s); err != nil {
		return fmt.Errorf("%q is not ip:port (or an IP address, port %s)", s, DefaultDNSPort)
	}
	return nil
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(s string) error {
	if s == "" {
		return errors.New("must be set")
	}
	u, err := url.Parse(s)
	if err != nil {
		// The parse error quotes the URL, password and all; keep
		// only its reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q is not an http or https URL", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", u.Redacted())
	}
	return nil
}

// validToken reports whether s is an HTTP token (a method or a header
// name), RFC 9110 section 5.6.2.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
