package config

import (
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/rules"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Defaults that do not depend on the machine.
const (
	DefaultDataDir  = "/var/lib/tocsin"
	DefaultListen   = "127.0.0.1:9870"
	DefaultLogLevel = "info"
)

// LogLevels lists the accepted values of agent.log_level, from the most
// verbose.
var LogLevels = []string{"trace", "debug", "info", "warn", "error"}

// Config is a loaded configuration. Load returns one even when it reports
// errors, so that its diagnostics can be rendered with their source.
type Config struct {
	// Agent holds the merged agent blocks, defaults filled in.
	Agent Agent
	// Transports holds the transport blocks in file order.
	Transports []*Transport
	// Contacts holds the contact blocks in file order.
	Contacts []*Contact
	// Checks holds the check blocks in file order; rules read them as
	// check.NAME.
	Checks []*Check
	// Peers holds the peer blocks in file order; rules read them as
	// peer.NAME.
	Peers []*Check
	// Node holds this node's facts (the node blocks, merged).
	Node Node
	// Rules holds the rule blocks in file order.
	Rules []*rules.Rule
	// Delivery is the delivery block, defaults filled in.
	Delivery Delivery
	// Credentials holds the credential blocks in file order: who may
	// call the agent's API, with which role.
	Credentials []*Credential
	// Insecure holds the problems that make the agent's API or its peer
	// link open to others: warnings in Load's diagnostics, which
	// `tocsin validate` reports as errors unless an explicit insecure
	// setting accepts them (those stay warnings, and are not here).
	Insecure hcl.Diagnostics
	// Files holds the absolute paths of the files loaded, in load order.
	Files []string
	// Sources maps a file name as it appears in hcl.Range.Filename to the
	// file's bytes, for rendering diagnostics.
	Sources map[string][]byte

	// sensitive holds, per file name, the ranges of values that the
	// name heuristic marks secret; schema-sensitive ranges live on the
	// transports.
	sensitive map[string][]hcl.Range
	// broken holds the files that did not parse (or were over the
	// limits): no range in them is trusted when rendering.
	broken map[string]bool
	// fileReads holds what file() read, in whole and line by line: it is
	// never echoed in diagnostics, whatever setting it went to.
	fileReads []string
}

// Agent holds the settings of the agent block.
type Agent struct {
	// Node is the name of this node; default os.Hostname().
	Node string
	// DataDir holds the outbox, rule state and token store (absolute).
	DataDir string
	// PluginDir is where plugin binaries are found (absolute); default
	// "plugins" next to the running executable, or PackagedPluginDir
	// when that is PackagedExecutable.
	PluginDir string
	// LocalPluginDir is where third-party plugins are found (absolute),
	// before PluginDir: on a name clash the plugin here wins. A missing
	// directory holds no plugins, and "" means none. Default:
	// PackagedLocalPluginDir when the running executable is
	// PackagedExecutable, else none.
	LocalPluginDir string
	// Listen is the host:port of the status server.
	Listen string
	// LogLevel is one of LogLevels.
	LogLevel string
	// LogJSON switches the log to JSON lines.
	LogJSON bool
	// Mute makes the agent evaluate and record, but deliver nothing.
	Mute bool
	// TokenKeyFile is the file (absolute) holding the key that encrypts
	// the tokens `tocsin oauth login` stores; it is generated on first
	// use. Empty, with TokenKeyEnv empty too, means DataDir/token.key.
	TokenKeyFile string
	// TokenKeyEnv names an environment variable holding that key as
	// base64, instead of a file.
	TokenKeyEnv string
	// TLSCertFile and TLSKeyFile are the listener's certificate and key
	// (absolute); empty means the identity the agent generates in
	// DataDir/tls (see core/identity).
	TLSCertFile, TLSKeyFile string
	// TLSClientCAFile, when set, is a PEM file of the authorities whose
	// client certificates the listener verifies (each verified client
	// then needs a credential block with verified_client = true).
	TLSClientCAFile string
	// InsecurePlainHTTP serves plain HTTP on a listen address that is not
	// loopback: credentials then cross the network in the clear. Warned
	// about at validate and at every start.
	InsecurePlainHTTP bool
}

// ServesTLS reports whether the listener serves TLS: always, unless
// listen is a loopback address and no certificate file is given, or
// InsecurePlainHTTP is set.
func (a Agent) ServesTLS() bool {
	if a.TLSCertFile != "" {
		return true
	}
	if a.InsecurePlainHTTP {
		return false
	}
	return !loopbackListen(a.Listen)
}

// TokenKey returns where the token key lives: TokenKeyEnv, TokenKeyFile,
// or DataDir/token.key when neither is set. Exactly one of file and env
// is non-empty.
func (a Agent) TokenKey() (file, env string) {
	switch {
	case a.TokenKeyEnv != "":
		return "", a.TokenKeyEnv
	case a.TokenKeyFile != "":
		return a.TokenKeyFile, ""
	}
	return filepath.Join(a.DataDir, "token.key"), ""
}

// TokenDir is the directory of the encrypted token store.
func (a Agent) TokenDir() string { return filepath.Join(a.DataDir, "tokens") }

// Transport is a transport block: a named way of sending mail, served by a
// plugin.
type Transport struct {
	// Name is the block's label, unique across all files.
	Name string
	// Plugin is the plugin's name, such as "smtp-basic".
	Plugin string
	// From is the sender address as written (net/mail accepts it).
	From string
	// Path is an explicit plugin binary (absolute), or empty.
	Path string
	// SHA256 is the expected checksum of the plugin binary in lower-case
	// hex, or empty.
	SHA256 string
	// RateLimit bounds how fast the transport sends; the zero Rate does
	// not.
	RateLimit Rate
	// SendTimeout bounds one send through the transport (a batch
	// included), after which the attempt fails temporarily; zero means
	// the dispatcher's default (two minutes).
	SendTimeout time.Duration
	// TestTo holds the addresses (each accepted by net/mail) that a test
	// mail goes to, through this transport only, whenever its effective
	// settings differ from the last that passed a test; empty: no test
	// mail.
	TestTo []string
	// ClientSecretExpires is when the transport's client secret expires,
	// as the operator copied it from the provider's portal
	// (client_secret_expires); zero when not given. See credential.go.
	ClientSecretExpires time.Time
	// DeclRange is the range of the block's label.
	DeclRange hcl.Range
	// PluginRange is the range of the plugin argument's expression (the
	// block's header when the argument is missing).
	PluginRange hcl.Range
	// Settings holds the config block decoded against the plugin's schema;
	// it is set by DecodeSettings.
	Settings sdk.Settings
	// Origin is where the transport comes from when not from this
	// agent's files: `peer "NAME"`, the settings peer it was synced from
	// (see SettingsPeer); "" for the files.
	Origin string

	// preset is the JSON settings of a synced transport (no body).
	preset      []byte
	defRange    hcl.Range            // `transport "name"`, for block-level problems
	body        hcl.Body             // the config block's body, nil when there is none
	configRange hcl.Range            // the config block's header
	ctx         *hcl.EvalContext     // the evaluation context of the file
	attrRanges  map[string]hcl.Range // config attribute name -> expression range
	// sensitiveRanges are the expression ranges of the config attributes
	// that the plugin's schema marks sensitive.
	sensitiveRanges []hcl.Range
	// secrets are the decoded values of sensitive settings, scrubbed from
	// rendered diagnostics.
	secrets []string
}

// Contact is a contact block: a set of addresses and the transports to try,
// in order.
type Contact struct {
	// Name is the block's label, unique across all files.
	Name string
	// Email holds the addresses as written (each accepted by net/mail).
	Email []string
	// Via holds transport names in fallback order.
	Via []string
	// DeclRange is the range of the block's label.
	DeclRange hcl.Range
	// Origin is where the contact comes from when not from this agent's
	// files, as for a Transport.
	Origin string
}

// The layout of the Debian package: its executable, the plugins it
// bundles, and the directory for third-party plugins that upgrades never
// touch.
const (
	PackagedExecutable     = "/usr/bin/tocsin"
	PackagedPluginDir      = "/usr/lib/tocsin/plugins"
	PackagedLocalPluginDir = "/usr/local/lib/tocsin/plugins"
)

// executable returns the path of the running executable (a variable for
// tests).
var executable = os.Executable

// DefaultConfig returns a configuration holding only the defaults: node is
// the host name ("localhost" if it cannot be read), data_dir is
// DefaultDataDir, plugin_dir is "plugins" next to the running executable
// (relative to the working directory if the executable cannot be found),
// local_plugin_dir is none, listen is DefaultListen and log_level is
// DefaultLogLevel. When the running executable is PackagedExecutable,
// plugin_dir is PackagedPluginDir and local_plugin_dir
// PackagedLocalPluginDir.
func DefaultConfig() *Config {
	node, err := os.Hostname()
	if err != nil || node == "" {
		node = "localhost"
	}
	exe, _ := executable() // "" when unknown: plugins in the working directory
	pluginDir, localDir := filepath.Join(filepath.Dir(exe), "plugins"), ""
	if exe == PackagedExecutable {
		pluginDir, localDir = PackagedPluginDir, PackagedLocalPluginDir
	}
	if abs, err := filepath.Abs(pluginDir); err == nil {
		pluginDir = abs
	}
	return &Config{
		Agent: Agent{
			Node:           node,
			DataDir:        DefaultDataDir,
			PluginDir:      pluginDir,
			LocalPluginDir: localDir,
			Listen:         DefaultListen,
			LogLevel:       DefaultLogLevel,
		},
		Sources:   map[string][]byte{},
		sensitive: map[string][]hcl.Range{},
	}
}

// applyDefaults fills the agent arguments that no file set (those not in
// set) from DefaultConfig.
func (c *Config) applyDefaults(set map[string]hcl.Range) {
	def := DefaultConfig().Agent
	for _, name := range agentAttrs {
		if _, ok := set[name]; ok {
			continue
		}
		switch name {
		case "node":
			c.Agent.Node = def.Node
		case "data_dir":
			c.Agent.DataDir = def.DataDir
		case "plugin_dir":
			c.Agent.PluginDir = def.PluginDir
		case "local_plugin_dir":
			c.Agent.LocalPluginDir = def.LocalPluginDir
		case "listen":
			c.Agent.Listen = def.Listen
		case "log_level":
			c.Agent.LogLevel = def.LogLevel
		case "log_json":
			c.Agent.LogJSON = def.LogJSON
		case "mute":
			c.Agent.Mute = def.Mute
		case "token_key_file":
			c.Agent.TokenKeyFile = def.TokenKeyFile
		case "token_key_env":
			c.Agent.TokenKeyEnv = def.TokenKeyEnv
		}
	}
}

// Transport returns the transport named name, or nil.
func (c *Config) Transport(name string) *Transport {
	for _, t := range c.Transports {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Contact returns the contact named name, or nil.
func (c *Config) Contact(name string) *Contact {
	for _, k := range c.Contacts {
		if k.Name == name {
			return k
		}
	}
	return nil
}
