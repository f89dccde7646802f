package sdk

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tocsin-dev/tocsin/plugins/sdk/internal/hostside"
	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

// Plugin returns the go-plugin plugin that serves t, for a main function
// that sets up hashicorp/go-plugin itself (several plugin kinds in one
// binary, a debugger's reattach) instead of calling [Serve]. Put it in the
// ServeConfig's VersionedPlugins under [ProtocolVersion] and [PluginName],
// with [Handshake]. Such a plugin tells the agent it takes requests of
// gRPC's default size (4 MiB; the agent splits larger batches), since its
// gRPC server is made elsewhere; [Serve] sets its server's limits and tells
// [MaxRequestBytes]. Of the options only WithLogger counts here.
//
// In a test, go-plugin's TestPluginGRPCConn with this plugin gives the
// agent's view of t over a real in-process gRPC connection.
func Plugin(t Transport, opts ...ServeOption) plugin.Plugin {
	o := newServeOptions(opts)
	return &grpcPlugin{impl: t, logger: o.logger}
}

// grpcPlugin is the plugin's side of go-plugin's glue: it serves impl. The
// agent's side is package host.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl   Transport
	logger hclog.Logger
	// maxRecv is the receive limit of the gRPC server, reported in
	// Describe; 0 (a server made elsewhere) reports gRPC's default.
	maxRecv int
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

// GRPCServer registers the transport service on the plugin's gRPC server.
func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.impl == nil {
		return fmt.Errorf("serve transport: no implementation")
	}
	pb.RegisterTransportServer(s, &grpcServer{impl: p.impl, logger: p.logger, maxRecv: p.maxRecv})
	return nil
}

// GRPCClient returns the agent's side over conn, as package host does:
// with go-plugin's TestPluginGRPCConn, which takes one plugin for both
// ends of an in-process connection, a test talks to its transport the way
// the agent does.
func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return hostside.NewClient(conn), nil
}

// grpcServer is the plugin's side: it forwards each RPC to the Transport.
// Errors travel in the response, not as gRPC status errors, so their kind,
// code and remedy survive.
type grpcServer struct {
	pb.UnimplementedTransportServer
	impl    Transport
	logger  hclog.Logger
	maxRecv int

	// pending is a credential the transport saved that has not yet
	// travelled to the agent in a Check or Send response.
	mu      sync.Mutex
	pending string
}

// saveCredential is the plugin side's Config.SaveCredential.
func (s *grpcServer) saveCredential(value string) {
	s.mu.Lock()
	s.pending = value
	s.mu.Unlock()
}

// takeCredential returns the pending credential and forgets it.
func (s *grpcServer) takeCredential() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.pending
	s.pending = ""
	return v
}

// recoverTo turns a panic in the transport into an error for the agent
// and logs the stack, so one bad call does not kill the plugin process.
func (s *grpcServer) recoverTo(method string, err *error) {
	if r := recover(); r != nil {
		s.logger.Error("transport panicked; this is a bug in the plugin", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = fmt.Errorf("plugin panicked in %s: %v", method, r)
	}
}

// recoverSend is recoverTo for Send: the panic becomes a permanent
// delivery error for the batch.
func (s *grpcServer) recoverSend(resp **pb.SendResponse) {
	if r := recover(); r != nil {
		s.logger.Error("transport panicked; this is a bug in the plugin", "method", "Send", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		err := PermanentError(fmt.Errorf("plugin panicked in Send: %v", r), "", "This is a bug in the plugin: report it with the agent's log, which holds the stack.")
		*resp = &pb.SendResponse{Error: errorToProto(err)}
	}
}

func (s *grpcServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (_ *pb.DescribeResponse, err error) {
	defer s.recoverTo("Describe", &err)
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("transport returned no description")
	}
	d.SDKVersion = SDKVersion
	d.ProtocolVersion = ProtocolVersion
	d.MaxMessageBytes = s.maxRecv
	return descriptionToProto(d), nil
}

func (s *grpcServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (_ *pb.ConfigureResponse, err error) {
	defer s.recoverTo("Configure", &err)
	diags, err := s.impl.Configure(ctx, Config{
		Transport: req.GetTransport(),
		From:      req.GetFrom(),
		Settings:  NewSettings(req.GetSettingsJson()),
		Logger:    s.logger.With("transport", req.GetTransport()),

		Credential:     req.GetCredential(),
		SaveCredential: s.saveCredential,
	})
	if err != nil {
		return nil, err
	}
	// A transport is configured at start and on reload, then mostly
	// idles: what its setup allocated (CA bundles, keys, parsed
	// settings) goes back to the system now, not when the runtime's
	// scavenger gets to it (about 2 MB of an idle plugin's 7 MB of heap
	// and stacks, make bench-compare measured). A configuration is rare,
	// and the collection takes a few milliseconds. Likewise the pages of
	// the binary that starting and configuring brought in: an idle
	// plugin's resident memory drops from about 20 MB to 13 (make
	// bench-compare), and what a send needs comes back on its first use.
	debug.FreeOSMemory()
	releaseFilePages()
	return &pb.ConfigureResponse{Diagnostics: diagnosticsToProto(diags), CredentialLifetime: s.lifetime(ctx, diags), AlertRefreshMs: s.refreshInterval(ctx, diags)}, nil
}

func (s *grpcServer) Check(ctx context.Context, _ *pb.CheckRequest) (_ *pb.CheckResponse, err error) {
	defer s.recoverTo("Check", &err)
	cerr := s.impl.Check(ctx)
	return &pb.CheckResponse{Error: errorToProto(cerr), Credential: s.takeCredential()}, nil
}

func (s *grpcServer) LoginConfig(ctx context.Context, _ *pb.LoginConfigRequest) (_ *pb.LoginConfigResponse, err error) {
	defer s.recoverTo("LoginConfig", &err)
	a, ok := s.impl.(Authorizer)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "the transport has no interactive login")
	}
	lc, err := a.LoginConfig(ctx)
	if errors.Is(err, ErrNoLogin) {
		return nil, status.Error(codes.Unimplemented, err.Error())
	}
	if err != nil {
		return nil, err
	}
	if lc == nil {
		return nil, fmt.Errorf("transport returned no login config")
	}
	return &pb.LoginConfigResponse{
		AuthUrl:        lc.AuthURL,
		TokenUrl:       lc.TokenURL,
		DeviceAuthUrl:  lc.DeviceAuthURL,
		NoDeviceReason: lc.NoDeviceReason,
		ClientId:       lc.ClientID,
		ClientSecret:   lc.ClientSecret,
		Scopes:         lc.Scopes,
		AuthParams:     lc.AuthParams,
		CaCertsPem:     lc.CACertsPEM,
		Account:        lc.Account,
	}, nil
}

func (s *grpcServer) Send(ctx context.Context, req *pb.SendRequest) (resp *pb.SendResponse, err error) {
	// A panic while sending is most likely caused by the messages: it is
	// permanent for them, so the agent moves on instead of retrying forever.
	defer s.recoverSend(&resp)
	msgs := make([]*Message, len(req.GetMessages()))
	for i, m := range req.GetMessages() {
		msgs[i] = messageFromProto(m)
	}
	results, err := s.impl.Send(ctx, msgs)
	if err != nil {
		return &pb.SendResponse{Error: errorToProto(err), Credential: s.takeCredential()}, nil
	}
	if len(results) != len(msgs) {
		return nil, fmt.Errorf("transport returned %d results for %d messages", len(results), len(msgs))
	}
	resp = &pb.SendResponse{Results: make([]*pb.Result, len(results)), Credential: s.takeCredential()}
	for i, r := range results {
		resp.Results[i] = &pb.Result{MessageId: r.MessageID, Receipt: TruncateText(r.Receipt), Error: errorToProto(r.Err)}
	}
	return resp, nil
}
