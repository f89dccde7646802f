package gmail

import (
	"context"
	"maps"
	"slices"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name.
const Name = "gmail"

// Gmail API facts.
const (
	// DefaultAPIEndpoint is the Gmail API's base URL.
	DefaultAPIEndpoint = "https://gmail.googleapis.com"
	// ScopeSend is the least-privilege scope for sending, the default.
	ScopeSend = "https://www.googleapis.com/auth/gmail.send"
	// ScopeFull is full Gmail access, which also allows sending.
	ScopeFull = "https://mail.google.com/"
	// MaxMessageBytes is the largest message the media upload takes, 35 MiB.
	MaxMessageBytes = 36700160
)

// Schema is the gmail config block.
var Schema = sdk.Schema{
	{Name: "service_account_file", Type: sdk.TypeString, Description: "Path of a service account's JSON key, for domain-wide delegation; set subject with it. Set exactly one of service_account_file and client_file."},
	{Name: "subject", Type: sdk.TypeString, Description: "The mailbox the service account sends as (domain-wide delegation); required with service_account_file."},
	{Name: "client_file", Type: sdk.TypeString, Description: "Path of an OAuth client's JSON as Google Cloud console downloads it (Desktop app); authorize a mailbox with \"tocsin oauth login\", which stores the refresh token. Set exactly one of service_account_file and client_file."},
	{Name: "api_endpoint", Type: sdk.TypeString, Default: DefaultAPIEndpoint, Description: "Base URL of the Gmail API (https)."},
	{Name: "scopes", Type: sdk.TypeListOfString, Default: `["` + ScopeSend + `"]`, Description: "OAuth scopes to request; gmail.send is enough to send, https://mail.google.com/ also works."},
	{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of CA certificates to trust, in addition to the system's, for the token endpoint and the Gmail API."},
	{Name: "token_grace", Type: sdk.TypeDuration, Default: "30s", Description: "Renew an access token this long before it expires."},
	{Name: "timeout", Type: sdk.TypeDuration, Default: "30s", Description: "Bound for each request to the token endpoint and to the Gmail API."},
}

// Transport is the gmail transport.
type Transport struct {
	version string

	cur sdk.Configured[state] // unset until a Configure without error diagnostics
}

// state is what a successful Configure sets up.
type state struct {
	sender *sender
	// login is the authorization-code login of client_file mode; nil in
	// service account mode, where loginErr says why there is none.
	login    *sdk.LoginConfig
	loginErr error
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
		Summary: "Gmail API (users.messages.send) with a service account and domain-wide delegation, or an OAuth client and tocsin oauth login.",
		Schema:  Schema,
		Batch:   true,
	}, nil
}

// Configure validates the settings and, when they are good, applies them.
// Settings with error diagnostics leave the transport unconfigured.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	st, diags, err := configure(cfg, "Tocsin gmail/"+t.version)
	t.cur.Set(st)
	return diags, err
}

// Check obtains an access token, which proves the credential and, for a
// service account, its delegation for the scopes. It sends nothing: the
// Gmail API has no call that gmail.send alone may make without sending.
func (t *Transport) Check(ctx context.Context) error {
	st, err := t.cur.Get()
	if err != nil {
		return err
	}
	return st.sender.check(ctx)
}

// Send delivers each message with its own users.messages.send call. An
// error that concerns the credential or the mailbox rather than the message
// (a token error, a missing permission, a rate limit) ends the batch: the
// messages not yet sent get the same error.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	st, err := t.cur.Get()
	if err != nil {
		return nil, err
	}
	return st.sender.send(ctx, msgs)
}

// LoginConfig returns what `tocsin oauth login` needs for client_file mode:
// the client's endpoints, ID and secret, the scopes, and the parameters
// that make Google return a refresh token. Google offers no device flow for
// Gmail scopes. In service account mode it fails: there is nothing to log
// in to.
func (t *Transport) LoginConfig(context.Context) (*sdk.LoginConfig, error) {
	st, err := t.cur.Get()
	if err != nil {
		return nil, err
	}
	if st.login == nil {
		return nil, st.loginErr
	}
	lc := *st.login
	lc.Scopes = slices.Clone(lc.Scopes)
	lc.AuthParams = maps.Clone(lc.AuthParams)
	lc.CACertsPEM = slices.Clone(lc.CACertsPEM)
	return &lc, nil
}
