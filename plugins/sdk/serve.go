package sdk

import (
	"context"
	"encoding/json"
	"fmt"
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

// Serve runs t as a transport plugin and returns when the agent stops it.
// It is the whole of a plugin's main function:
//
//	func main() { sdk.Serve(mytransport.New()) }
//
// Run by hand with the single argument "describe", it prints the plugin's
// description as JSON and exits, which helps packagers and operators.
func Serve(t Transport) {
	if len(os.Args) == 2 && os.Args[1] == "describe" {
		if err := printDescription(os.Stdout, t); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	logger := NewLogger()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			1: {PluginName: &GRPCPlugin{Impl: t, Logger: logger, maxRecv: MaxRequestBytes}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, serverOptions()...)...)
		},
		Logger: logger,
	})
}

func printDescription(w *os.File, t Transport) error {
	d, err := t.Describe(context.Background())
	if err != nil {
		return fmt.Errorf("describe: %w", err)
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
