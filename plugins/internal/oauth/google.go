package oauth

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// Kinds of Google JSON credential files, as [FileKind] returns them.
const (
	// KindServiceAccount is a service account key ("type":"service_account").
	KindServiceAccount = "service_account"
	// KindInstalled is an OAuth client of type Desktop app ({"installed":{...}}).
	KindInstalled = "installed"
	// KindWeb is an OAuth client of type Web application ({"web":{...}}).
	KindWeb = "web"
)

// GoogleTokenURL is Google's token endpoint, used when a key file has no
// token_uri.
const GoogleTokenURL = "https://oauth2.googleapis.com/token"

// googleFile is the union of the fields of Google's JSON credential files
// that this package reads.
type googleFile struct {
	Type         string        `json:"type"`
	ClientEmail  string        `json:"client_email"`
	PrivateKeyID string        `json:"private_key_id"`
	PrivateKey   string        `json:"private_key"`
	TokenURI     string        `json:"token_uri"`
	Installed    *googleClient `json:"installed"`
	Web          *googleClient `json:"web"`
}

type googleClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
	AuthURI      string   `json:"auth_uri"`
	TokenURI     string   `json:"token_uri"`
}

// parseGoogleFile decodes b; the error never quotes b.
func parseGoogleFile(b []byte) (*googleFile, error) {
	var f googleFile
	if err := json.Unmarshal(b, &f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not valid JSON (syntax error at byte %d)", se.Offset)
		}
		return nil, errors.New("not a Google credentials file (unexpected JSON structure)")
	}
	return &f, nil
}

// FileKind tells which kind of Google JSON credential file b is:
// [KindServiceAccount], [KindInstalled], [KindWeb], or "" if it is none
// of them (or not JSON), so that a transport can say precisely what was
// passed where.
func FileKind(b []byte) string {
	f, err := parseGoogleFile(b)
	switch {
	case err != nil:
		return ""
	case f.Type == KindServiceAccount:
		return KindServiceAccount
	case f.Installed != nil:
		return KindInstalled
	case f.Web != nil:
		return KindWeb
	}
	return ""
}

// GoogleServiceAccount parses a service account's JSON key file, as the
// Google Cloud console downloads it, and returns a Fetcher for the
// JWT-bearer grant at the file's token_uri, acting for subject
// (domain-wide delegation; "" = the service account itself) with scopes.
// Requests go through hc. It reads the file as google.JWTConfigFromJSON
// does, and then with it; errors say what is wrong with the file without quoting the key.
func GoogleServiceAccount(keyJSON []byte, subject string, hc *http.Client, scopes ...string) (Fetcher, error) {
	f, err := parseGoogleFile(keyJSON)
	if err != nil {
		return nil, fmt.Errorf("read service account key: %w", err)
	}
	if f.Type != KindServiceAccount {
		switch kind := FileKind(keyJSON); {
		case kind == KindInstalled || kind == KindWeb:
			return nil, fmt.Errorf("read service account key: this is an OAuth client file (%q), not a service account key; give it as client_file", kind)
		case f.Type != "":
			return nil, fmt.Errorf("read service account key: its type is %q, want %q (create a key for the service account in Google Cloud console, IAM & Admin > Service accounts > Keys, as JSON)", f.Type, KindServiceAccount)
		default:
			return nil, errors.New(`read service account key: no "type": "service_account" in it (download the key as JSON from Google Cloud console, IAM & Admin > Service accounts > Keys)`)
		}
	}
	var missing []string
	if f.ClientEmail == "" {
		missing = append(missing, "client_email")
	}
	if f.PrivateKey == "" {
		missing = append(missing, "private_key")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("read service account key: %s missing", strings.Join(missing, ", "))
	}
	if len(scopes) == 0 {
		return nil, errors.New("read service account key: no scope asked for")
	}
	blk, _ := pem.Decode([]byte(f.PrivateKey))
	if blk == nil {
		return nil, fmt.Errorf("read service account key %s: private_key is not a PEM private key", f.ClientEmail)
	}
	if _, err := parseRSAKey(blk); err != nil {
		return nil, fmt.Errorf("read service account key %s: private_key: %w", f.ClientEmail, err)
	}
	cfg, err := google.JWTConfigFromJSON(keyJSON, scopes...)
	if err != nil {
		return nil, fmt.Errorf("read service account key %s: %w", f.ClientEmail, err)
	}
	cfg.Subject = subject
	if cfg.TokenURL == "" {
		cfg.TokenURL = GoogleTokenURL
	}
	who := f.ClientEmail
	if subject != "" {
		who += " for " + subject
	}
	return func(ctx context.Context) (*oauth2.Token, error) {
		// x/oauth2/jwt sends its request without a context: bind ctx
		// to the client so that cancellation still works.
		t, err := cfg.TokenSource(withClient(ctx, bindContext(ctx, hc))).Token()
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				// x/oauth2/jwt flattens the cause into text (%v).
				err = ctxErr
			}
			fillRetrieveError(err)
			return nil, wrapFetch("get token for service account "+who, err)
		}
		return t, nil
	}, nil
}

// fillRetrieveError fills ErrorCode and ErrorDescription of an
// *oauth2.RetrieveError from its JSON body: x/oauth2/jwt leaves them
// empty, and its error text then shows the raw body.
func fillRetrieveError(err error) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "" {
		re.ErrorCode, re.ErrorDescription, _ = parseErrorBody(re.Body)
	}
}

// GoogleClient parses an OAuth client JSON file as the Google Cloud
// console downloads it ("installed" for a Desktop app, or "web"), with
// google.ConfigFromJSON, into a Config for scopes, after checks that name
// what is missing. RedirectURL is the
// file's first redirect URI; a login flow replaces it with its own.
func GoogleClient(clientJSON []byte, scopes ...string) (*oauth2.Config, error) {
	f, err := parseGoogleFile(clientJSON)
	if err != nil {
		return nil, fmt.Errorf("read OAuth client file: %w", err)
	}
	c := f.Installed
	if c == nil {
		c = f.Web
	}
	if c == nil {
		if f.Type == KindServiceAccount {
			return nil, errors.New("read OAuth client file: this is a service account key, not an OAuth client file; give it as service_account_file")
		}
		return nil, errors.New(`read OAuth client file: no "installed" or "web" client in it (download the client's JSON from Google Cloud console, APIs & Services > Credentials)`)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"client_id", c.ClientID}, {"client_secret", c.ClientSecret}, {"auth_uri", c.AuthURI}, {"token_uri", c.TokenURI},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(c.RedirectURIs) == 0 {
		missing = append(missing, "redirect_uris")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("read OAuth client file: %s missing", strings.Join(missing, ", "))
	}
	cfg, err := google.ConfigFromJSON(clientJSON, scopes...)
	if err != nil {
		return nil, fmt.Errorf("read OAuth client file: %w", err)
	}
	// Google takes the client's credentials in the body; say so rather
	// than let x/oauth2 find out by a failed try.
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	return cfg, nil
}
