package sdk

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

// replyClient answers every RPC with the same wire bytes, decoded as that
// RPC's response: what a plugin that lies, or is broken, sends the agent.
type replyClient struct {
	pb.TransportClient
	wire []byte
}

func decode[T proto.Message](b []byte, m T) (T, error) {
	if err := proto.Unmarshal(b, m); err != nil {
		var zero T
		return zero, err
	}
	return m, nil
}

func (c replyClient) Describe(context.Context, *pb.DescribeRequest, ...grpc.CallOption) (*pb.DescribeResponse, error) {
	return decode(c.wire, &pb.DescribeResponse{})
}

func (c replyClient) Configure(context.Context, *pb.ConfigureRequest, ...grpc.CallOption) (*pb.ConfigureResponse, error) {
	return decode(c.wire, &pb.ConfigureResponse{})
}

func (c replyClient) Check(context.Context, *pb.CheckRequest, ...grpc.CallOption) (*pb.CheckResponse, error) {
	return decode(c.wire, &pb.CheckResponse{})
}

func (c replyClient) Send(context.Context, *pb.SendRequest, ...grpc.CallOption) (*pb.SendResponse, error) {
	return decode(c.wire, &pb.SendResponse{})
}

func (c replyClient) LoginConfig(context.Context, *pb.LoginConfigRequest, ...grpc.CallOption) (*pb.LoginConfigResponse, error) {
	return decode(c.wire, &pb.LoginConfigResponse{})
}

// FuzzPluginReply feeds arbitrary replies of a plugin to the agent's
// side of the protocol, through every call: nothing panics, Send gives
// one result per message or an error, and every text that reaches the
// agent's logs and outbox is at most MaxTextBytes.
func FuzzPluginReply(f *testing.F) {
	seeds := []proto.Message{
		&pb.SendResponse{Results: []*pb.Result{{MessageId: "m1", Receipt: "250 ok"}, {MessageId: "m2", Error: &pb.Error{Kind: pb.Error_KIND_PERMANENT, Code: "550", Remedy: "fix it", RetryAfterMs: -5}}}},
		&pb.SendResponse{Error: &pb.Error{Kind: pb.Error_KIND_TEMPORARY, Reply: "421 busy", RetryAfterMs: 1 << 62}, Credential: "rotated"},
		&pb.SendResponse{Results: []*pb.Result{{MessageId: "only one"}}},
		&pb.DescribeResponse{Name: "x", ProtocolVersion: 7, MaxMessageBytes: 1 << 63, Schema: []*pb.Attribute{{Name: "a", Type: pb.Type(99)}}},
		&pb.ConfigureResponse{Diagnostics: []*pb.Diagnostic{{Severity: pb.Diagnostic_Severity(5), Attribute: "port"}}, CredentialLifetime: &pb.CredentialLifetime{ExpiresUnix: -1 << 62}, AlertRefreshMs: 1 << 62},
		&pb.CheckResponse{Error: &pb.Error{Kind: pb.Error_Kind(3)}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0xff})
	msgs := []*Message{{ID: "m1"}, {ID: "m2"}}
	f.Fuzz(func(t *testing.T, wire []byte) {
		ctx := context.Background()
		c := &grpcClient{client: replyClient{wire: wire}}
		if d, err := c.Describe(ctx); err == nil {
			if d.MessageLimit() <= 0 || d.MessageLimit() > MaxRequestBytes {
				t.Errorf("MessageLimit = %d from a reply; want 1..%d", d.MessageLimit(), MaxRequestBytes)
			}
		}
		if diags, err := c.Configure(ctx, Config{SaveCredential: func(string) {}}); err == nil {
			for _, d := range diags {
				checkText(t, d.Summary, d.Detail, d.Attribute)
			}
		}
		if _, err := c.CredentialLifetime(ctx); err != nil {
			t.Errorf("CredentialLifetime = %v", err)
		}
		if d, err := c.AlertRefreshInterval(ctx); err != nil || d < 0 || d > 24*time.Hour {
			t.Errorf("AlertRefreshInterval = %v, %v; want 0 to a day", d, err)
		}
		checkError(t, c.Check(ctx))
		res, err := c.Send(ctx, msgs)
		checkError(t, err)
		if err == nil && len(res) != len(msgs) {
			t.Fatalf("Send gave %d results for %d messages and no error", len(res), len(msgs))
		}
		for _, r := range res {
			checkText(t, r.Receipt)
			checkError(t, r.Err)
		}
		_, _ = c.LoginConfig(ctx)
	})
}

// checkError checks the texts of a delivery error from a plugin.
func checkError(t *testing.T, err error) {
	t.Helper()
	de := AsDeliveryError(err)
	if de == nil {
		return
	}
	checkText(t, de.Code, de.Reply, de.Remedy)
	if de.Err != nil {
		checkText(t, de.Err.Error())
	}
}

func checkText(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if len(s) > MaxTextBytes {
			t.Errorf("a text of %d bytes reached the agent; want at most %d", len(s), MaxTextBytes)
		}
	}
}
