package facts

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Defaults applied by Spec.WithDefaults to fields left at their zero
// value; each kind's file holds the defaults of its settings.
const (
	DefaultEvery   = 30 * time.Second
	DefaultTimeout = 10 * time.Second
)

// Spec describes one named check: what it observes, how often and for how
// long at most. Exactly one kind's settings are set: one of the
// kind-specific fields, or Options for a kind without a field of its own.
// A config decoder fills a Spec from a check block; Validate then reports
// what is wrong, naming each field as it is written in the configuration
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
	// Options holds the settings of a kind that has no field above, as
	// a pointer to the kind's settings type: *CertSpec for a cert check.
	// A kind added in a file of its own keeps its settings here.
	Options any
}

// kindFields returns the kinds whose settings are set, in Kinds order.
func (s Spec) kindFields() []Kind {
	var set []Kind
	for _, k := range kindsInOrder() {
		if k.hasSettings(s) {
			set = append(set, k.Name())
		}
	}
	return set
}

// HasSettings reports whether s holds the settings of its kind.
func (s Spec) HasSettings() bool {
	k, ok := Lookup(s.Kind)
	return ok && k.hasSettings(s)
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
	for _, k := range kindsInOrder() {
		if k.hasSettings(s) {
			s = k.withDefaults(s)
		}
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
	// add is handed to the kind, so it captures the name, not s, which
	// would otherwise be moved to the heap.
	check := s.Name
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Check: check, Field: field, Problem: fmt.Sprintf(format, args...)})
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
	case !known(s.Kind):
		add("kind", "unknown kind %q; want one of %s", s.Kind, kindList())
		return errors.Join(errs...)
	case !s.HasSettings():
		add(string(s.Kind), "kind is %q but its settings are missing", s.Kind)
		return errors.Join(errs...)
	case len(set) > 1:
		add("kind", "only one kind per check, found %s", joinKinds(set))
		return errors.Join(errs...)
	}

	k, _ := Lookup(s.Kind)
	k.validate(s, add)
	return errors.Join(errs...)
}

func kindList() string { return joinKinds(Kinds()) }

// known reports whether a kind is registered under k.
func known(k Kind) bool {
	_, ok := Lookup(k)
	return ok
}

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
