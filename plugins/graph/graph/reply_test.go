package graph

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"99999999999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(72 * time.Hour).Format(http.TimeFormat), maxRetryAfter},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestClassifyReply covers the replies the Graph stand-in does not give;
// the others are provoked from it in TestTransport_Send_errors.
func TestClassifyReply(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	graphJSON := func(code, msg string) string {
		return fmt.Sprintf(`{"error":{"code":%q,"message":%q,"innerError":{"date":"2026-11-23T12:00:00","request-id":"9d0c-req","client-request-id":"9d0c-req"}}}`, code, msg)
	}
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		kind       sdk.Kind
		code       string
		reply      string
		remedy     string
		retryAfter time.Duration
	}{
		{
			name: "mailbox not found", status: 404, body: graphJSON("ResourceNotFound", "Resource could not be discovered."),
			kind: sdk.Permanent, code: "ResourceNotFound", remedy: remedyNoMailbox,
			reply: "404 Not Found ResourceNotFound: Resource could not be discovered. (request-id 9d0c-req, date 2026-11-23T12:00:00)",
		},
		{
			name: "application access policy", status: 403, body: graphJSON("ErrorAccessDenied", "Access to OData is disabled."),
			kind: sdk.Permanent, code: "ErrorAccessDenied", remedy: remedyAccessDenied,
		},
		{
			name: "other bad request", status: 400, body: graphJSON("ErrorInvalidParameter", "The value of the parameter 'Message' is empty."),
			kind: sdk.Permanent, code: "ErrorInvalidParameter", remedy: remedyBadRequest,
		},
		{
			name: "unavailable with an HTTP date", status: 503, header: http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}},
			body: graphJSON("ServiceNotAvailable", "Service unavailable."),
			kind: sdk.Temporary, code: "ServiceNotAvailable", remedy: remedyUnavailable, retryAfter: 30 * time.Second,
		},
		{
			name: "gateway timeout with seconds", status: 504, header: http.Header{"Retry-After": {"12"}}, body: "",
			kind: sdk.Temporary, code: "504", reply: "504 Gateway Timeout", remedy: remedyUnavailable, retryAfter: 12 * time.Second,
		},
		{
			name: "server error from a proxy", status: 502, header: http.Header{"Request-Id": {"proxy-1"}}, body: "<html>Bad Gateway</html>",
			kind: sdk.Temporary, code: "502", reply: "502 Bad Gateway (request-id proxy-1)", remedy: remedyUnavailable,
		},
		{
			name: "request timeout", status: 408, body: "",
			kind: sdk.Temporary, code: "408", remedy: remedyUnavailable,
		},
		{
			name: "unexpected success", status: 200, body: "{}",
			kind: sdk.Temporary, code: "200", remedy: remedyUnexpected,
		},
		{
			name: "permanent error ignores Retry-After", status: 400, header: http.Header{"Retry-After": {"5"}}, body: graphJSON("ErrorInvalidRecipients", "At least one recipient isn't valid."),
			kind: sdk.Permanent, code: "ErrorInvalidRecipients", remedy: remedyRecipients,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			de := classifyReply(tt.status, h, []byte(tt.body), now)
			if de.Kind != tt.kind || de.Code != tt.code || de.Remedy != tt.remedy || de.RetryAfter != tt.retryAfter {
				t.Errorf("got kind %v code %q remedy %q retry %v; want %v %q %q %v", de.Kind, de.Code, de.Remedy, de.RetryAfter, tt.kind, tt.code, tt.remedy, tt.retryAfter)
			}
			if tt.reply != "" && de.Reply != tt.reply {
				t.Errorf("reply = %q, want %q", de.Reply, tt.reply)
			}
			if de.Err == nil || !strings.Contains(de.Err.Error(), de.Reply) {
				t.Errorf("Err = %v, want it to carry the reply", de.Err)
			}
		})
	}
}

func TestRequest_attachmentLimit(t *testing.T) {
	t.Parallel()
	// 3 MiB base64-encoded is 3 MiB * 3/4 raw bytes.
	atLimit := MaxAttachmentBytes / 4 * 3
	for _, tt := range []struct {
		sizes []int
		over  bool
	}{
		{sizes: []int{atLimit}, over: false},
		{sizes: []int{atLimit + 1}, over: true},
		{sizes: []int{atLimit / 2, atLimit / 2}, over: false},
		{sizes: []int{atLimit / 2, atLimit/2 + 3}, over: true},
	} {
		m := &sdk.Message{ID: "a@b", To: []sdk.Address{{Address: "x@y"}}}
		for _, n := range tt.sizes {
			m.Attachments = append(m.Attachments, sdk.Attachment{Filename: "f", Data: make([]byte, n)})
		}
		r, _ := newRequest(m, false)
		if over := r.attachmentBytes() > MaxAttachmentBytes; over != tt.over {
			t.Errorf("attachments %v: over the limit = %v, want %v", tt.sizes, over, tt.over)
		}
	}
}
