package sdk

import (
	"context"

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
	// that can reuses one connection for the whole batch.
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
}

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
