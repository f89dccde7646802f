package sdk

import (
	"context"
	"fmt"

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

func (c *grpcClient) Check(ctx context.Context) error {
	resp, err := c.client.Check(ctx, &pb.CheckRequest{})
	if err != nil {
		return fmt.Errorf("check: %w", err)
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
		return nil, fmt.Errorf("send: %w", err)
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

func (s *grpcServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	d, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, err
	}
	d.SDKVersion = SDKVersion
	d.ProtocolVersion = ProtocolVersion
	return descriptionToProto(d), nil
}

func (s *grpcServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
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

func (s *grpcServer) Check(ctx context.Context, _ *pb.CheckRequest) (*pb.CheckResponse, error) {
	return &pb.CheckResponse{Error: errorToProto(s.impl.Check(ctx))}, nil
}

func (s *grpcServer) Send(ctx context.Context, req *pb.SendRequest) (*pb.SendResponse, error) {
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
	resp := &pb.SendResponse{Results: make([]*pb.Result, len(results))}
	for i, r := range results {
		resp.Results[i] = &pb.Result{MessageId: r.MessageID, Receipt: r.Receipt, Error: errorToProto(r.Err)}
	}
	return resp, nil
}
