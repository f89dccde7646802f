// Package graph is the graph transport: mail through Microsoft Graph's
// POST /v1.0/users/{from}/sendMail, authenticated as an app registration
// with the client-credentials grant (a client secret or a certificate) and
// the Mail.Send application permission.
//
// The sender mailbox is the transport's from. Each message is one JSON
// sendMail request: the HTML body when the message has one (Exchange
// derives the text alternative), else the text; To, Cc and Bcc with their
// names; attachments as fileAttachments; the message's ID as the
// X-Tocsin-Message-ID header, with the message's other X- headers (Graph
// refuses any other custom header, so those are dropped). Graph takes at
// most [MaxAttachmentBytes] of attachments in one request; a message with
// more fails permanently, as this transport does not use upload sessions.
// Reply-To travels as replyTo.
//
// One access token, fetched with the scope of the graph_endpoint's cloud,
// is shared by every send until it expires within token_grace. A 401 from
// Graph drops it and the message is tried once more with a fresh one.
package graph

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name.
const Name = "graph"

// Defaults of the settings.
const (
	// DefaultEndpoint is Graph's global endpoint.
	DefaultEndpoint = "https://graph.microsoft.com"
	// DefaultTokenGrace is how long before its expiry a token is replaced.
	DefaultTokenGrace = 30 * time.Second
	// DefaultTimeout bounds each HTTP request.
	DefaultTimeout = 30 * time.Second
)

// Scope is the client-credentials scope of Graph's global endpoint; a
// national cloud's graph_endpoint gets its own (see [ScopeFor]).
const Scope = "https://graph.microsoft.com/.default"

// Schema is the graph config block.
var Schema = sdk.Schema{
	{Name: "tenant_id", Type: sdk.TypeString, Required: true, Description: "Directory (tenant) ID, or a verified domain of the tenant."},
	{Name: "client_id", Type: sdk.TypeString, Required: true, Description: "Application (client) ID of the app registration that has the Mail.Send application permission with admin consent."},
	{Name: "client_secret", Type: sdk.TypeString, Sensitive: true, Description: "The client secret's Value (not its Secret ID); use env(\"...\") or file(\"...\"). Set this or client_certificate."},
	{Name: "client_certificate", Type: sdk.TypeString, Description: "PEM file of the certificate uploaded to the app registration, used instead of client_secret; it may also hold the private key."},
	{Name: "client_key", Type: sdk.TypeString, Sensitive: true, Description: "PEM file of the certificate's RSA private key (PKCS#1 or PKCS#8), when client_certificate does not hold it."},
	{Name: "authority", Type: sdk.TypeString, Default: oauth.DefaultAuthority, Description: "Microsoft identity platform host; national clouds have their own, e.g. https://login.microsoftonline.us."},
	{Name: "graph_endpoint", Type: sdk.TypeString, Default: DefaultEndpoint, Description: "Microsoft Graph endpoint; national clouds have their own, e.g. https://graph.microsoft.us."},
	{Name: "save_to_sent_items", Type: sdk.TypeBool, Default: "false", Description: "Keep a copy of each message in the mailbox's Sent Items."},
	{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of CA certificates to trust in addition to the system's, for the identity platform and Graph."},
	{Name: "token_grace", Type: sdk.TypeDuration, Default: "30s", Description: "Fetch a new access token this long before the current one expires."},
	{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Description: "Bound for each HTTP request, to the identity platform or to Graph."},
}

// settings is the decoded config block.
type settings struct {
	TenantID          string       `json:"tenant_id"`
	ClientID          string       `json:"client_id"`
	ClientSecret      string       `json:"client_secret"`
	ClientCertificate string       `json:"client_certificate"`
	ClientKey         string       `json:"client_key"`
	Authority         string       `json:"authority"`
	GraphEndpoint     string       `json:"graph_endpoint"`
	SaveToSentItems   bool         `json:"save_to_sent_items"`
	CAFile            string       `json:"ca_file"`
	TokenGrace        sdk.Duration `json:"token_grace"`
	Timeout           sdk.Duration `json:"timeout"`
}

func defaultSettings() settings {
	return settings{
		Authority:     oauth.DefaultAuthority,
		GraphEndpoint: DefaultEndpoint,
		TokenGrace:    sdk.Duration(DefaultTokenGrace),
		Timeout:       sdk.Duration(DefaultTimeout),
	}
}

// Transport is the graph transport.
type Transport struct {
	version string

	cur sdk.Configured[sender] // the sender of the last good Configure
}

// New returns an unconfigured transport reporting version.
func New(version string) *Transport { return &Transport{version: version} }

var _ sdk.Transport = (*Transport)(nil)

// Describe returns the plugin's identity and schema.
func (t *Transport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    Name,
		Version: t.version,
		Summary: "Microsoft 365 through Microsoft Graph sendMail, as an app registration with the Mail.Send application permission.",
		Schema:  Schema,
	}, nil
}

// Configure validates the settings and, when they are good, applies them.
// It reads the credential files but does not talk to the network.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	s := defaultSettings()
	if err := cfg.Settings.Decode(&s); err != nil {
		t.cur.Set(nil)
		return nil, err
	}
	snd, diags := newSender(s, cfg, "Tocsin graph/"+t.version)
	t.cur.Set(snd)
	return diags, nil
}

// newSender checks s and builds the sender it describes; the sender is nil
// when the diagnostics hold an error.
func newSender(s settings, cfg sdk.Config, userAgent string) (*sender, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	mailbox := ""
	if addr, err := mail.ParseAddress(cfg.From); err != nil {
		diags = diags.Errorf("", "Set the transport's from to the address of the Exchange Online mailbox that sends the mail; Graph sends as that mailbox.", "The transport's from %q is not a mail address", cfg.From)
	} else {
		mailbox = addr.Address
	}
	if strings.TrimSpace(s.TenantID) == "" {
		diags = diags.Errorf("tenant_id", "Copy the Directory (tenant) ID from the app registration's Overview page in the Entra admin center.", "tenant_id is empty")
	}
	if strings.TrimSpace(s.ClientID) == "" {
		diags = diags.Errorf("client_id", "Copy the Application (client) ID from the app registration's Overview page in the Entra admin center.", "client_id is empty")
	}
	diags = checkCredential(diags, s)

	authority, d := checkURL("authority", s.Authority, "the identity platform would receive the client credential in the clear")
	diags = append(diags, d...)
	endpoint, d := checkURL("graph_endpoint", s.GraphEndpoint, "access tokens and mail would travel in the clear")
	diags = append(diags, d...)
	if authority != nil && endpoint != nil {
		diags = checkCloud(diags, authority, endpoint)
	}

	if s.TokenGrace < 0 {
		diags = diags.Errorf("token_grace", "Use a duration of zero or more, such as \"30s\".", "token_grace %s is negative", time.Duration(s.TokenGrace))
	}
	if s.Timeout <= 0 {
		diags = diags.Errorf("timeout", "Use a positive duration, such as \"30s\".", "timeout %s is not positive", time.Duration(s.Timeout))
	}
	hc, err := oauth.HTTPClient(s.CAFile, time.Duration(s.Timeout))
	if err != nil {
		diags = diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err)
	}
	if diags.HasErrors() {
		return nil, diags
	}

	scope := ScopeFor(endpoint)
	fetch, err := oauth.MicrosoftApp{
		Authority:       authority.String(),
		Tenant:          strings.TrimSpace(s.TenantID),
		ClientID:        strings.TrimSpace(s.ClientID),
		ClientSecret:    s.ClientSecret,
		CertificateFile: s.ClientCertificate,
		KeyFile:         s.ClientKey,
		Scopes:          []string{scope},
	}.Fetcher(hc)
	if err != nil {
		attr, detail := "client_secret", "Set client_secret to the client secret's Value."
		if s.ClientCertificate != "" {
			attr, detail = "client_certificate", "Point client_certificate (and client_key, unless the certificate file holds the key) at the PEM files of the certificate uploaded to the app registration and its RSA private key."
			// The oauth package names the file at fault in its errors.
			if s.ClientKey != "" && strings.Contains(err.Error(), "read client_key") {
				attr = "client_key"
			}
		}
		return nil, diags.Errorf(attr, detail, "%v", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &sender{
		hc:              hc,
		tokens:          oauth.NewCache(fetch, time.Duration(s.TokenGrace)),
		endpoint:        endpoint.String(),
		mailbox:         mailbox,
		saveToSentItems: s.SaveToSentItems,
		userAgent:       userAgent,
		logger:          logger,
		now:             time.Now,
	}, diags
}

// checkCredential checks that exactly one credential is set and that its
// files are readable.
func checkCredential(diags sdk.Diagnostics, s settings) sdk.Diagnostics {
	hasSecret, hasCert := s.ClientSecret != "", s.ClientCertificate != ""
	switch {
	case hasSecret && hasCert:
		diags = diags.Errorf("client_certificate", "Use one credential: remove client_secret to sign in with the certificate, or remove client_certificate and client_key to use the secret.", "Both client_secret and client_certificate are set")
	case !hasSecret && !hasCert:
		diags = diags.Errorf("client_secret", "Set client_secret to the Value of a client secret of the app registration, or client_certificate (and client_key) to the certificate uploaded to it.", "No credential: neither client_secret nor client_certificate is set")
	}
	if s.ClientKey != "" && !hasCert {
		diags = diags.Errorf("client_key", "client_key is the private key of client_certificate: set client_certificate too, or remove client_key.", "client_key is set without client_certificate")
	}
	for _, f := range []struct{ attr, path string }{{"client_certificate", s.ClientCertificate}, {"client_key", s.ClientKey}} {
		if f.path == "" {
			continue
		}
		if err := readable(f.path); err != nil {
			diags = diags.Errorf(f.attr, "Point "+f.attr+" at a PEM file the agent's user can read.", "read %s: %v", f.attr, err)
		}
	}
	return diags
}

// readable reports why path cannot be read, or nil.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// checkURL parses an endpoint setting: an absolute http or https URL
// without query or fragment, returned without a trailing slash. Plain
// http is refused for authority and warned about for graph_endpoint, as
// clearText says what would go unprotected.
func checkURL(attr, raw, clearText string) (*url.URL, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, diags.Errorf(attr, fmt.Sprintf("Set %s to an https URL with only a scheme and host, such as %q.", attr, exampleURL(attr)), "%s %q is not a usable URL", attr, raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if u.Scheme == "http" {
		detail := fmt.Sprintf("Over plain http, %s. Use https.", clearText)
		if attr == "authority" {
			return nil, diags.Errorf(attr, detail, "authority %q is not https", raw)
		}
		diags = diags.Warnf(attr, detail, "%s %q is not https", attr, raw)
	}
	return u, diags
}

func exampleURL(attr string) string {
	if attr == "authority" {
		return oauth.DefaultAuthority
	}
	return DefaultEndpoint
}

// nationalCloud is a Microsoft national cloud: its Graph host and the host
// of its identity platform.
type nationalCloud struct {
	graphHost, loginHost string
}

// nationalClouds are the national deployments of Graph, whose tokens need
// the cloud's own scope and authority.
var nationalClouds = []nationalCloud{
	{graphHost: "graph.microsoft.us", loginHost: "login.microsoftonline.us"},     // US Government L4
	{graphHost: "dod-graph.microsoft.us", loginHost: "login.microsoftonline.us"}, // US Government L5 (DoD)
	{graphHost: "microsoftgraph.chinacloudapi.cn", loginHost: "login.chinacloudapi.cn"},
}

func cloudOf(endpoint *url.URL) (nationalCloud, bool) {
	host := strings.ToLower(endpoint.Hostname())
	for _, c := range nationalClouds {
		if host == c.graphHost {
			return c, true
		}
	}
	return nationalCloud{}, false
}

// ScopeFor returns the client-credentials scope for a Graph endpoint: the
// endpoint's own https://HOST/.default for a national cloud, else [Scope]
// (also for a test server or a proxy standing in for the global Graph).
func ScopeFor(endpoint *url.URL) string {
	if c, ok := cloudOf(endpoint); ok {
		return "https://" + c.graphHost + "/.default"
	}
	return Scope
}

// checkCloud warns when graph_endpoint is a national cloud's but authority
// is not that cloud's identity platform: its tokens would not be accepted.
func checkCloud(diags sdk.Diagnostics, authority, endpoint *url.URL) sdk.Diagnostics {
	c, ok := cloudOf(endpoint)
	if !ok || strings.EqualFold(authority.Hostname(), c.loginHost) {
		return diags
	}
	return diags.Warnf("authority", fmt.Sprintf("graph_endpoint is in a national cloud whose identity platform is https://%s; tokens from %s are not accepted there.", c.loginHost, authority.Host), "authority does not match graph_endpoint's cloud")
}

// Check obtains an access token (proving the tenant, the app and its
// credential) and reaches graph_endpoint over TLS. It sends no mail, so it
// cannot prove the Mail.Send permission or the mailbox.
func (t *Transport) Check(ctx context.Context) error {
	s, err := t.cur.Get()
	if err != nil {
		return err
	}
	return s.check(ctx)
}

// Send delivers msgs, one sendMail request each.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	s, err := t.cur.Get()
	if err != nil {
		return nil, err
	}
	return s.send(ctx, msgs)
}
