// Package googleoauth is the smtp-oauth-google transport: SMTP to Gmail or
// Google Workspace (smtp.gmail.com, 587 STARTTLS or 465 TLS) with an OAuth
// 2.0 access token in SASL XOAUTH2, scope https://mail.google.com/.
//
// The token comes either from a service account key with domain-wide
// delegation, acting for subject (service_account_file + subject), or from
// a user's refresh token that `tocsin oauth login` obtained with the OAuth
// client in client_file (Google's downloaded JSON, read as is).
//
// One access token serves every send until token_grace before it expires.
// Google's replies (535 5.7.8 after its 334 JSON challenge, 534 5.7.9) and
// its token endpoint's errors come back with a remedy.
package googleoauth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name.
const Name = "smtp-oauth-google"

// DefaultHost is Google's SMTP submission server.
const DefaultHost = "smtp.gmail.com"

// Scope is the only scope Gmail's SMTP server accepts.
const Scope = "https://mail.google.com/"

// NoDeviceReason is why a login for this transport cannot use the device
// flow.
const NoDeviceReason = "Google does not allow the https://mail.google.com/ scope in the device flow; run the browser flow (it works through an SSH tunnel to the redirect port)"

// Schema is the smtp-oauth-google config block.
var Schema = slices.Concat(sdk.Schema{
	{Name: "service_account_file", Type: sdk.TypeString, Description: "JSON key file of a service account with domain-wide delegation for https://mail.google.com/ (Google Workspace). Set it and subject, or client_file."},
	{Name: "subject", Type: sdk.TypeString, Description: "The Workspace user the service account acts for: the mailbox that sends, so username must be the same."},
	{Name: "client_file", Type: sdk.TypeString, Description: "OAuth client JSON file as Google Cloud console downloads it (Desktop app); the refresh token comes from `tocsin oauth login`."},
}, xoauth2send.SMTPSchema(DefaultHost))

// settings is the decoded config block.
type settings struct {
	xoauth2send.SMTPSettings
	ServiceAccountFile string `json:"service_account_file"`
	Subject            string `json:"subject"`
	ClientFile         string `json:"client_file"`
}

// Transport is the smtp-oauth-google transport.
type Transport struct {
	version string
	slot    xoauth2send.Slot

	mu    sync.RWMutex
	login *sdk.LoginConfig // client_file; nil otherwise
	// serviceAccount is true when configured with a service account.
	serviceAccount bool
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
		Summary: "Gmail and Google Workspace SMTP with OAuth 2.0 (XOAUTH2), from a service account or a user's login.",
		Schema:  Schema,
		Batch:   true,
	}, nil
}

// Configure validates the settings and, when they are good, applies them.
// With client_file and no stored login it applies them with a warning, and
// Check and Send fail until the operator runs `tocsin oauth login`.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	s := settings{SMTPSettings: xoauth2send.DefaultSMTPSettings(DefaultHost)}
	if err := cfg.Settings.Decode(&s); err != nil {
		t.reset()
		return nil, err
	}
	diags := s.check(cfg.From)
	if diags.HasErrors() {
		t.reset()
		return diags, nil
	}
	hc, err := oauth.HTTPClient(s.CAFile, time.Duration(s.Timeout))
	if err != nil {
		t.reset()
		return diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err), nil
	}

	var fetch oauth.Fetcher
	var login *sdk.LoginConfig
	var noLogin error
	if s.ServiceAccountFile != "" {
		key, err := readCredentials("service_account_file", s.ServiceAccountFile, oauth.KindServiceAccount)
		if err == nil {
			fetch, err = oauth.GoogleServiceAccount(key, s.Subject, hc, Scope)
		}
		if err != nil {
			t.reset()
			return diags.Errorf("service_account_file", "Download the service account's key as JSON from Google Cloud console (IAM & Admin > Service accounts > Keys) and point service_account_file at it.", "%v", err), nil
		}
	} else {
		client, err := readCredentials("client_file", s.ClientFile, oauth.KindInstalled, oauth.KindWeb)
		if err != nil {
			t.reset()
			return diags.Errorf("client_file", "Download the OAuth client's JSON from Google Cloud console (APIs & Services > Credentials) and point client_file at it.", "%v", err), nil
		}
		oc, err := oauth.GoogleClient(client, Scope)
		if err != nil {
			t.reset()
			return diags.Errorf("client_file", "Download the OAuth client's JSON from Google Cloud console (APIs & Services > Credentials) and point client_file at it.", "%v", err), nil
		}
		caPEM, err := oauth.CACertsPEM(s.CAFile)
		if err != nil {
			t.reset()
			return diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err), nil
		}
		login = &sdk.LoginConfig{
			AuthURL:        oc.Endpoint.AuthURL,
			TokenURL:       oc.Endpoint.TokenURL,
			NoDeviceReason: NoDeviceReason,
			ClientID:       oc.ClientID,
			ClientSecret:   oc.ClientSecret,
			Scopes:         []string{Scope},
			AuthParams:     map[string]string{"access_type": "offline", "prompt": "consent", "login_hint": s.Username},
			CACertsPEM:     caPEM,
			Account:        s.Username,
		}
		if cfg.Credential == "" {
			d, err := xoauth2send.NoLogin(cfg.Transport, "client_file", s.Username)
			diags = append(diags, d)
			noLogin = err
		} else {
			fetch = oauth.Refresher(oc, hc, cfg.Credential, cfg.SaveCredential)
		}
	}

	t.mu.Lock()
	t.login, t.serviceAccount = login, s.ServiceAccountFile != ""
	t.mu.Unlock()
	if noLogin != nil {
		t.slot.Fail(noLogin)
		return diags, nil
	}
	sender, err := xoauth2send.New(s.SMTPOptions("Tocsin "+Name+"/"+t.version, Remedies(s.ServiceAccountFile != "", s.Username)), fetch, time.Duration(s.TokenGrace))
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
	switch {
	case s.ServiceAccountFile != "" && s.ClientFile != "":
		diags = diags.Errorf("client_file", "Use a service account (service_account_file and subject) or a user's login (client_file), not both.", "Both service_account_file and client_file are set")
	case s.ServiceAccountFile == "" && s.ClientFile == "":
		diags = diags.Errorf("", "Set service_account_file and subject for a Google Workspace service account with domain-wide delegation, or client_file for a user's login with `tocsin oauth login`.", "No Google credential")
	case s.ServiceAccountFile != "":
		switch {
		case strings.TrimSpace(s.Subject) == "":
			diags = diags.Errorf("subject", "Set subject to the Workspace user the service account sends as (domain-wide delegation); without one Google's token is for the service account itself, which has no mailbox.", "Subject is empty")
		case !xoauth2send.SameAddress(s.Subject, s.Username):
			diags = diags.Warnf("subject", fmt.Sprintf("The token acts for %s, so Gmail rejects a login as %s (535 5.7.8): set username to the subject, or remove it and set from to %s.", s.Subject, s.Username, s.Subject), "Username %s is not the subject %s", s.Username, s.Subject)
		}
	default:
		if s.Subject != "" {
			diags = diags.Warnf("subject", "subject only applies to service_account_file; a login acts for the account that signed in. Remove it.", "Subject is not used with client_file")
		}
	}
	return xoauth2send.CheckFrom(from, s.Username, fmt.Sprintf("Gmail replaces From with %s unless the address is one of its verified \"Send mail as\" addresses: set from to %s, or add the address in Gmail settings > Accounts.", s.Username, s.Username), diags)
}

// readCredentials reads the JSON file of setting attr and checks that it
// is one of the kinds of Google credential file wanted, so that a file
// given in the wrong setting is named as such. Errors never quote the
// file's content.
func readCredentials(attr, path string, want ...string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", attr, err)
	}
	switch kind := oauth.FileKind(b); {
	case slices.Contains(want, kind):
		return b, nil
	case kind == oauth.KindServiceAccount:
		return nil, fmt.Errorf("%s %s is a service account key: give it as service_account_file, with subject", attr, path)
	case kind == oauth.KindInstalled || kind == oauth.KindWeb:
		return nil, fmt.Errorf("%s %s is an OAuth client file (%s): give it as client_file", attr, path, kind)
	default:
		return nil, fmt.Errorf("%s %s is not a Google credentials JSON file", attr, path)
	}
}

// reset makes the transport refuse to send until the next good Configure.
func (t *Transport) reset() {
	t.slot.Fail(nil)
	t.mu.Lock()
	t.login, t.serviceAccount = nil, false
	t.mu.Unlock()
}

// LoginConfig tells the agent how to run `tocsin oauth login` with
// client_file; a service account needs no login. Google offers no device
// flow for the scope, so DeviceAuthURL is empty.
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
	case t.serviceAccount:
		return nil, fmt.Errorf("a service account (service_account_file) authenticates with its key: %w", sdk.ErrNoLogin)
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
