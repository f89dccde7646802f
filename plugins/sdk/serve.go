package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// NewLogger returns the logger a plugin should use: JSON on stderr, which
// go-plugin hands to the agent, where it is logged with the plugin's name.
func NewLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// ErrNotStartedByAgent is what [Serve] returns when the process was not
// started by a Tocsin agent: someone ran the plugin by hand.
var ErrNotStartedByAgent = errors.New("this is a Tocsin transport plugin: the agent starts it (put it in the agent's plugin_dir); run it with the single argument \"describe\" to see what it is and which settings it takes")

// ServeOption changes how [Serve] (or [Plugin]) serves a transport.
type ServeOption func(*serveOptions)

// serveOptions is what the ServeOptions set.
type serveOptions struct {
	logger hclog.Logger
	args   []string
	stdout io.Writer
}

// WithLogger makes l the logger the transport gets in Config.Logger and
// the SDK logs with. It must write to stderr, which go-plugin relays to
// the agent's log, never to stdout, which carries go-plugin's handshake.
// The default is [NewLogger].
func WithLogger(l hclog.Logger) ServeOption {
	return func(o *serveOptions) { o.logger = l }
}

// WithArgs makes args the command line Serve reads instead of os.Args[1:];
// for tests of a main function.
func WithArgs(args ...string) ServeOption {
	return func(o *serveOptions) { o.args = args }
}

// withStdout makes w where "describe" prints; for this package's tests.
func withStdout(w io.Writer) ServeOption {
	return func(o *serveOptions) { o.stdout = w }
}

func newServeOptions(opts []ServeOption) *serveOptions {
	o := &serveOptions{args: os.Args[1:], stdout: os.Stdout}
	for _, opt := range opts {
		opt(o)
	}
	if o.logger == nil {
		o.logger = NewLogger()
	}
	return o
}

// Serve runs t as a transport plugin and returns when the agent stops it.
// It is the whole of a plugin's main function:
//
//	func main() {
//		if err := sdk.Serve(mytransport.New()); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//	}
//
// Run by hand with the single argument "describe", it prints the plugin's
// description as JSON and returns nil, which helps packagers and operators.
// Run by hand otherwise, it returns [ErrNotStartedByAgent] at once.
func Serve(t Transport, opts ...ServeOption) error {
	if t == nil {
		return errors.New("serve transport: no implementation")
	}
	o := newServeOptions(opts)
	if len(o.args) == 1 && o.args[0] == "describe" {
		return printDescription(o.stdout, t)
	}
	// go-plugin checks the cookie too, but then prints its own text and
	// exits the process; a plugin's main decides that.
	if os.Getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		return ErrNotStartedByAgent
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &grpcPlugin{impl: t, logger: o.logger, maxRecv: MaxRequestBytes}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, serverOptions()...)...)
		},
		Logger: o.logger,
	})
	return nil
}

func printDescription(w io.Writer, t Transport) error {
	d, err := t.Describe(context.Background())
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	if d == nil {
		return errors.New("describe: the transport returned no description")
	}
	d.SDKVersion = SDKVersion
	d.ProtocolVersion = ProtocolVersion
	d.MaxMessageBytes = MaxRequestBytes
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	return nil
}
