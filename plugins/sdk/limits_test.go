package sdk

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	pb "github.com/tocsin-dev/tocsin/plugins/sdk/internal/transportv1"
)

func TestTruncateText(t *testing.T) {
	if s := strings.Repeat("a", MaxTextBytes); TruncateText(s) != s {
		t.Error("a text of exactly MaxTextBytes was cut")
	}
	for _, s := range []string{strings.Repeat("é", MaxTextBytes), strings.Repeat("x", 50<<20), strings.Repeat("€", MaxTextBytes/3+1)} {
		got := TruncateText(s)
		if len(got) > MaxTextBytes {
			t.Errorf("cut to %d bytes, more than %d", len(got), MaxTextBytes)
		}
		if !utf8.ValidString(got) {
			t.Error("cut inside a character")
		}
		if !strings.Contains(got, "cut by tocsin") || !strings.Contains(got, "bytes in all") {
			t.Errorf("no marker: ...%q", got[len(got)-60:])
		}
		if !strings.HasPrefix(s, strings.SplitN(got, " … [cut", 2)[0]) {
			t.Error("the kept part is not the start of the text")
		}
	}
}

// TestRequestSize: the size the dispatcher can bound a batch by is the
// size gRPC compares with the plugin's limit.
func TestRequestSize(t *testing.T) {
	var msgs []*Message
	for i, n := range []int{0, 100, 200 << 10, 3 << 20} {
		m := &Message{ID: strings.Repeat("i", i+1) + "@t", From: Address{Address: "a@example.com"}, To: []Address{{Name: "Ops", Address: "ops@example.com"}}, Subject: "s", Text: "body"}
		if n > 0 {
			m.Attachments = []Attachment{{Filename: "f", ContentType: "text/plain", Data: bytes.Repeat([]byte("x"), n)}}
		}
		msgs = append(msgs, m)
		req := &pb.SendRequest{}
		for _, m := range msgs {
			req.Messages = append(req.Messages, messageToProto(m))
		}
		if got, want := RequestSize(msgs), proto.Size(req); got != want {
			t.Errorf("%d messages: RequestSize = %d, encoded request is %d", len(msgs), got, want)
		}
	}
}

func TestMessageLimit(t *testing.T) {
	for _, tt := range []struct {
		name string
		d    *Description
		want int
	}{
		{name: "no description", d: nil, want: DefaultMessageBytes},
		{name: "no limit said", d: &Description{}, want: DefaultMessageBytes},
		{name: "a negative limit", d: &Description{MaxMessageBytes: -1}, want: DefaultMessageBytes},
		{name: "a smaller limit", d: &Description{MaxMessageBytes: 1 << 20}, want: 1 << 20},
		{name: "one byte", d: &Description{MaxMessageBytes: 1}, want: 1},
		{name: "more than the agent sends", d: &Description{MaxMessageBytes: 2 * MaxRequestBytes}, want: MaxRequestBytes},
	} {
		if got := tt.d.MessageLimit(); got != tt.want {
			t.Errorf("%s: MessageLimit() = %d, want %d", tt.name, got, tt.want)
		}
	}
	if got := (&Description{}).MessageLimit(); got != DefaultMessageBytes {
		t.Errorf("an old plugin's limit = %d, want gRPC's default %d", got, DefaultMessageBytes)
	}
	if got := (&Description{MaxMessageBytes: MaxRequestBytes}).MessageLimit(); got != MaxRequestBytes {
		t.Errorf("limit = %d", got)
	}
	d := descriptionFromProto(descriptionToProto(&Description{Name: "x", MaxMessageBytes: MaxRequestBytes}))
	if d.MaxMessageBytes != MaxRequestBytes {
		t.Errorf("MaxMessageBytes did not cross the wire: %d", d.MaxMessageBytes)
	}
}

func TestTruncate(t *testing.T) {
	marker := func(n int) string { return fmt.Sprintf(cutMarker, n) }
	long := strings.Repeat("a", 100)
	tests := []struct {
		name, in string
		limit    int
		want     string
	}{
		{name: "short", in: "abc", limit: 4, want: "abc"},
		{name: "exact", in: "abcd", limit: 4, want: "abcd"},
		{name: "long", in: long, limit: 50, want: long[:50-len(marker(100))] + marker(100)},
		{name: "keeps runes whole", in: "a" + strings.Repeat("é", 40), limit: 2 + len(marker(81)), want: "a" + marker(81)},
		{name: "limit under the marker", in: long, limit: 3, want: marker(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Truncate(tt.in, tt.limit)
			if got != tt.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Truncate cut a character: %q", got)
			}
		})
	}
}
