// Package webhook is the webhook transport: each notification is one HTTP
// POST of a JSON body to a URL, shaped for the receiver by format:
//
//   - teams: a message with one Adaptive Card, as a Microsoft Teams
//     workflow ("When a Teams webhook request is received", the
//     replacement of the retired Office 365 connectors) takes it;
//   - slack: a Slack incoming webhook's {"text", "blocks"};
//   - mattermost: a Mattermost incoming webhook's {"text", "username"};
//   - json: the notification's fields (see [Notification]), or whatever
//     body_template makes of them.
//
// A chat webhook's URL is its credential, so url is sensitive: it is never
// logged, and errors name only its scheme and host. With hmac_secret set,
// every request carries a timestamp header and an HMAC-SHA256 signature
// over the timestamp and the body (see [Sign] and [Verify]).
//
// Replies are classified: 2xx delivered, 429, 408 and 5xx temporary (with
// the wait Retry-After asks for), other 4xx and redirects permanent with a
// remedy, network failures temporary. One request is made per message; a
// batch is sent in order, one message after the other.
package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name.
const Name = "webhook"

// The formats.
const (
	FormatTeams      = "teams"
	FormatSlack      = "slack"
	FormatMattermost = "mattermost"
	FormatJSON       = "json"
)

// Defaults of the settings.
const (
	// DefaultSignatureHeader carries "sha256=<hex>" when hmac_secret is set.
	DefaultSignatureHeader = "X-Tocsin-Signature"
	// TimestampHeader carries the request's Unix time in seconds, signed
	// with the body.
	TimestampHeader = "X-Tocsin-Timestamp"
	// MessageIDHeader carries the notification's Message-ID, the same on
	// every retry, so a receiver can drop a duplicate.
	MessageIDHeader = "X-Tocsin-Message-ID"
	// DefaultTimeout bounds each request.
	DefaultTimeout = 30 * time.Second
)

// Schema is the webhook config block.
var Schema = sdk.Schema{
	{Name: "url", Type: sdk.TypeString, Required: true, Sensitive: true, Description: "The webhook's URL. Chat webhook URLs are credentials (anyone holding one can post): use env(\"...\") or file(\"...\"); it is never logged, and errors show only its host."},
	{Name: "format", Type: sdk.TypeString, Default: FormatJSON, OneOf: []string{FormatTeams, FormatSlack, FormatMattermost, FormatJSON}, Description: "Shape of the body: teams (an Adaptive Card for a Teams workflow webhook), slack or mattermost (incoming webhooks), json (the notification's fields, or body_template)."},
	{Name: "body_template", Type: sdk.TypeString, Description: "With format = \"json\": a Go text/template over the notification (.Subject, .Text, .Rule, .Severity, ...) whose output must be JSON; {{json .Subject}} writes a value as a JSON string."},
	{Name: "username", Type: sdk.TypeString, Description: "With format = \"mattermost\": the name the post appears under (the webhook must allow overriding it)."},
	{Name: "slack_blocks", Type: sdk.TypeBool, Default: "true", Description: "With format = \"slack\": add Block Kit blocks (subject as a header, the text, the rule and severity) besides the plain text."},
	{Name: "hmac_secret", Type: sdk.TypeString, Sensitive: true, Description: "Sign each request: HMAC-SHA256 over \"TIMESTAMP.BODY\" in signature_header as sha256=<hex>, the time in " + TimestampHeader + "; use env(\"...\") or file(\"...\")."},
	{Name: "signature_header", Type: sdk.TypeString, Default: DefaultSignatureHeader, Description: "Header that carries the signature when hmac_secret is set."},
	{Name: "headers", Type: sdk.TypeListOfString, Sensitive: true, Description: "Extra request headers, each \"Name: value\", such as an Authorization header a proxy wants; sensitive, as such values usually are."},
	{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of CA certificates to trust in addition to the system's."},
	{Name: "tls_skip_verify", Type: sdk.TypeBool, Default: "false", Description: "Do not verify the server's certificate. Dangerous: anyone on the path can read the notifications and the URL."},
	{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Description: "Bound for each request, from connecting to the end of the reply."},
}

// settings is the decoded config block.
type settings struct {
	URL             string       `json:"url"`
	Format          string       `json:"format"`
	BodyTemplate    string       `json:"body_template"`
	Username        string       `json:"username"`
	SlackBlocks     bool         `json:"slack_blocks"`
	HMACSecret      string       `json:"hmac_secret"`
	SignatureHeader string       `json:"signature_header"`
	Headers         []string     `json:"headers"`
	CAFile          string       `json:"ca_file"`
	TLSSkipVerify   bool         `json:"tls_skip_verify"`
	Timeout         sdk.Duration `json:"timeout"`
}

func defaultSettings() settings {
	return settings{
		Format:          FormatJSON,
		SlackBlocks:     true,
		SignatureHeader: DefaultSignatureHeader,
		Timeout:         sdk.Duration(DefaultTimeout),
	}
}

// Transport is the webhook transport.
type Transport struct {
	version string

	cur sdk.Configured[sender]
}

// New returns an unconfigured transport reporting version.
func New(version string) *Transport { return &Transport{version: version} }

var _ sdk.Transport = (*Transport)(nil)

// Describe returns the plugin's identity and schema. The transport does
// not batch: each message is its own request.
func (t *Transport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    Name,
		Version: t.version,
		Summary: "Each notification POSTed as JSON to a webhook: Microsoft Teams workflows, Slack, Mattermost, or any JSON receiver, optionally HMAC-signed.",
		Schema:  Schema,
	}, nil
}

// Configure validates the settings and, when they are good, applies them.
// It reads ca_file and checks body_template but does not talk to the
// network.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	s := defaultSettings()
	if err := cfg.Settings.Decode(&s); err != nil {
		t.cur.Set(nil)
		return nil, err
	}
	snd, diags := newSender(s, cfg.Logger, "Tocsin webhook/"+t.version)
	t.cur.Set(snd)
	return diags, nil
}

// newSender checks s and builds the sender it describes; the sender is nil
// when the diagnostics hold an error.
func newSender(s settings, logger hclog.Logger, userAgent string) (*sender, sdk.Diagnostics) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	var diags sdk.Diagnostics
	u, d := checkURL(s.URL)
	diags = append(diags, d...)

	var tmpl *template.Template
	switch s.Format {
	case FormatTeams, FormatSlack, FormatMattermost, FormatJSON:
	default:
		diags = diags.Errorf("format", "Use one of teams, slack, mattermost or json.", "Unknown format %q", s.Format)
	}
	if s.BodyTemplate != "" {
		if s.Format != FormatJSON {
			diags = diags.Errorf("body_template", fmt.Sprintf("body_template shapes the body of format = \"json\"; format %q has its own body. Remove body_template, or set format = \"json\".", s.Format), "body_template is set with format %q", s.Format)
		} else {
			var err error
			if tmpl, err = parseTemplate(s.BodyTemplate); err != nil {
				diags = diags.Errorf("body_template", "Fix the template: "+err.Error()+". Write a value as {{json .Subject}} so quotes and newlines in it stay valid JSON.", "body_template does not make valid JSON")
			}
		}
	}
	if s.Username != "" && s.Format != FormatMattermost {
		diags = diags.Warnf("username", "username is used only with format = \"mattermost\"; remove it.", "username is not used with format %q", s.Format)
	}

	if s.HMACSecret == "" && s.SignatureHeader != DefaultSignatureHeader {
		diags = diags.Warnf("signature_header", "signature_header names the header of the signature made with hmac_secret; set hmac_secret, or remove signature_header.", "signature_header is set but hmac_secret is not")
	}
	sigHeader := http.CanonicalHeaderKey(strings.TrimSpace(s.SignatureHeader))
	if !validHeaderName(sigHeader) {
		diags = diags.Errorf("signature_header", "Use a header name of letters, digits and dashes, such as "+DefaultSignatureHeader+".", "signature_header %q is not a header name", s.SignatureHeader)
	}
	extra, d := parseHeaders(s.Headers)
	diags = append(diags, d...)

	if s.Timeout <= 0 {
		diags = diags.Errorf("timeout", "Use a positive duration, such as \"30s\".", "timeout %s is not positive", time.Duration(s.Timeout))
	}
	hc, err := httpClient(s.CAFile, s.TLSSkipVerify, time.Duration(s.Timeout))
	if err != nil {
		diags = diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err)
	}
	if s.TLSSkipVerify {
		diags = diags.Warnf("tls_skip_verify", "Anyone between this host and the webhook can read the notifications and the URL, and post as you. Set ca_file to the server's CA instead.", "Certificate verification is OFF")
		if u != nil {
			logger.Warn("TLS certificate verification is OFF for this transport: anyone on the path can read the notifications and the webhook URL; set ca_file instead", "host", u.Host)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return &sender{
		hc:        hc,
		url:       u,
		format:    s.Format,
		tmpl:      tmpl,
		username:  s.Username,
		blocks:    s.SlackBlocks,
		secret:    []byte(s.HMACSecret),
		sigHeader: sigHeader,
		headers:   extra,
		redact:    newRedactor(u, s.HMACSecret, extra),
		userAgent: userAgent,
		logger:    logger,
		now:       time.Now,
	}, diags
}

// checkURL parses url: absolute http or https with a host. Plain http is
// warned about, as the URL (a credential) and the notifications would
// travel in the clear. Diagnostics never quote the URL.
func checkURL(raw string) (*url.URL, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, diags.Errorf("url", "Set url to the webhook's URL, as the chat's webhook or workflow setup shows it; use env(\"...\") or file(\"...\").", "url is empty")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, diags.Errorf("url", "Set url to the whole https://... address the webhook's setup shows (it is not printed here, as it is a credential).", "url is not an absolute http or https URL")
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "", ""
	}
	if u.Scheme == "http" {
		diags = diags.Warnf("url", "Over plain http the webhook URL, which lets anyone post, and every notification travel in the clear. Use https.", "url is not https")
	}
	return u, diags
}

// parseHeaders reads the headers setting, each "Name: value". The values
// are never quoted in a diagnostic; the names are.
func parseHeaders(list []string) (http.Header, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	h := http.Header{}
	for i, e := range list {
		name, value, ok := strings.Cut(e, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || !validHeaderName(name):
			diags = diags.Errorf("headers", "Write each header as \"Name: value\", such as \"Authorization: Bearer ...\".", "headers entry %d is not \"Name: value\"", i+1)
			continue
		case strings.ContainsAny(value, "\r\n\x00"):
			diags = diags.Errorf("headers", "A header value must be one line.", "headers entry %d (%s) holds a line break", i+1, name)
			continue
		}
		switch strings.ToLower(name) {
		case "content-type", "content-length", "host", "user-agent", strings.ToLower(TimestampHeader), strings.ToLower(MessageIDHeader):
			diags = diags.Errorf("headers", "Tocsin sets "+name+" itself; remove it from headers.", "headers entry %d sets %s", i+1, name)
			continue
		}
		h.Add(name, value)
	}
	return h, diags
}

// validHeaderName reports whether s is an HTTP field name (a token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// httpClient returns a client that trusts the system roots plus caFile,
// or verifies nothing with skipVerify, bounds each request by timeout, and
// does not follow redirects (a POST redirected becomes a GET, and a
// webhook that moved should be reconfigured, not chased).
func httpClient(caFile string, skipVerify bool, timeout time.Duration) (*http.Client, error) {
	extra, err := oauth.CACertsPEM(caFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // the operator's explicit, warned choice
	if extra != nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(extra)
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// Check connects to the webhook's host and, for https, completes a TLS
// handshake, proving DNS, the route and the certificate. It sends no
// request: a request to a webhook posts, and there is no harmless one.
func (t *Transport) Check(ctx context.Context) error {
	s, err := t.cur.Get()
	if err != nil {
		return err
	}
	return s.check(ctx)
}

// Send delivers msgs, one request each, in order.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	s, err := t.cur.Get()
	if err != nil {
		return nil, err
	}
	return s.send(ctx, msgs), nil
}

// hostPort is u's host with the scheme's default port when it has none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "http" {
		return net.JoinHostPort(u.Hostname(), "80")
	}
	return net.JoinHostPort(u.Hostname(), "443")
}
