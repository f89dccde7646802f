package gmail

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestSender_upload_hugeReply: an error reply of 20 MB is read up to
// oauth.MaxReplyBytes, and the error says that it was cut.
func TestSender_upload_hugeReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{name: "HTML page", body: "<html>" + strings.Repeat("<p>gateway error</p>\n", 1<<20)},
		{name: "API error with a huge message", body: `{"error":{"code":503,"status":"UNAVAILABLE","message":"` + strings.Repeat("m", 20<<20) + `"}}`},
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
			s := &sender{hc: hc, endpoint: srv.URL}
			_, err = s.upload(t.Context(), &oauth2.Token{AccessToken: "token"}, []byte("Subject: x\r\n\r\nx\r\n"))
			if err == nil {
				t.Fatal("upload succeeded")
			}
			de := classify(err, false).err
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
