package oauth

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

const (
	scopeGmailSend = "https://www.googleapis.com/auth/gmail.send"
	scopeMail      = "https://mail.google.com/"
)

// editJSON returns b with fields set (nil deletes).
func editJSON(t *testing.T, b []byte, fields map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGoogleServiceAccount(t *testing.T) {
	e := newEnv(t)
	g := testserver.StartGoogleOAuthT(t, e.ca, testserver.GoogleOAuthOptions{})
	key, err := g.NewServiceAccount("tocsin", []string{scopeGmailSend}, testUser)
	if err != nil {
		t.Fatal(err)
	}

	fetch, err := GoogleServiceAccount(key, testUser, e.hc, scopeGmailSend)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.Validate(tok.AccessToken)
	if err != nil || c.Subject != testUser || !slices.Equal(c.Scopes, []string{scopeGmailSend}) {
		t.Errorf("claims %+v, %v", c, err)
	}

	// A subject the account has no delegation for.
	fetch, err = GoogleServiceAccount(key, "boss@contoso.example", e.hc, scopeGmailSend)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fetch(t.Context())
	de := Classify(err)
	if de.Kind != sdk.Permanent || de.Code != "unauthorized_client" ||
		!strings.Contains(de.Remedy, "Domain-wide delegation") || !strings.Contains(de.Remedy, "24 hours") {
		t.Errorf("undelegated subject: %+v", de)
	}
	if !strings.HasPrefix(de.Reply, "unauthorized_client: Client is unauthorized") {
		t.Errorf("Reply %q", de.Reply)
	}
	if !strings.Contains(err.Error(), "boss@contoso.example") || strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want the subject named, on one line", err)
	}
}

func TestGoogleServiceAccount_badFiles(t *testing.T) {
	e := newEnv(t)
	g := testserver.StartGoogleOAuthT(t, e.ca, testserver.GoogleOAuthOptions{})
	key, err := g.NewServiceAccount("tocsin", nil, testUser)
	if err != nil {
		t.Fatal(err)
	}
	client, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(key, &f); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    []byte
		scopes  []string
		wantErr string
	}{
		{"not JSON", key[:len(key)/2], []string{scopeMail}, "not valid JSON"},
		{"OAuth client file", client, []string{scopeMail}, "OAuth client file (\"installed\"), not a service account key; give it as client_file"},
		{"other type", editJSON(t, key, map[string]any{"type": "authorized_user"}), []string{scopeMail}, `type is "authorized_user"`},
		{"no type", editJSON(t, key, map[string]any{"type": nil}), []string{scopeMail}, `no "type": "service_account"`},
		{"no key", editJSON(t, key, map[string]any{"private_key": nil}), []string{scopeMail}, "private_key missing"},
		{"key not PEM", editJSON(t, key, map[string]any{"private_key": strings.ReplaceAll(f.PrivateKey, "-----", "")}), []string{scopeMail}, "private_key is not a PEM private key"},
		{"key damaged", editJSON(t, key, map[string]any{"private_key": strings.Replace(f.PrivateKey, "\n", "\nAAAA", 2)}), []string{scopeMail}, "parse PKCS #8 private key"},
		{"no scope", key, nil, "no scope"},
		{"JSON array", mustJSON(t, []string{f.PrivateKey}), []string{scopeMail}, "not a Google credentials file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetch, err := GoogleServiceAccount(tt.file, testUser, e.hc, tt.scopes...)
			if err == nil || fetch != nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q lacks %q", err, tt.wantErr)
			}
			noSecrets(t, tt.name, []string{err.Error()}, f.PrivateKey)
		})
	}
}

func TestGoogleClient(t *testing.T) {
	e := newEnv(t)
	g := testserver.StartGoogleOAuthT(t, e.ca, testserver.GoogleOAuthOptions{})
	installed, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	var inner map[string]any
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(installed, &outer); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(outer["installed"], &inner); err != nil {
		t.Fatal(err)
	}
	web, _ := json.Marshal(map[string]any{"web": inner})
	key, err := g.NewServiceAccount("tocsin", nil)
	if err != nil {
		t.Fatal(err)
	}
	noRedirects := maps(inner, "redirect_uris")
	noRedirectsFile, _ := json.Marshal(map[string]any{"installed": noRedirects})

	for _, file := range [][]byte{installed, web} {
		cfg, err := GoogleClient(file, scopeMail)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ClientID != inner["client_id"] || cfg.ClientSecret != inner["client_secret"] ||
			cfg.Endpoint.TokenURL != g.TokenURL() || cfg.Endpoint.AuthURL != g.AuthURL() ||
			cfg.RedirectURL != "http://localhost" || !slices.Equal(cfg.Scopes, []string{scopeMail}) {
			t.Errorf("config %+v", cfg)
		}
	}
	for _, tt := range []struct {
		name    string
		file    []byte
		wantErr string
	}{
		{"service account key", key, "service account key, not an OAuth client file; give it as service_account_file"},
		{"empty object", []byte(`{}`), `no "installed" or "web" client`},
		{"no redirect URIs", noRedirectsFile, "redirect_uris missing"},
		{"not JSON", []byte("client_id=x"), "not valid JSON"},
	} {
		if _, err := GoogleClient(tt.file, scopeMail); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

// maps returns a copy of m without the keys.
func maps(m map[string]any, without ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if !slices.Contains(without, k) {
			out[k] = v
		}
	}
	return out
}

func TestFileKind(t *testing.T) {
	e := newEnv(t)
	g := testserver.StartGoogleOAuthT(t, e.ca, testserver.GoogleOAuthOptions{})
	key, err := g.NewServiceAccount("tocsin", nil)
	if err != nil {
		t.Fatal(err)
	}
	installed, err := g.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file []byte
		want string
	}{
		{key, KindServiceAccount},
		{installed, KindInstalled},
		{[]byte(`{"web":{"client_id":"x"}}`), KindWeb},
		{[]byte(`{"type":"authorized_user","client_id":"x"}`), ""},
		{[]byte(`not json`), ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := FileKind(tt.file); got != tt.want {
			t.Errorf("FileKind(%.30q) = %q, want %q", tt.file, got, tt.want)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
