// Command rawreply is a transport plugin that speaks the wire protocol
// without the SDK's server, as an old or foreign plugin would, for the
// tests of a host (core/pluginhost builds it; it lives here because only
// this module may use the generated code): it reports no
// message limit in Describe (so the agent assumes gRPC's 4 MiB), accepts
// whatever comes, and answers Send with a receipt that says how many
// messages the call carried, or, when a message's subject is "big-reply",
// with a 50 MB error reply, to test what the agent accepts.
package main

import (
	"context"
	"fmt"
	"strings"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

type server struct {
	pb.UnimplementedTransportServer
}

func (server) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Name: "rawreply", Version: "1", SdkVersion: "0.0.1", ProtocolVersion: 1}, nil
}

func (server) Configure(context.Context, *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return &pb.ConfigureResponse{}, nil
}

func (server) Check(context.Context, *pb.CheckRequest) (*pb.CheckResponse, error) {
	return &pb.CheckResponse{}, nil
}

func (server) Send(_ context.Context, req *pb.SendRequest) (*pb.SendResponse, error) {
	resp := &pb.SendResponse{}
	for _, m := range req.GetMessages() {
		if m.GetSubject() == "big-reply" {
			return &pb.SendResponse{Error: &pb.Error{Kind: pb.Error_KIND_TEMPORARY, Reply: strings.Repeat("x", 50<<20)}}, nil
		}
		resp.Results = append(resp.Results, &pb.Result{MessageId: m.GetId(), Receipt: fmt.Sprintf("in a call of %d", len(req.GetMessages()))})
	}
	return resp, nil
}

type raw struct{ plugin.NetRPCUnsupportedPlugin }

func (raw) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterTransportServer(s, server{})
	return nil
}

func (raw) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{1: {sdk.PluginName: raw{}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(1<<30))...)
		},
	})
}
