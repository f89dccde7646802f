package oauth

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestRefresher_hugeReply: a token endpoint that answers with 20 MB is
// read up to MaxReplyBytes; the error is short, temporary, and says the
// reply was cut. Not parallel: it measures the memory the fetch allocates.
func TestRefresher_hugeReply(t *testing.T) {
	const size = 20 << 20
	tests := []struct {
		name   string
		status int
		body   func() []byte
	}{
		{name: "HTML error page", status: http.StatusBadGateway, body: func() []byte {
			return append([]byte("<html>"), bytes.Repeat([]byte("<p>proxy error</p>\n"), size/19)...)
		}},
		{name: "OAuth error with a huge description", status: http.StatusBadRequest, body: func() []byte {
			return []byte(`{"error":"invalid_grant","error_description":"` + strings.Repeat("d", size) + `"}`)
		}},
		{name: "a success too large to be a token", status: http.StatusOK, body: func() []byte {
			return []byte(`{"access_token":"` + strings.Repeat("a", size) + `","token_type":"Bearer"}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write(body)
			}))
			t.Cleanup(srv.Close)
			hc, err := HTTPClient("", 0)
			if err != nil {
				t.Fatal(err)
			}
			cfg := &oauth2.Config{ClientID: "app", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams}}
			fetch := Refresher(cfg, hc, "refresh-token", nil)

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err = fetch(t.Context())
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			de := Classify(err)
			if de.Kind != sdk.Temporary {
				t.Errorf("Kind = %v, want temporary (%v)", de.Kind, de)
			}
			text := de.Error() + de.Reply + de.Remedy
			if len(text) > 4096 {
				t.Errorf("the error, reply and remedy take %d bytes, want at most 4096", len(text))
			}
			if !strings.Contains(de.Error(), "cut") || !strings.Contains(de.Remedy, "cut") {
				t.Errorf("error %.300q, remedy %q: want both to say that the reply was cut", de.Error(), de.Remedy)
			}
			if !errors.Is(err, ErrReplyTooLarge) {
				t.Errorf("error %.300q does not wrap ErrReplyTooLarge", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
				t.Errorf("the fetch allocated %d MiB for a %d MiB reply, want under 4 MiB", got>>20, size>>20)
			}
		})
	}
}
