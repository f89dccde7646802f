package gmail

import (
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// settings is the decoded config block.
type settings struct {
	ServiceAccountFile string       `json:"service_account_file"`
	Subject            string       `json:"subject"`
	ClientFile         string       `json:"client_file"`
	APIEndpoint        string       `json:"api_endpoint"`
	Scopes             []string     `json:"scopes"`
	CAFile             string       `json:"ca_file"`
	TokenGrace         sdk.Duration `json:"token_grace"`
	Timeout            sdk.Duration `json:"timeout"`
}

// noDeviceReason is why LoginConfig offers no device flow.
const noDeviceReason = "Google does not allow Gmail scopes in the device flow; run the browser flow (it can be done from another machine through an SSH tunnel to the redirect port)"

// defaults returns the settings an empty config block means.
func defaults() settings {
	return settings{
		APIEndpoint: DefaultAPIEndpoint,
		Scopes:      []string{ScopeSend},
		TokenGrace:  sdk.Duration(30 * time.Second),
		Timeout:     sdk.Duration(30 * time.Second),
	}
}

// configure decodes and validates cfg and builds the transport's state.
// It returns a nil state when there are error diagnostics or an error.
func configure(cfg sdk.Config, userAgent string) (*state, sdk.Diagnostics, error) {
	s := defaults()
	if err := cfg.Settings.Decode(&s); err != nil {
		return nil, nil, err
	}
	var diags sdk.Diagnostics
	endpoint, err := apiBase(s.APIEndpoint)
	if err != nil {
		diags = diags.Errorf("api_endpoint", "Set api_endpoint to an https URL such as "+DefaultAPIEndpoint+", or remove it.", "%v", err)
	}
	diags = checkScopes(diags, s.Scopes)
	if s.Timeout <= 0 {
		diags = diags.Errorf("timeout", "Use a positive duration such as \"30s\".", "Timeout %s is not positive", time.Duration(s.Timeout))
	}
	if s.TokenGrace < 0 {
		diags = diags.Errorf("token_grace", "Use a duration of zero or more, such as \"30s\".", "Token grace %s is negative", time.Duration(s.TokenGrace))
	}
	var caPEM []byte
	if s.CAFile != "" {
		if caPEM, err = oauth.CACertsPEM(s.CAFile); err != nil {
			diags = diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err)
		}
	}

	var m mode
	switch {
	case s.ServiceAccountFile != "" && s.ClientFile != "":
		diags = diags.Errorf("client_file", "Set service_account_file (with subject) to send through domain-wide delegation, or client_file to send as a mailbox authorized with \"tocsin oauth login\"; not both.", "Both service_account_file and client_file are set")
	case s.ServiceAccountFile != "":
		m, diags = serviceAccountMode(diags, s, cfg.From)
	case s.ClientFile != "":
		m, diags = clientMode(diags, s, cfg, caPEM)
	default:
		diags = diags.Errorf("", "Set service_account_file (a service account's JSON key, with subject) for domain-wide delegation, or client_file (an OAuth client's JSON) and run \"tocsin oauth login\".", "Neither service_account_file nor client_file is set")
	}
	if diags.HasErrors() {
		return nil, diags, nil
	}

	hc, err := oauth.HTTPClient(s.CAFile, time.Duration(s.Timeout))
	if err != nil {
		return nil, diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err), nil
	}
	st := &state{
		sender: &sender{
			endpoint:       endpoint,
			hc:             hc,
			userAgent:      userAgent,
			maxBytes:       MaxMessageBytes,
			serviceAccount: m.serviceAccount,
			missing:        m.missing,
		},
		login:    m.login,
		loginErr: m.loginErr,
	}
	if m.fetcher != nil {
		fetch, err := m.fetcher(hc)
		if err != nil {
			return nil, diags.Errorf(m.attribute, m.fileRemedy, "%v", err), nil
		}
		st.sender.tokens = oauth.NewCache(fetch, time.Duration(s.TokenGrace))
	}
	return st, diags, nil
}

// mode is how the transport obtains access tokens.
type mode struct {
	// serviceAccount is true for service_account_file, false for
	// client_file.
	serviceAccount bool
	// attribute is the setting naming the credential file; fileRemedy
	// tells the operator how to get a good one.
	attribute, fileRemedy string
	// fetcher builds the token fetcher; it is nil when there is no
	// credential to fetch with (missing is then set).
	fetcher func(hc *http.Client) (oauth.Fetcher, error)
	// missing is the error of every Check and Send when no refresh token
	// is stored.
	missing *sdk.DeliveryError
	// login and loginErr are what LoginConfig returns.
	login    *sdk.LoginConfig
	loginErr error
}

const (
	serviceAccountRemedy = "Download a JSON key for the service account (Google Cloud console, IAM & Admin > Service accounts > Keys > Add key > JSON) and point service_account_file at it."
	clientRemedy         = "Download the OAuth client's JSON (Google Cloud console, APIs & Services > Credentials, an OAuth client ID of type Desktop app) and point client_file at it."
)

// serviceAccountMode validates service_account_file and subject.
func serviceAccountMode(diags sdk.Diagnostics, s settings, from string) (mode, sdk.Diagnostics) {
	m := mode{
		serviceAccount: true,
		attribute:      "service_account_file",
		fileRemedy:     serviceAccountRemedy,
		loginErr:       fmt.Errorf("the transport authenticates with a service account (service_account_file), which domain-wide delegation authorizes: %w", sdk.ErrNoLogin),
	}
	key, diags := readCredentialFile(diags, "service_account_file", s.ServiceAccountFile, oauth.KindServiceAccount)
	subject := strings.TrimSpace(s.Subject)
	if subject == "" {
		diags = diags.Errorf("subject", "Set subject to the mailbox to send as, a user of the domain whose Admin console gives the service account's client ID domain-wide delegation. Without a subject Gmail answers failedPrecondition: a service account has no mailbox.", "Subject required with service_account_file")
	} else if addr := address(from); addr != "" && !strings.EqualFold(addr, subject) {
		diags = diags.Warnf("subject", "Gmail sends as the subject: it keeps the From address only if it is one of the subject's send-as addresses, and otherwise replaces it with the subject's own address.", "From %s differs from subject %s", addr, subject)
	}
	m.fetcher = func(hc *http.Client) (oauth.Fetcher, error) {
		return oauth.GoogleServiceAccount(key, subject, hc, s.Scopes...)
	}
	return m, diags
}

// clientMode validates client_file and sets up the login and the refresh
// token grant.
func clientMode(diags sdk.Diagnostics, s settings, cfg sdk.Config, caPEM []byte) (mode, sdk.Diagnostics) {
	m := mode{attribute: "client_file", fileRemedy: clientRemedy}
	client, diags := readCredentialFile(diags, "client_file", s.ClientFile, oauth.KindInstalled, oauth.KindWeb)
	if s.Subject != "" {
		diags = diags.Warnf("subject", "With client_file the mailbox is the Google account that signs in during \"tocsin oauth login\"; subject only applies to service_account_file. Remove it.", "Subject is not used with client_file")
	}
	if client == nil {
		return m, diags
	}
	oc, err := oauth.GoogleClient(client, s.Scopes...)
	if err != nil {
		return m, diags.Errorf("client_file", clientRemedy, "%v", err)
	}
	m.login = &sdk.LoginConfig{
		AuthURL:        oc.Endpoint.AuthURL,
		TokenURL:       oc.Endpoint.TokenURL,
		NoDeviceReason: noDeviceReason,
		ClientID:       oc.ClientID,
		ClientSecret:   oc.ClientSecret,
		Scopes:         slices.Clone(s.Scopes),
		// Google returns a refresh token only with both.
		AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"},
		CACertsPEM: caPEM,
		Account:    address(cfg.From),
	}
	if cfg.Credential == "" {
		remedy := loginRemedy(cfg.Transport)
		diags = diags.Warnf("client_file", remedy, "No refresh token stored for transport %q", cfg.Transport)
		m.missing = sdk.PermanentError(fmt.Errorf("no refresh token stored for transport %q", cfg.Transport), "", remedy)
		return m, diags
	}
	refresh, save := cfg.Credential, cfg.SaveCredential
	m.fetcher = func(hc *http.Client) (oauth.Fetcher, error) {
		return oauth.Refresher(oc, hc, refresh, save), nil
	}
	return m, diags
}

// loginRemedy tells the operator how to store a refresh token for the
// transport named name.
func loginRemedy(name string) string {
	return fmt.Sprintf("Run \"tocsin oauth login -config PATH -transport %s\" (PATH: the agent's config file) and sign in as the mailbox to send from.", name)
}

// readCredentialFile reads a Google JSON file named by attribute and checks
// it is of one of the kinds want. It returns nil with an error diagnostic
// when it is not; the diagnostic never quotes the file.
func readCredentialFile(diags sdk.Diagnostics, attribute, path string, want ...string) ([]byte, sdk.Diagnostics) {
	remedy := serviceAccountRemedy
	if attribute == "client_file" {
		remedy = clientRemedy
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, diags.Errorf(attribute, remedy, "read %s: %v", attribute, err)
	}
	kind := oauth.FileKind(b)
	switch {
	case slices.Contains(want, kind):
		return b, diags
	case kind == oauth.KindServiceAccount:
		return nil, diags.Errorf(attribute, "Set this file as service_account_file, with subject, to send through domain-wide delegation; or download the OAuth client's JSON (APIs & Services > Credentials) for client_file.", "%s %s is a service account key, not an OAuth client", attribute, path)
	case kind == oauth.KindInstalled || kind == oauth.KindWeb:
		return nil, diags.Errorf(attribute, "Set this file as client_file and run \"tocsin oauth login\"; or download a JSON key of the service account (IAM & Admin > Service accounts > Keys) for service_account_file.", "%s %s is an OAuth client (%q), not a service account key", attribute, path, kind)
	default:
		return nil, diags.Errorf(attribute, remedy, "%s %s is not a Google credential JSON file", attribute, path)
	}
}

// checkScopes reports an empty scope list, a blank scope, and a list with
// no scope that allows sending.
func checkScopes(diags sdk.Diagnostics, scopes []string) sdk.Diagnostics {
	if len(scopes) == 0 {
		return diags.Errorf("scopes", "List at least one scope, such as \""+ScopeSend+"\", or remove scopes for that default.", "No scopes")
	}
	if slices.ContainsFunc(scopes, func(s string) bool { return strings.TrimSpace(s) == "" }) {
		return diags.Errorf("scopes", "Remove the empty string from scopes.", "Empty scope")
	}
	if !slices.Contains(scopes, ScopeSend) && !slices.Contains(scopes, ScopeFull) {
		diags = diags.Warnf("scopes", "Gmail refuses to send with insufficientPermissions unless the token has "+ScopeSend+" or "+ScopeFull+"; add one.", "No scope allows sending")
	}
	return diags
}

// apiBase checks the api_endpoint setting and returns it without a
// trailing slash.
func apiBase(endpoint string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(endpoint))
	if err != nil {
		return "", fmt.Errorf("parse api_endpoint: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("api_endpoint %q is not an https base URL", endpoint)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// address returns the address part of from ("Name <a@b>" or "a@b").
func address(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return strings.TrimSpace(from)
}
