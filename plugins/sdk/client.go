package sdk

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tocsin-dev/tocsin/plugins/sdk/internal/hostside"
	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

// This file is the agent's side of the protocol. It is reached through
// package host (plugins/sdk/host), not through this package's API: a
// plugin author never calls it.

func init() {
	hostside.NewClient = func(conn *grpc.ClientConn) any {
		return &grpcClient{client: pb.NewTransportClient(conn)}
	}
}

// grpcClient is the agent's side: each method is one RPC.
type grpcClient struct {
	client pb.TransportClient

	// save receives credentials the plugin replaced (rotated refresh
	// tokens); it is the SaveCredential of the last Configure.
	mu   sync.Mutex
	save func(string)
	// limit is the largest request the plugin takes, known once it
	// answered Describe; 0 before.
	limit int
	// lifetime is what the plugin said of its credential's lifetime
	// with the last Configure; nil when it said nothing.
	lifetime *CredentialLifetime
	// refresh is the alert refresh interval the plugin asked for with the
	// last Configure; 0 for none.
	refresh time.Duration
}

// saved hands a credential from a response to the SaveCredential of the
// last Configure.
func (c *grpcClient) saved(value string) {
	if value == "" {
		return
	}
	c.mu.Lock()
	save := c.save
	c.mu.Unlock()
	if save != nil {
		save(value)
	}
}

var (
	_ Transport          = (*grpcClient)(nil)
	_ Authorizer         = (*grpcClient)(nil)
	_ CredentialReporter = (*grpcClient)(nil)
	_ AlertRefresher     = (*grpcClient)(nil)
)

func (c *grpcClient) Describe(ctx context.Context) (*Description, error) {
	resp, err := c.client.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	d := descriptionFromProto(resp)
	c.mu.Lock()
	c.limit = d.MessageLimit()
	c.mu.Unlock()
	return d, nil
}

// messageLimit returns the largest request the plugin takes, asking it
// with Describe the first time. When Describe fails it assumes gRPC's
// default: the Send that follows shows whether the plugin is there.
func (c *grpcClient) messageLimit(ctx context.Context) int {
	c.mu.Lock()
	limit := c.limit
	c.mu.Unlock()
	if limit > 0 {
		return limit
	}
	if _, err := c.Describe(ctx); err != nil {
		return DefaultMessageBytes
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limit
}

func (c *grpcClient) Configure(ctx context.Context, cfg Config) (Diagnostics, error) {
	c.mu.Lock()
	c.save = cfg.SaveCredential
	c.mu.Unlock()
	resp, err := c.client.Configure(ctx, &pb.ConfigureRequest{
		Transport:    cfg.Transport,
		From:         cfg.From,
		SettingsJson: cfg.Settings.JSON(),
		Credential:   cfg.Credential,
	})
	if err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	c.mu.Lock()
	c.lifetime = lifetimeFromProto(resp.GetCredentialLifetime())
	c.refresh = time.Duration(min(max(resp.GetAlertRefreshMs(), 0), maxRefreshMs)) * time.Millisecond
	c.mu.Unlock()
	return diagnosticsFromProto(resp.GetDiagnostics()), nil
}

// callError classifies a failed RPC. A message over a gRPC size limit
// says which side was too large; anything else (the plugin process is
// gone, the call was cancelled) is a temporary delivery error: nothing
// says the next try fails.
func callError(method string, err error, msgs int) error {
	if status.Code(err) == codes.ResourceExhausted {
		return sizeError(method, err, msgs)
	}
	return TemporaryError(fmt.Errorf("%s: %w", method, err), "", "The plugin process did not answer; the agent starts it again and retries.")
}

// sizeError explains a ResourceExhausted status. gRPC's text reads "...
// message larger than max (SIZE vs. LIMIT)" on whichever side refused; a
// LIMIT of MaxResponseBytes is the agent refusing the plugin's answer (or
// the plugin's SDK refusing to send it), any other the plugin refusing
// the agent's request.
func sizeError(method string, err error, msgs int) error {
	var size, limit int
	if st, ok := status.FromError(err); ok {
		msg := st.Message()
		if i := strings.LastIndex(msg, "("); i >= 0 {
			_, _ = fmt.Sscanf(msg[i:], "(%d vs. %d)", &size, &limit)
		}
	}
	err = fmt.Errorf("%s: %w", method, err)
	switch {
	case limit == MaxResponseBytes:
		return TemporaryError(err, "", fmt.Sprintf("The plugin answered with %s, more than the agent accepts (%s): this is a bug in the plugin, report it to its author. Whether the message went out is unknown; the agent tries again.", byteSize(size), byteSize(limit)))
	case method == "send" && msgs == 1:
		return PermanentError(err, "", fmt.Sprintf("The message is %s, more than the plugin accepts (%s): make it smaller (attach less, or a shorter log tail).", byteSize(size), byteSize(limit)))
	case method == "send":
		return TemporaryError(err, "", fmt.Sprintf("The batch of %d messages was too large for the plugin: %s, more than it accepts (%s) though it said it accepts more; send fewer messages at once (the transport's batch settings), and report this to the plugin's author.", msgs, byteSize(size), byteSize(limit)))
	default:
		return TemporaryError(err, "", fmt.Sprintf("The request was %s, more than the plugin accepts (%s).", byteSize(size), byteSize(limit)))
	}
}

// byteSize writes n bytes for an operator, as "5.0 MiB (5242880 bytes)".
func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB (%d bytes)", float64(n)/(1<<10), n)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// tooLarge is the permanent error for a message that does not fit in one
// call to the plugin.
func tooLarge(m *Message, size, limit int) *DeliveryError {
	remedy := fmt.Sprintf("The message is %s, more than the plugin accepts in one call (%s): make it smaller (attach less, or a shorter log tail).", byteSize(size), byteSize(limit))
	if limit < MaxRequestBytes {
		remedy += fmt.Sprintf(" A plugin built with a current SDK accepts up to %s.", byteSize(MaxRequestBytes))
	}
	return PermanentError(fmt.Errorf("message %s is too large for the plugin: %d bytes, limit %d", m.ID, size, limit), "", remedy)
}

func (c *grpcClient) Check(ctx context.Context) error {
	resp, err := c.client.Check(ctx, &pb.CheckRequest{})
	if err != nil {
		return callError("check", err, 0)
	}
	c.saved(resp.GetCredential())
	return errorFromProto(resp.GetError())
}

// Send sends msgs in one call when they fit in what the plugin accepts
// (its MessageLimit, at most MaxRequestBytes). A batch that does not fit
// is sent in several calls that do, and each message gets its own result;
// a message that alone does not fit is not sent and gets a permanent
// error naming its size and the limit (the whole call's error when it is
// the only message).
func (c *grpcClient) Send(ctx context.Context, msgs []*Message) ([]Result, error) {
	limit := c.messageLimit(ctx)
	sizes := make([]int, len(msgs))
	total := 0
	for i, m := range msgs {
		sizes[i] = MessageSize(m)
		total += sizes[i]
	}
	if total <= limit {
		return c.send(ctx, msgs)
	}
	if len(msgs) == 1 {
		return nil, tooLarge(msgs[0], sizes[0], limit)
	}
	out := make([]Result, len(msgs))
	var (
		chunk    []int // indexes into msgs
		bytes    int
		batchErr error // the first failed call's error, which then stands for all
		accepted bool  // a call went through
		refused  bool  // a message was too large to send
	)
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		part := make([]*Message, len(chunk))
		for j, i := range chunk {
			part[j] = msgs[i]
		}
		var res []Result
		err := batchErr
		if err == nil {
			res, err = c.send(ctx, part)
			accepted = accepted || err == nil
		}
		for j, i := range chunk {
			if err != nil {
				out[i] = Result{MessageID: msgs[i].ID, Err: err}
			} else {
				out[i] = res[j]
			}
		}
		batchErr = err
		chunk, bytes = chunk[:0], 0
	}
	for i, m := range msgs {
		if sizes[i] > limit {
			out[i] = Result{MessageID: m.ID, Err: tooLarge(m, sizes[i], limit)}
			refused = true
			continue
		}
		if bytes+sizes[i] > limit {
			flush()
		}
		chunk = append(chunk, i)
		bytes += sizes[i]
	}
	flush()
	if batchErr != nil && !accepted && !refused {
		return nil, batchErr // no message went out, all for the same reason
	}
	return out, nil
}

// send makes one Send call.
func (c *grpcClient) send(ctx context.Context, msgs []*Message) ([]Result, error) {
	req := &pb.SendRequest{Messages: make([]*pb.Message, len(msgs))}
	for i, m := range msgs {
		req.Messages[i] = messageToProto(m)
	}
	resp, err := c.client.Send(ctx, req)
	if err != nil {
		return nil, callError("send", err, len(msgs))
	}
	c.saved(resp.GetCredential())
	if e := resp.GetError(); e != nil {
		return nil, errorFromProto(e)
	}
	if len(resp.GetResults()) != len(msgs) {
		return nil, fmt.Errorf("send: plugin returned %d results for %d messages", len(resp.GetResults()), len(msgs))
	}
	out := make([]Result, len(msgs))
	for i, r := range resp.GetResults() {
		out[i] = Result{MessageID: r.GetMessageId(), Receipt: TruncateText(r.GetReceipt()), Err: errorFromProto(r.GetError())}
	}
	return out, nil
}

// LoginConfig asks the plugin how to run `tocsin oauth login`; it returns
// [ErrNoLogin] when the plugin has no interactive login.
func (c *grpcClient) LoginConfig(ctx context.Context) (*LoginConfig, error) {
	resp, err := c.client.LoginConfig(ctx, &pb.LoginConfigRequest{})
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented {
		return nil, fmt.Errorf("%w (%s)", ErrNoLogin, st.Message())
	}
	if err != nil {
		return nil, fmt.Errorf("login config: %w", err)
	}
	return &LoginConfig{
		AuthURL:        resp.GetAuthUrl(),
		TokenURL:       resp.GetTokenUrl(),
		DeviceAuthURL:  resp.GetDeviceAuthUrl(),
		NoDeviceReason: resp.GetNoDeviceReason(),
		ClientID:       resp.GetClientId(),
		ClientSecret:   resp.GetClientSecret(),
		Scopes:         resp.GetScopes(),
		AuthParams:     resp.GetAuthParams(),
		CACertsPEM:     resp.GetCaCertsPem(),
		Account:        resp.GetAccount(),
	}, nil
}
