package gmail_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/gmail/gmail"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// rotating is a token endpoint that replaces the refresh token at every
// refresh, as Microsoft's does (Google's stand-in keeps it, as Google
// usually does), in front of a Gmail stand-in that accepts its tokens.
type rotating struct {
	gmail      *testserver.Gmail
	caFile     string
	clientFile string
	initial    string
	secret     string

	mu       sync.Mutex
	current  string
	refreshs []string        // refresh tokens used, in order
	tokens   map[string]bool // access tokens issued
}

func startRotating(t *testing.T) *rotating {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := ca.ServerTLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, err := ca.WriteCertFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &rotating{caFile: caFile, initial: randomToken("1//0initial-", 103), secret: randomToken("GOCSPX-", 35), tokens: map[string]bool{}}
	r.current = r.initial
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.token))
	srv.TLS = tlsConfig
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.gmail = testserver.StartGmailT(t, ca, testserver.GmailOptions{Validate: func(token string) (string, []string, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.tokens[token] {
			return "", nil, errors.New("unknown token")
		}
		return mailbox, []string{gmail.ScopeSend}, nil
	}})
	type installed struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		AuthURI      string   `json:"auth_uri"`
		TokenURI     string   `json:"token_uri"`
		RedirectURIs []string `json:"redirect_uris"`
	}
	js, err := json.Marshal(map[string]installed{"installed": {
		ClientID: "rotating.apps.googleusercontent.com", ClientSecret: r.secret,
		AuthURI: srv.URL + "/auth", TokenURI: srv.URL + "/token", RedirectURIs: []string{"http://localhost"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	g := &google{dir: dir}
	r.clientFile = g.writeFile(t, "rotating-client.json", js)
	return r
}

// settings are the transport settings for this endpoint.
func (r *rotating) settings() map[string]any {
	return map[string]any{"client_file": r.clientFile, "api_endpoint": r.gmail.URL(), "ca_file": r.caFile, "timeout": "10s"}
}

// used returns the refresh tokens used so far.
func (r *rotating) used() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.refreshs)
}

func (r *rotating) token(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.URL.Path != "/token" || req.ParseForm() != nil || req.PostForm.Get("grant_type") != "refresh_token" ||
		req.PostForm.Get("client_secret") != r.secret || req.PostForm.Get("refresh_token") != r.current {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
		return
	}
	r.refreshs = append(r.refreshs, r.current)
	r.current = randomToken("1//0rotated-", 103)
	access := randomToken("ya29.", 4096)
	r.tokens[access] = true
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "expires_in": 3599, "token_type": "Bearer", "refresh_token": r.current})
}

// randomToken returns prefix and random characters, size bytes in all.
func randomToken(prefix string, size int) string {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	return (prefix + base64.RawURLEncoding.EncodeToString(b))[:size]
}
