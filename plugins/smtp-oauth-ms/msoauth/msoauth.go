// Package msoauth is the smtp-oauth-ms transport: SMTP AUTH to Microsoft
// 365 (smtp.office365.com:587, STARTTLS) with an OAuth 2.0 access token
// in SASL XOAUTH2.
//
// With mode = "app" the token comes from the client-credentials grant of
// an app registration (a client secret or a certificate), scope
// https://outlook.office365.com/.default; the app needs the SMTP.SendAsApp
// permission and an Exchange service principal with rights on the mailbox.
// With mode = "delegated" the token comes from a refresh token that
// `tocsin oauth login` obtained for the mailbox's user (scopes
// https://outlook.office.com/SMTP.Send and offline_access); Microsoft
// rotates refresh tokens, and each new one goes back to the agent.
//
// One access token serves every send until token_grace before it expires.
// Microsoft's replies (535 5.7.3, 5.7.139, 5.7.57, 5.7.60, SendAsDenied)
// and the identity platform's AADSTS errors come back with a remedy.
package msoauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name.
const Name = "smtp-oauth-ms"

// DefaultHost is Microsoft 365's SMTP submission server.
const DefaultHost = "smtp.office365.com"

// The values of the mode setting.
const (
	ModeApp       = "app"
	ModeDelegated = "delegated"
)

// Scopes of Microsoft 365 SMTP AUTH.
const (
	// ScopeApp is the scope of app-only tokens (SMTP.SendAsApp).
	ScopeApp = "https://outlook.office365.com/.default"
	// ScopeSMTPSend is the delegated scope; offline_access comes with it
	// for a refresh token.
	ScopeSMTPSend = "https://outlook.office.com/SMTP.Send"
)

// DelegatedScopes are the scopes of a delegated login.
var DelegatedScopes = []string{ScopeSMTPSend, "offline_access"}

// Schema is the smtp-oauth-ms config block.
var Schema = slices.Concat(sdk.Schema{
	{Name: "mode", Type: sdk.TypeString, Default: ModeApp, OneOf: []string{ModeApp, ModeDelegated}, Description: "app: the app sends as itself (client credentials, SMTP.SendAsApp); delegated: it sends as the user who ran `tocsin oauth login` (SMTP.Send)."},
	{Name: "tenant_id", Type: sdk.TypeString, Required: true, Description: "Directory (tenant) ID, or a verified domain of the tenant."},
	{Name: "client_id", Type: sdk.TypeString, Required: true, Description: "Application (client) ID of the app registration."},
	{Name: "client_secret", Type: sdk.TypeString, Sensitive: true, Description: "The client secret's Value (not its Secret ID). Mode app needs it or client_certificate; in mode delegated it is optional (none for a public client)."},
	{Name: "client_certificate", Type: sdk.TypeString, Description: "PEM file with the certificate uploaded to the app registration (and its key, unless client_key is set); mode app only, instead of client_secret."},
	{Name: "client_key", Type: sdk.TypeString, Sensitive: true, Description: "PEM file with client_certificate's unencrypted RSA private key."},
	{Name: "authority", Type: sdk.TypeString, Default: oauth.DefaultAuthority, Description: "Microsoft identity platform URL; https://login.microsoftonline.us or https://login.chinacloudapi.cn for national clouds."},
}, xoauth2send.SMTPSchema(DefaultHost))

// settings is the decoded config block.
type settings struct {
	xoauth2send.SMTPSettings
	Mode              string `json:"mode"`
	TenantID          string `json:"tenant_id"`
	ClientID          string `json:"client_id"`
	ClientSecret      string `json:"client_secret"`
	ClientCertificate string `json:"client_certificate"`
	ClientKey         string `json:"client_key"`
	Authority         string `json:"authority"`
}

// Transport is the smtp-oauth-ms transport.
type Transport struct {
	version string
	slot    xoauth2send.Slot

	mu    sync.RWMutex
	login *sdk.LoginConfig // mode delegated; nil otherwise
	mode  string
}

// New returns an unconfigured transport reporting version.
func New(version string) *Transport { return &Transport{version: version} }

var (
	_ sdk.Transport  = (*Transport)(nil)
	_ sdk.Authorizer = (*Transport)(nil)
)

// Describe returns the plugin's identity and schema.
func (t *Transport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    Name,
		Version: t.version,
		Summary: "Microsoft 365 SMTP with OAuth 2.0 (XOAUTH2), as an app or as a signed-in user.",
		Schema:  Schema,
		Batch:   true,
	}, nil
}

// Configure validates the settings and, when they are good, applies them.
// In mode delegated without a stored login it applies them with a warning,
// and Check and Send fail until the operator runs `tocsin oauth login`.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	s := settings{
		SMTPSettings: xoauth2send.DefaultSMTPSettings(DefaultHost),
		Mode:         ModeApp,
		Authority:    oauth.DefaultAuthority,
	}
	if err := cfg.Settings.Decode(&s); err != nil {
		t.reset()
		return nil, err
	}
	diags := s.check(cfg.From)
	if diags.HasErrors() {
		t.reset()
		return diags, nil
	}

	timeout := time.Duration(s.Timeout)
	hc, err := oauth.HTTPClient(s.CAFile, timeout)
	if err != nil {
		t.reset()
		return diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err), nil
	}
	endpoint := oauth.MicrosoftEndpoint(s.Authority, s.TenantID)

	var fetch oauth.Fetcher
	var login *sdk.LoginConfig
	var noLogin error
	switch s.Mode {
	case ModeApp:
		fetch, err = oauth.MicrosoftApp{
			Authority:       s.Authority,
			Tenant:          s.TenantID,
			ClientID:        s.ClientID,
			ClientSecret:    s.ClientSecret,
			CertificateFile: s.ClientCertificate,
			KeyFile:         s.ClientKey,
			Scopes:          []string{ScopeApp},
		}.Fetcher(hc)
		if err != nil {
			t.reset()
			return diags.Errorf("client_certificate", "Point client_certificate (and client_key) at the PEM certificate uploaded to the app registration and its unencrypted RSA key.", "%v", err), nil
		}
	default: // ModeDelegated
		caPEM, err := oauth.CACertsPEM(s.CAFile)
		if err != nil {
			t.reset()
			return diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err), nil
		}
		oc := &oauth2.Config{
			ClientID:     s.ClientID,
			ClientSecret: s.ClientSecret,
			Endpoint:     endpoint,
			Scopes:       slices.Clone(DelegatedScopes),
		}
		login = &sdk.LoginConfig{
			AuthURL:       endpoint.AuthURL,
			TokenURL:      endpoint.TokenURL,
			DeviceAuthURL: endpoint.DeviceAuthURL,
			ClientID:      s.ClientID,
			ClientSecret:  s.ClientSecret,
			Scopes:        slices.Clone(DelegatedScopes),
			AuthParams:    map[string]string{"login_hint": s.Username},
			CACertsPEM:    caPEM,
			Account:       s.Username,
		}
		if cfg.Credential == "" {
			d, err := xoauth2send.NoLogin(cfg.Transport, "mode", s.Username)
			diags = append(diags, d)
			noLogin = err
			break
		}
		fetch = oauth.Refresher(oc, hc, cfg.Credential, cfg.SaveCredential)
	}

	t.mu.Lock()
	t.login, t.mode = login, s.Mode
	t.mu.Unlock()
	if noLogin != nil {
		t.slot.Fail(noLogin)
		return diags, nil
	}
	sender, err := xoauth2send.New(s.SMTPOptions("Tocsin "+Name+"/"+t.version, Remedies(s.Mode, s.ClientID, s.Username)), fetch, time.Duration(s.TokenGrace))
	if err != nil {
		t.reset()
		return diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err), nil
	}
	t.slot.Set(sender)
	return diags, nil
}

// check validates the settings beyond their types and applies the
// defaults that depend on others.
func (s *settings) check(from string) sdk.Diagnostics {
	diags := s.SMTPSettings.Check(from, nil)
	if strings.TrimSpace(s.TenantID) == "" {
		diags = diags.Errorf("tenant_id", "Set tenant_id to the Directory (tenant) ID on the app registration's Overview page in Microsoft Entra ID.", "Tenant ID is empty")
	}
	if strings.TrimSpace(s.ClientID) == "" {
		diags = diags.Errorf("client_id", "Set client_id to the Application (client) ID on the app registration's Overview page in Microsoft Entra ID.", "Client ID is empty")
	}
	if u, err := url.Parse(s.Authority); err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		diags = diags.Errorf("authority", "Set authority to the identity platform's https URL, such as "+oauth.DefaultAuthority+", or remove it.", "Authority %q is not an https URL", s.Authority)
	}
	switch s.Mode {
	case ModeApp:
		switch {
		case s.ClientSecret != "" && (s.ClientCertificate != "" || s.ClientKey != ""):
			diags = diags.Errorf("client_secret", "An app authenticates with one credential: remove client_secret or client_certificate.", "Both client_secret and client_certificate are set")
		case s.ClientSecret == "" && s.ClientCertificate == "":
			attr := "client_secret"
			if s.ClientKey != "" {
				attr = "client_key"
			}
			diags = diags.Errorf(attr, "Mode app needs the app's credential: set client_secret to a client secret's Value, or client_certificate (and client_key) to a certificate uploaded to the app registration.", "No client credential")
		}
	case ModeDelegated:
		if s.ClientCertificate != "" || s.ClientKey != "" {
			diags = diags.Errorf("client_certificate", "Certificate credentials are for mode = \"app\". A delegated login uses client_secret, or none for a public client (\"Allow public client flows\").", "client_certificate is not used in mode delegated")
		}
	default:
		diags = diags.Errorf("mode", "Use \"app\" or \"delegated\".", "Unknown mode %q", s.Mode)
	}
	return xoauth2send.CheckFrom(from, s.Username, fmt.Sprintf("Microsoft answers 5.7.60 SendAsDenied unless %s may send as %s: set from to the mailbox, or grant Send As (Add-RecipientPermission -Identity %s -Trustee %s -AccessRights SendAs).", s.Username, xoauth2send.Address(from), xoauth2send.Address(from), s.Username), diags)
}

// reset makes the transport refuse to send until the next good Configure.
func (t *Transport) reset() {
	t.slot.Fail(nil)
	t.mu.Lock()
	t.login, t.mode = nil, ""
	t.mu.Unlock()
}

// LoginConfig tells the agent how to run `tocsin oauth login` for mode
// delegated; in mode app there is nothing to log in to.
func (t *Transport) LoginConfig(context.Context) (*sdk.LoginConfig, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	switch {
	case t.login != nil:
		lc := *t.login
		lc.Scopes = slices.Clone(lc.Scopes)
		lc.AuthParams = maps.Clone(lc.AuthParams)
		lc.CACertsPEM = slices.Clone(lc.CACertsPEM)
		return &lc, nil
	case t.mode == ModeApp:
		return nil, fmt.Errorf("mode = %q authenticates with the app's own credential, set in the transport block: %w", ModeApp, sdk.ErrNoLogin)
	default:
		return nil, errors.New("transport is not configured: fix the errors `tocsin validate` reports for it")
	}
}

// Check connects, starts TLS, logs in with an access token and quits.
func (t *Transport) Check(ctx context.Context) error { return t.slot.Check(ctx) }

// Close closes the sender's connections; the plugin's main calls it once
// the agent has stopped the plugin. It always returns nil.
func (t *Transport) Close() error { return t.slot.Close() }

// Send delivers msgs over the pooled connections.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	return t.slot.Send(ctx, msgs)
}
