package sdk

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
)

// Transport delivers mail. A plugin implements it and passes it to [Serve];
// the agent holds the same interface backed by gRPC.
//
// Every method takes a context that bounds the call and returns an error.
// Configure is called before Check and Send, and again when the
// configuration changes; Send may be called concurrently with itself.
type Transport interface {
	// Describe returns the plugin's identity and the schema of its settings.
	Describe(ctx context.Context) (*Description, error)

	// Configure validates and applies settings. Problems with a setting are
	// returned as diagnostics naming the attribute, so the agent can point
	// at the line of the config file; error is for anything else. A
	// transport with error diagnostics must refuse to send.
	Configure(ctx context.Context, cfg Config) (Diagnostics, error)

	// Check proves connectivity and credentials without sending mail.
	Check(ctx context.Context) error

	// Send delivers msgs. A non-nil error means no message was accepted,
	// and applies to all of them. Otherwise there is one Result per
	// message, in order, each with its own error or receipt. A transport
	// that can reuses one connection for the whole batch. An empty msgs
	// is the agent's warm-up while it stores new notifications: send
	// nothing and return no results and no error; a transport may use it
	// to connect and log in ahead of the batch that follows.
	Send(ctx context.Context, msgs []*Message) ([]Result, error)
}

// Description is a plugin's answer to Describe.
type Description struct {
	// Name is the plugin's name, the NAME in tocsin-plugin-NAME.
	Name string `json:"name"`
	// Version is the plugin's own version, usually set with -ldflags.
	Version string `json:"version"`
	// Summary is one line about what the plugin does.
	Summary string `json:"summary,omitempty"`
	// SDKVersion and ProtocolVersion are filled in by the SDK.
	SDKVersion      string `json:"sdk_version"`
	ProtocolVersion int    `json:"protocol_version"`
	// Schema lists the settings the plugin takes in its config block.
	Schema Schema `json:"schema"`
	// Batch is true when a batch of messages shares one connection.
	Batch bool `json:"batch"`
	// MaxMessageBytes is the largest Send request the plugin accepts, in
	// bytes as encoded on the wire; the SDK fills it in. 0, from a plugin
	// built before it was reported, means gRPC's default of 4 MiB; use
	// [Description.MessageLimit], which knows that.
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
}

// Config is what Configure receives.
type Config struct {
	// Transport is the name of the transport block, for messages.
	Transport string
	// From is the transport's sender address.
	From string
	// Settings are the values of the config block, typed by the schema.
	Settings Settings
	// Logger writes to the agent's log. Never log a sensitive setting.
	Logger hclog.Logger
	// Credential is what `tocsin oauth login` stored for this transport
	// (a refresh token), or "" when the operator has not logged in yet.
	Credential string
	// SaveCredential hands the agent a replacement for Credential, such
	// as a rotated refresh token, to store encrypted. It is safe to call
	// from any goroutine; the agent receives the value with the answer to
	// the Check or Send call in progress, or the next one. The SDK never
	// calls Configure with a nil SaveCredential.
	SaveCredential func(value string)
}

// Authorizer is implemented by a transport whose credential the operator
// obtains interactively, with `tocsin oauth login`. The agent calls
// LoginConfig after Configure, with Config.Credential possibly "".
//
// A transport that needs a login and has no Credential yet should accept
// Configure with a warning that names the command, and fail Check and Send
// with a permanent error that says the same.
type Authorizer interface {
	// LoginConfig tells the agent how to run the OAuth 2.0
	// authorization-code (PKCE) or device flow for the configured
	// transport.
	LoginConfig(ctx context.Context) (*LoginConfig, error)
}

// LoginConfig describes an OAuth 2.0 client and its provider's endpoints.
type LoginConfig struct {
	// AuthURL is the authorization endpoint; TokenURL the token endpoint.
	AuthURL  string
	TokenURL string
	// DeviceAuthURL is the device authorization endpoint, or "" when the
	// provider offers no device flow for these scopes; NoDeviceReason
	// then tells the operator why.
	DeviceAuthURL  string
	NoDeviceReason string
	// ClientID and ClientSecret identify the client; ClientSecret is ""
	// for a public client. ClientSecret is sensitive.
	ClientID     string
	ClientSecret string
	// Scopes are requested in both flows.
	Scopes []string
	// AuthParams are extra authorization URL parameters, such as
	// login_hint, or Google's access_type=offline and prompt=consent.
	AuthParams map[string]string
	// CACertsPEM are roots to trust for these endpoints in addition to
	// the system's (the transport's ca_file).
	CACertsPEM []byte
	// Account is the mailbox the login is for, shown to the operator.
	Account string
}

// ErrNoLogin is returned by LoginConfig on the agent's side when the
// plugin does not implement [Authorizer].
var ErrNoLogin = errors.New("the transport's plugin has no interactive login: its credentials are settings in its transport block")

// Result is the outcome of sending one message.
type Result struct {
	// MessageID is the Message-ID of the message this result is for.
	MessageID string
	// Receipt is the provider's acceptance, such as "250 2.0.0 Ok: queued".
	Receipt string
	// Err is nil when the provider accepted the message; otherwise it is a
	// *DeliveryError, or is treated as a temporary one.
	Err error
}
