package gmail

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// gmailReply is Google's error JSON.
func gmailReply(code int, status, reason, message string) string {
	return fmt.Sprintf(`{"error":{"code":%d,"message":%q,"status":%q,"errors":[{"domain":"global","reason":%q,"message":%q}]}}`, code, message, status, reason, message)
}

// TestClassify covers the replies the stand-in cannot produce (domainPolicy,
// 5xx, Retry-After, a proxy's page) and the remedies of both modes.
func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		status         int
		retryAfter     string
		body           string
		serviceAccount bool
		wantKind       sdk.Kind
		wantCode       string
		wantReply      string
		wantRemedy     string
		wantBatch      bool
		wantRetryAfter time.Duration
	}{
		{
			name: "rate limit with Retry-After seconds", status: 429, retryAfter: "120",
			body:     gmailReply(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Rate Limit Exceeded"),
			wantKind: sdk.Temporary, wantCode: "rateLimitExceeded", wantReply: "429 RESOURCE_EXHAUSTED: Rate Limit Exceeded",
			wantRemedy: "hours", wantBatch: true, wantRetryAfter: 2 * time.Minute,
		},
		{
			name: "user rate limit as 403 with a Retry-After date", status: 403, retryAfter: now.Add(3 * time.Hour).Format(http.TimeFormat),
			body:     gmailReply(403, "PERMISSION_DENIED", "userRateLimitExceeded", "User-rate limit exceeded."),
			wantKind: sdk.Temporary, wantCode: "userRateLimitExceeded", wantReply: "403 PERMISSION_DENIED: User-rate limit exceeded.",
			wantRemedy: "hours", wantBatch: true, wantRetryAfter: 3 * time.Hour,
		},
		{
			name: "rate limit with a Retry-After in the past", status: 429, retryAfter: now.Add(-time.Minute).Format(http.TimeFormat),
			body:     gmailReply(429, "RESOURCE_EXHAUSTED", "rateLimitExceeded", "Rate Limit Exceeded"),
			wantKind: sdk.Temporary, wantCode: "rateLimitExceeded", wantRemedy: "hours", wantBatch: true,
		},
		{
			name: "insufficientPermissions, service account", status: 403, serviceAccount: true,
			body:     gmailReply(403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes."),
			wantKind: sdk.Permanent, wantCode: "insufficientPermissions", wantRemedy: "Domain-wide delegation", wantBatch: true,
		},
		{
			name:     "insufficientPermissions, client",
			status:   403,
			body:     gmailReply(403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes."),
			wantKind: sdk.Permanent, wantCode: "insufficientPermissions", wantRemedy: "tocsin oauth login", wantBatch: true,
		},
		{
			name: "failedPrecondition, service account", status: 400, serviceAccount: true,
			body:     gmailReply(400, "FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed."),
			wantKind: sdk.Permanent, wantCode: "failedPrecondition", wantRemedy: "Set subject", wantBatch: true,
		},
		{
			name:     "failedPrecondition, client",
			status:   400,
			body:     gmailReply(400, "FAILED_PRECONDITION", "failedPrecondition", "Precondition check failed."),
			wantKind: sdk.Permanent, wantCode: "failedPrecondition", wantRemedy: "Gmail is enabled", wantBatch: true,
		},
		{
			name: "domainPolicy", status: 403, serviceAccount: true,
			body:     gmailReply(403, "PERMISSION_DENIED", "domainPolicy", "The domain administrators have disabled Gmail apps."),
			wantKind: sdk.Permanent, wantCode: "domainPolicy", wantReply: "403 PERMISSION_DENIED: The domain administrators have disabled Gmail apps.",
			wantRemedy: "administrator", wantBatch: true,
		},
		{
			name: "delegation denied", status: 403, serviceAccount: true,
			body:     gmailReply(403, "PERMISSION_DENIED", "forbidden", "Delegation denied for ops@example.com"),
			wantKind: sdk.Permanent, wantCode: "forbidden", wantRemedy: "subject", wantBatch: true,
		},
		{
			name: "401", status: 401,
			body:     gmailReply(401, "UNAUTHENTICATED", "authError", "Request had invalid authentication credentials."),
			wantKind: sdk.Temporary, wantCode: "authError", wantRemedy: "retries", wantBatch: true,
		},
		{
			name: "503 with Retry-After", status: 503, retryAfter: "30",
			body:     gmailReply(503, "UNAVAILABLE", "backendError", "The service is currently unavailable."),
			wantKind: sdk.Temporary, wantCode: "backendError", wantReply: "503 UNAVAILABLE: The service is currently unavailable.",
			wantRemedy: "retries", wantBatch: true, wantRetryAfter: 30 * time.Second,
		},
		{
			name: "a proxy's page", status: 502, body: "<html><body>Bad Gateway</body></html>",
			wantKind: sdk.Temporary, wantCode: "502", wantReply: "502: Bad Gateway (not a Gmail API error reply)",
			wantRemedy: "retries", wantBatch: true,
		},
		{
			name: "error without reasons", status: 500, body: `{"error":{"code":500,"message":"Internal error","status":"INTERNAL"}}`,
			wantKind: sdk.Temporary, wantCode: "INTERNAL", wantReply: "500 INTERNAL: Internal error", wantRemedy: "retries", wantBatch: true,
		},
		{
			name: "not found", status: 404, body: "Not Found",
			wantKind: sdk.Permanent, wantCode: "404", wantRemedy: "api_endpoint", wantBatch: true,
		},
		{
			name: "invalid message", status: 400,
			body:     gmailReply(400, "INVALID_ARGUMENT", "invalidArgument", "Recipient address required"),
			wantKind: sdk.Permanent, wantCode: "invalidArgument", wantReply: "400 INVALID_ARGUMENT: Recipient address required",
			wantRemedy: "this message",
		},
		{
			name: "too large", status: 413,
			body:     gmailReply(413, "INVALID_ARGUMENT", "uploadTooLarge", "Media larger than the maximum allowed size of 36700160 bytes."),
			wantKind: sdk.Permanent, wantCode: "uploadTooLarge", wantRemedy: "this message",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			f := classify(fmt.Errorf("send: %w", parseAPIError(resp, []byte(tt.body), now)), tt.serviceAccount)
			de := f.err
			if de.Kind != tt.wantKind || de.Code != tt.wantCode || f.batch != tt.wantBatch || de.RetryAfter != tt.wantRetryAfter {
				t.Errorf("got kind %v, code %q, batch %v, retry after %v; want %v, %q, %v, %v", de.Kind, de.Code, f.batch, de.RetryAfter, tt.wantKind, tt.wantCode, tt.wantBatch, tt.wantRetryAfter)
			}
			if tt.wantReply != "" && de.Reply != tt.wantReply {
				t.Errorf("reply = %q, want %q", de.Reply, tt.wantReply)
			}
			if !strings.Contains(de.Remedy, tt.wantRemedy) {
				t.Errorf("remedy %q does not mention %q", de.Remedy, tt.wantRemedy)
			}
			if !strings.HasPrefix(de.Err.Error(), "send: gmail api: "+de.Reply) {
				t.Errorf("error text %q, want the reply in it", de.Err)
			}
			var ae *apiError
			if !errors.As(de, &ae) {
				t.Errorf("the *apiError is not in the chain")
			}
		})
	}
}

func TestClassify_notAnAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantKind   sdk.Kind
		wantRemedy string
	}{
		{"network", errors.New("post message: dial tcp 127.0.0.1:1: connect: connection refused"), sdk.Temporary, "network"},
		{"cancelled", fmt.Errorf("post message: %w", context.Canceled), sdk.Temporary, ""},
		{"timeout", fmt.Errorf("post message: %w", context.DeadlineExceeded), sdk.Temporary, "timeout"},
		{"untrusted certificate", fmt.Errorf("post message: %w", x509.UnknownAuthorityError{}), sdk.Permanent, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(tt.err, true)
			if f.err.Kind != tt.wantKind || !f.batch || !strings.Contains(f.err.Remedy, tt.wantRemedy) || !errors.Is(f.err, tt.err) {
				t.Errorf("got %v (batch %v, remedy %q), want kind %v mentioning %q", f.err, f.batch, f.err.Remedy, tt.wantKind, tt.wantRemedy)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":     0,
		"0":    0,
		"-5":   0,
		" 7 ":  7 * time.Second,
		"soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
