// Package basic is the smtp-basic transport: SMTP with no login or a
// password login (PLAIN, LOGIN or CRAM-MD5), over plain SMTP, STARTTLS or
// implicit TLS.
//
// It refuses to send a password over a connection without TLS unless the
// operator sets allow_insecure_auth, and it verifies certificates unless
// the operator sets tls_skip_verify, which it warns about.
package basic

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/internal/smtpsend"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name.
const Name = "smtp-basic"

// The values of the auth setting.
const (
	AuthNone    = "none"
	AuthPlain   = "plain"
	AuthLogin   = "login"
	AuthCramMD5 = "cram-md5"
)

// Schema is the smtp-basic config block.
var Schema = append(sdk.Schema{
	{Name: "host", Type: sdk.TypeString, Required: true, Description: "SMTP server host name or address."},
	{Name: "port", Type: sdk.TypeNumber, Default: "587 (25 with security = \"none\", 465 with \"tls\")", Description: "SMTP server port."},
	{Name: "security", Type: sdk.TypeString, Default: "starttls", OneOf: []string{smtpsend.SecurityNone, smtpsend.SecuritySTARTTLS, smtpsend.SecurityTLS}, Description: "none: plain SMTP; starttls: upgrade with STARTTLS, which must succeed; tls: TLS from the first byte (port 465)."},
	{Name: "auth", Type: sdk.TypeString, Default: "plain when a username is set, else none", OneOf: []string{AuthNone, AuthPlain, AuthLogin, AuthCramMD5}, Description: "SASL login mechanism."},
	{Name: "username", Type: sdk.TypeString, Description: "Login name."},
	{Name: "password", Type: sdk.TypeString, Sensitive: true, Description: "Login password; use env(\"...\") or file(\"...\") to keep it out of the config file."},
	{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of CA certificates to trust in addition to the system's."},
	{Name: "tls_skip_verify", Type: sdk.TypeBool, Default: "false", Description: "Do not verify the server's certificate. Dangerous: anyone on the path can read the password."},
	{Name: "allow_insecure_auth", Type: sdk.TypeBool, Default: "false", Description: "Allow a login over a connection without TLS (security = \"none\")."},
	{Name: "helo", Type: sdk.TypeString, Description: "Name to announce in EHLO; default is go-mail's (localhost)."},
	{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Description: "Bound for connecting and for each SMTP command."},
}, smtpsend.PoolSchema()...)

// settings is the decoded config block.
type settings struct {
	Host              string       `json:"host"`
	Port              int          `json:"port"`
	Security          string       `json:"security"`
	Auth              string       `json:"auth"`
	Username          string       `json:"username"`
	Password          string       `json:"password"`
	CAFile            string       `json:"ca_file"`
	TLSSkipVerify     bool         `json:"tls_skip_verify"`
	AllowInsecureAuth bool         `json:"allow_insecure_auth"`
	HELO              string       `json:"helo"`
	Timeout           sdk.Duration `json:"timeout"`
	MaxConnections    int          `json:"max_connections"`
	IdleTimeout       sdk.Duration `json:"idle_timeout"`
}

// Transport is the smtp-basic transport.
type Transport struct {
	version string

	mu  sync.Mutex                      // serializes set
	cur sdk.Configured[smtpsend.Sender] // the sender of the last good Configure
}

// set makes s the sender (nil: none) and closes the one it replaces, with
// its connections.
func (t *Transport) set(s *smtpsend.Sender) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, _ := t.cur.Get()
	t.cur.Set(s)
	if old != nil && old != s {
		_ = old.Close()
	}
}

// Close closes the sender's connections; the plugin's main calls it once
// the agent has stopped the plugin. It always returns nil.
func (t *Transport) Close() error {
	t.set(nil)
	return nil
}

// New returns an unconfigured transport reporting version.
func New(version string) *Transport { return &Transport{version: version} }

var _ sdk.Transport = (*Transport)(nil)

// Describe returns the plugin's identity and schema.
func (t *Transport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    Name,
		Version: t.version,
		Summary: "SMTP with no login or a password login (PLAIN, LOGIN, CRAM-MD5), over STARTTLS, implicit TLS or plain SMTP.",
		Schema:  Schema,
		Batch:   true,
	}, nil
}

// Configure validates the settings and, when they are good, applies them.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	s := settings{
		Security:       smtpsend.SecuritySTARTTLS,
		Timeout:        sdk.Duration(30 * time.Second),
		MaxConnections: smtpsend.DefaultMaxConnections,
		IdleTimeout:    sdk.Duration(smtpsend.DefaultIdleTimeout),
	}
	if err := cfg.Settings.Decode(&s); err != nil {
		t.set(nil)
		return nil, err
	}
	if s.Auth == "" {
		s.Auth = AuthNone
		if s.Username != "" {
			s.Auth = AuthPlain
		}
	}
	if s.Port == 0 {
		s.Port = smtpsend.DefaultPort(s.Security)
	}

	var diags sdk.Diagnostics
	if strings.TrimSpace(s.Host) == "" {
		diags = diags.Errorf("host", "Set host to the SMTP server's name or address.", "Host is empty")
	}
	if s.Port < 1 || s.Port > 65535 {
		diags = diags.Errorf("port", "Use a TCP port from 1 to 65535: 587 for STARTTLS submission, 465 for implicit TLS, 25 for a relay.", "Port %d is out of range", s.Port)
	}
	if s.Auth != AuthNone {
		if s.Username == "" {
			diags = diags.Errorf("username", fmt.Sprintf("auth = %q logs in, which needs a username; set auth = \"none\" for a relay that needs no login.", s.Auth), "Username required for auth %q", s.Auth)
		}
		if s.Security == smtpsend.SecurityNone && !s.AllowInsecureAuth {
			diags = diags.Errorf("security", "A login over plain SMTP sends the password in the clear. Use security = \"starttls\" or \"tls\"; only on a trusted network, set allow_insecure_auth = true.", "Refusing to send a password over a connection without TLS")
		}
	}
	if s.Auth == AuthNone && s.Password != "" {
		diags = diags.Warnf("password", "auth = \"none\" never sends it; set auth to use it, or remove it.", "Password set but not used")
	}
	diags = smtpsend.CheckPool(s.MaxConnections, time.Duration(s.IdleTimeout), diags)
	if s.TLSSkipVerify {
		diags = diags.Warnf("tls_skip_verify", "Anyone between this host and the server can read the mail and the password. Set ca_file to the server's CA instead.", "Certificate verification is OFF")
		if cfg.Logger != nil {
			cfg.Logger.Warn("TLS certificate verification is OFF for this transport: anyone on the path can read mail and password; set ca_file instead", "host", s.Host)
		}
	}
	if diags.HasErrors() {
		t.set(nil)
		return diags, nil
	}

	sender, err := smtpsend.New(smtpsend.Options{
		Host:          s.Host,
		Port:          s.Port,
		Security:      s.Security,
		CAFile:        s.CAFile,
		TLSSkipVerify: s.TLSSkipVerify,
		HELO:          s.HELO,
		Timeout:       time.Duration(s.Timeout),
		Auth:          authType(s.Auth, s.Security == smtpsend.SecurityNone),
		Username:      s.Username,
		Secret:        func(context.Context) (string, error) { return s.Password, nil },
		UserAgent:     "Tocsin smtp-basic/" + t.version,

		MaxConnections: s.MaxConnections,
		IdleTimeout:    time.Duration(s.IdleTimeout),
	})
	if err != nil {
		attr := ""
		if s.CAFile != "" {
			attr = "ca_file"
		}
		t.set(nil)
		return diags.Errorf(attr, "Point ca_file at a readable PEM file of CA certificates.", "%v", err), nil
	}
	t.set(sender)
	return diags, nil
}

// authType maps the auth setting to go-mail's mechanism. Over a
// connection without TLS (allowed only with allow_insecure_auth) go-mail
// needs its NoEnc variants, or it refuses to send the password.
func authType(auth string, plaintext bool) gomail.SMTPAuthType {
	switch auth {
	case AuthPlain:
		if plaintext {
			return gomail.SMTPAuthPlainNoEnc
		}
		return gomail.SMTPAuthPlain
	case AuthLogin:
		if plaintext {
			return gomail.SMTPAuthLoginNoEnc
		}
		return gomail.SMTPAuthLogin
	case AuthCramMD5:
		return gomail.SMTPAuthCramMD5
	default:
		return gomail.SMTPAuthNoAuth
	}
}

// Check connects, starts TLS, logs in and quits.
func (t *Transport) Check(ctx context.Context) error {
	s, err := t.cur.Get()
	if err != nil {
		return err
	}
	return s.Check(ctx)
}

// Send delivers msgs over the pooled connections.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	s, err := t.cur.Get()
	if err != nil {
		return nil, err
	}
	return s.Send(ctx, msgs)
}
