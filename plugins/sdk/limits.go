package sdk

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// The sizes of what crosses the gRPC connection between the agent and a
// plugin. gRPC refuses a message over its limit with ResourceExhausted;
// these limits are set on both sides, deliberately, instead of gRPC's
// default of 4 MiB for what a server receives.
const (
	// MaxRequestBytes is the largest request, as encoded on the wire, that
	// a plugin built with this SDK accepts, and the largest the agent
	// sends: one Send call's batch of messages, attachments included.
	// 64 MiB is above what mail providers accept in one message (25 to
	// 35 MB for Gmail, 150 MB only through Graph's upload sessions, which
	// no plugin uses) and bounds the memory a plugin needs for one call.
	// The agent splits a batch that would be larger into several calls,
	// and refuses a single message that is larger with a permanent error.
	MaxRequestBytes = 64 << 20

	// MaxResponseBytes is the largest answer the agent accepts from a
	// plugin, and the largest a plugin built with this SDK sends. Answers
	// are small (receipts, errors, descriptions); a larger one is a bug
	// in the plugin, which the agent reports as such.
	MaxResponseBytes = 8 << 20

	// DefaultMessageBytes is gRPC's default limit on what a server
	// receives: what a plugin built before these limits accepts. Its
	// Description has MaxMessageBytes 0.
	DefaultMessageBytes = 4 << 20

	// MaxTextBytes caps each text a DeliveryError carries (code, reply,
	// remedy, error text), a Result's receipt, and a diagnostic's summary
	// and detail, as they cross between plugin and agent. A longer text
	// is cut to this size, marker included (see [TruncateText]): the
	// agent logs and stores these texts with every failed attempt, and a
	// server's 20 MB reply must not become 20 MB in each log line.
	MaxTextBytes = 4 << 10
)

// cutMarker is appended to a text that TruncateText cut; %d is the
// original length in bytes.
const cutMarker = " … [cut by tocsin: %d bytes in all]"

// TruncateText returns s when it is at most MaxTextBytes long, and
// otherwise its start, cut on a UTF-8 boundary, followed by a marker that
// says it was cut and how long it was, all in at most MaxTextBytes.
func TruncateText(s string) string { return Truncate(s, MaxTextBytes) }

// Truncate returns s when it is at most limit bytes long, and otherwise its
// start, cut on a UTF-8 boundary, followed by a marker that says it was
// cut and how long it was (" … [cut by tocsin: N bytes in all]"), all in
// at most limit bytes (a limit too small for the marker keeps the
// marker alone).
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	marker := fmt.Sprintf(cutMarker, len(s))
	keep := max(0, limit-len(marker))
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return strings.ToValidUTF8(s[:keep], "") + marker
}

// MessageLimit returns the largest Send request the agent sends the
// plugin, in bytes as encoded on the wire: MaxMessageBytes (gRPC's 4 MiB
// default for a plugin that does not say), and never more than
// MaxRequestBytes. Bound a batch so that its [RequestSize] is at most
// this.
func (d *Description) MessageLimit() int {
	if d == nil || d.MaxMessageBytes <= 0 {
		return DefaultMessageBytes
	}
	return min(d.MaxMessageBytes, MaxRequestBytes)
}

// MessageSize returns how many bytes m adds to a Send request on the wire.
// A batch's request is the sum over its messages; compare it with
// [Description.MessageLimit] to bound a batch by bytes.
func MessageSize(m *Message) int {
	return framedSize(proto.Size(messageToProto(m)))
}

// RequestSize returns the size of the Send request for msgs on the wire.
func RequestSize(msgs []*Message) int {
	n := 0
	for _, m := range msgs {
		n += MessageSize(m)
	}
	return n
}

// framedSize is the size of a repeated message field's element of n
// bytes: a one-byte tag, the length as a varint, the bytes.
func framedSize(n int) int {
	size := 1 + n
	for v := uint64(n); ; v >>= 7 {
		size++
		if v < 0x80 {
			break
		}
	}
	return size
}

// serverOptions are the gRPC server options of Serve: a plugin accepts
// requests of up to MaxRequestBytes and answers with at most
// MaxResponseBytes; package host sets the agent's side to match.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		grpc.MaxSendMsgSize(MaxResponseBytes),
	}
}
