package graph

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestSender_post_hugeReply: an error reply of 20 MB is read up to
// oauth.MaxReplyBytes, and the error says that it was cut.
func TestSender_post_hugeReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{name: "HTML page", body: "<html>" + strings.Repeat("<p>gateway error</p>\n", 1<<20)},
		{name: "Graph error with a huge message", body: `{"error":{"code":"ErrorInternalServerError","message":"` + strings.Repeat("m", 20<<20) + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			hc, err := oauth.HTTPClient("", 0)
			if err != nil {
				t.Fatal(err)
			}
			s := &sender{hc: hc, endpoint: srv.URL, mailbox: "alerts@contoso.example", logger: hclog.NewNullLogger(), now: time.Now}
			status, de := s.post(t.Context(), "m1", []byte("{}"), "token")
			if status != http.StatusServiceUnavailable || de == nil {
				t.Fatalf("post = %d, %v", status, de)
			}
			if de.Kind != sdk.Temporary {
				t.Errorf("Kind = %v, want temporary", de.Kind)
			}
			if text := de.Error() + de.Reply + de.Remedy; len(text) > 4096 {
				t.Errorf("the error, reply and remedy take %d bytes, want at most 4096", len(text))
			}
			if !strings.Contains(de.Error(), "cut") || !strings.Contains(de.Reply, "cut") {
				t.Errorf("error %.300q, reply %.300q: want both to say that the reply was cut", de.Error(), de.Reply)
			}
		})
	}
}
