package xoauth2send

import (
	"net/mail"
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/smtpsend"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Defaults of the shared settings.
const (
	DefaultTokenGrace = 30 * time.Second
	DefaultTimeout    = 30 * time.Second
)

// SMTPSettings are the settings of the XOAUTH2 transports that are not
// about the provider's identity platform. A transport embeds it in its
// settings struct, which encoding/json then decodes as one flat block.
type SMTPSettings struct {
	Host       string       `json:"host"`
	Port       int          `json:"port"`
	Security   string       `json:"security"`
	Username   string       `json:"username"`
	TokenGrace sdk.Duration `json:"token_grace"`
	CAFile     string       `json:"ca_file"`
	Timeout    sdk.Duration `json:"timeout"`
	HELO       string       `json:"helo"`

	MaxConnections int          `json:"max_connections"`
	IdleTimeout    sdk.Duration `json:"idle_timeout"`
}

// DefaultSMTPSettings returns the settings before the operator's are
// decoded over them: host, STARTTLS, and the default grace and timeout.
func DefaultSMTPSettings(host string) SMTPSettings {
	return SMTPSettings{
		Host:       host,
		Security:   smtpsend.SecuritySTARTTLS,
		TokenGrace: sdk.Duration(DefaultTokenGrace),
		Timeout:    sdk.Duration(DefaultTimeout),

		MaxConnections: smtpsend.DefaultMaxConnections,
		IdleTimeout:    sdk.Duration(smtpsend.DefaultIdleTimeout),
	}
}

// SMTPSchema returns the schema of the shared settings; host is the
// provider's SMTP server, the default.
func SMTPSchema(host string) sdk.Schema {
	return append(sdk.Schema{
		{Name: "host", Type: sdk.TypeString, Default: host, Description: "SMTP server host name; change it for a national cloud or a test server."},
		{Name: "port", Type: sdk.TypeNumber, Default: "587 (465 with security = \"tls\", 25 with \"none\")", Description: "SMTP server port."},
		{Name: "security", Type: sdk.TypeString, Default: smtpsend.SecuritySTARTTLS, OneOf: []string{smtpsend.SecuritySTARTTLS, smtpsend.SecurityTLS, smtpsend.SecurityNone}, Description: "starttls: upgrade with STARTTLS, which must succeed; tls: TLS from the first byte (port 465); none: plain SMTP, for a test server or a trusted relay only (the access token travels in the clear)."},
		{Name: "username", Type: sdk.TypeString, Default: "the transport's from", Description: "The mailbox to log in as (the XOAUTH2 user)."},
		// The name holds "token", so the SDK wants it Sensitive, though
		// it is only a duration.
		{Name: "token_grace", Type: sdk.TypeDuration, Default: DefaultTokenGrace.String(), Description: "Fetch a new access token this long before the cached one expires."},
		{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of CA certificates to trust, in addition to the system's, for the SMTP server and the token endpoint."},
		{Name: "timeout", Type: sdk.TypeDuration, Default: DefaultTimeout.String(), Description: "Bound for connecting, each SMTP command and each token request."},
		{Name: "helo", Type: sdk.TypeString, Description: "Name to announce in EHLO; default is go-mail's (localhost)."},
	}, smtpsend.PoolSchema()...)
}

// Check applies the defaults that depend on other settings (port from
// security, username from from) and appends a diagnostic for every problem.
// from is the transport's from address.
func (s *SMTPSettings) Check(from string, diags sdk.Diagnostics) sdk.Diagnostics {
	if s.Port == 0 {
		s.Port = smtpsend.DefaultPort(s.Security)
	}
	if strings.TrimSpace(s.Host) == "" {
		diags = diags.Errorf("host", "Set host to the SMTP server's name, or remove it for the default.", "Host is empty")
	}
	if s.Port < 1 || s.Port > 65535 {
		diags = diags.Errorf("port", "Use a TCP port from 1 to 65535: 587 for STARTTLS submission, 465 for implicit TLS.", "Port %d is out of range", s.Port)
	}
	switch s.Security {
	case smtpsend.SecuritySTARTTLS, smtpsend.SecurityTLS:
	case smtpsend.SecurityNone:
		diags = diags.Warnf("security", "Anyone on the path can read the access token and use it until it expires. Use security = \"starttls\" or \"tls\" except against a test server.", "The access token is sent without TLS")
	default:
		diags = diags.Errorf("security", "Use \"starttls\", \"tls\" or \"none\".", "Unknown security %q", s.Security)
	}
	if s.Username == "" {
		s.Username = Address(from)
	}
	switch {
	case s.Username == "":
		diags = diags.Errorf("username", "Set username to the mailbox to log in as, or set the transport's from.", "No mailbox to log in as")
	case !bareAddress(s.Username):
		diags = diags.Errorf("username", "Set username to the mailbox's address alone, such as alerts@example.com.", "Username %q is not an email address", s.Username)
	}
	if s.TokenGrace < 0 {
		diags = diags.Errorf("token_grace", "Use a duration of zero or more, such as \"30s\".", "Token grace is negative")
	}
	if s.Timeout <= 0 {
		diags = diags.Errorf("timeout", "Use a positive duration, such as \"30s\".", "Timeout must be positive")
	}
	return smtpsend.CheckPool(s.MaxConnections, time.Duration(s.IdleTimeout), diags)
}

// SMTPOptions returns the smtpsend options for these settings; New adds
// the XOAUTH2 login.
func (s *SMTPSettings) SMTPOptions(userAgent string, remedies []smtpsend.Remedy) smtpsend.Options {
	return smtpsend.Options{
		Host:     s.Host,
		Port:     s.Port,
		Security: s.Security,
		CAFile:   s.CAFile,
		HELO:     s.HELO,
		Timeout:  time.Duration(s.Timeout),
		Username: s.Username,

		MaxConnections: s.MaxConnections,
		IdleTimeout:    time.Duration(s.IdleTimeout),

		UserAgent: userAgent,
		Remedies:  remedies,
	}
}

// Address returns the bare address of from ("Alerts <a@example.com>" gives
// "a@example.com"), or from itself when it does not parse.
func Address(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return strings.TrimSpace(from)
}

// SameAddress reports whether a and b are the same mailbox, ignoring case
// and display names.
func SameAddress(a, b string) bool {
	return strings.EqualFold(Address(a), Address(b))
}

// bareAddress reports whether s is an email address with nothing around
// it, fit to be the XOAUTH2 user.
func bareAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// CheckFrom appends a warning when from is not the mailbox the login acts
// as; why says what the provider does then.
func CheckFrom(from, username, why string, diags sdk.Diagnostics) sdk.Diagnostics {
	if from == "" || username == "" || SameAddress(from, username) {
		return diags
	}
	return diags.Warnf("username", why, "From %s is not the mailbox %s logs in as", Address(from), username)
}
