package sdk

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/tocsin-dev/tocsin/plugins/sdk/proto/transportv1"
)

// GRPCPlugin is the go-plugin glue for a Transport. The plugin side sets
// Impl; the agent side leaves it nil and gets a Transport backed by gRPC
// from the client.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin's transport; nil on the agent side.
	Impl Transport
	// Logger is handed to Impl in Configure; nil means a JSON logger on
	// stderr, which go-plugin relays to the agent's log.
	Logger hclog.Logger
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the transport service on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("serve transport: no implementation")
	}
	logger := p.Logger
	if logger == nil {
		logger = NewLogger()
	}
	pb.RegisterTransportServer(s, &grpcServer{impl: p.Impl, logger: logger})
	return nil
}

// GRPCClient returns a Transport that calls the plugin over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &grpcClient{client: pb.NewTransportClient(conn)}, nil
}

// grpcClient is the agent's side: each method is one RPC.
type grpcClient struct {
	client pb.TransportClient
}

var _ Transport = (*grpcClient)(nil)

func (c *grpcClient) Describe(ctx context.Context) (*Description, error) {
	resp, err := c.client.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	return descriptionFromProto(resp), nil
}

func (c *grpcClient) Configure(ctx context.Context, cfg Config) (Diagnostics, error) {
	resp, err := c.client.Configure(ctx, &pb.ConfigureRequest{
		Transport:    cfg.Transport,
		From:         cfg.From,
		SettingsJson: cfg.Settings.JSON(),
	})
	if err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	return diagnosticsFromProto(resp.GetDiagnostics()), nil
}

// callError wraps a failed RPC (the plugin process is gone, the call was
// cancelled) as a temporary delivery error: nothing says the next try fails.
func callError(method string, err error) error {
	return TemporaryError(fmt.Errorf("%s: %w", method, err), "", "The plugin process did not answer; the agent starts it again and retries.")
}

func (c *grpcClient) Check(ctx context.Context) error {
	resp, err := c.client.Check(ctx, &pb.CheckRequest{})
	if err != nil {
		return callError("check", err)
	}
	return errorFromProto(resp.GetError())
}

func (c *grpcClient) Send(ctx context.Context, msgs []*Message) ([]Result, error) {
	req := &pb.SendRequest{Messages: make([]*pb.Message, len(msgs))}
	for i, m := range msgs {
		req.Messages[i] = messageToProto(m)
	}
	resp, err := c.client.Send(ctx, req)
	if err != nil {
		return nil, callError("send", err)
	}
	if e := resp.GetError(); e != nil {
		return nil, errorFromProto(e)
	}
	if len(resp.GetResults()) != len(msgs) {
		return nil, fmt.Errorf("send: plugin returned %d results for %d messages", len(resp.GetResults()), len(msgs))
	}
	out := make([]Result, len(msgs))
	for i, r := range resp.GetResults() {
		out[i] = Result{MessageID: r.GetMessageId(), Receipt: r.GetReceipt(), Err: errorFromProto(r.GetError())}
	}
	return out, nil
}

// grpcServer is the plugin's side: it forwards each RPC to the Transport.
// Errors travel in the response, not as gRPC status errors, so their kind,
// code and remedy survive.
type grpcServer struct {
	pb.UnimplementedTransportServer
	impl   Transport
	logger hclog.Logger
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
	return descriptionToProto(d), nil
}

func (s *grpcServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (_ *pb.ConfigureResponse, err error) {
	defer s.recoverTo("Configure", &err)
	diags, err := s.impl.Configure(ctx, Config{
		Transport: req.GetTransport(),
		From:      req.GetFrom(),
		Settings:  NewSettings(req.GetSettingsJson()),
		Logger:    s.logger.With("transport", req.GetTransport()),
	})
	if err != nil {
		return nil, err
	}
	return &pb.ConfigureResponse{Diagnostics: diagnosticsToProto(diags)}, nil
}

func (s *grpcServer) Check(ctx context.Context, _ *pb.CheckRequest) (_ *pb.CheckResponse, err error) {
	defer s.recoverTo("Check", &err)
	return &pb.CheckResponse{Error: errorToProto(s.impl.Check(ctx))}, nil
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
		return &pb.SendResponse{Error: errorToProto(err)}, nil
	}
	if len(results) != len(msgs) {
		return nil, fmt.Errorf("transport returned %d results for %d messages", len(results), len(msgs))
	}
	resp = &pb.SendResponse{Results: make([]*pb.Result, len(results))}
	for i, r := range results {
		resp.Results[i] = &pb.Result{MessageId: r.MessageID, Receipt: r.Receipt, Error: errorToProto(r.Err)}
	}
	return resp, nil
}
