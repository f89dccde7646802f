package testserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Google OAuth 2.0 grant types accepted by [GoogleOAuth]'s token endpoint.
const (
	GoogleGrantJWTBearer    = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GoogleGrantRefreshToken = "refresh_token"
	GoogleGrantAuthCode     = "authorization_code"
)

// Defaults applied by [StartGoogleOAuth] to zero [GoogleOAuthOptions] fields.
const (
	// DefaultGoogleTokenSize is the length in bytes of the opaque access
	// tokens issued: real tokens are long, and code that only works with
	// short ones fails in production.
	DefaultGoogleTokenSize = 4096
	// DefaultGoogleTokenLifetime is the lifetime of issued access tokens,
	// as Google's (expires_in 3599).
	DefaultGoogleTokenLifetime = time.Hour
	// DefaultGoogleConsentUser is the user who consents on the
	// authorization endpoint.
	DefaultGoogleConsentUser = "user@example.com"
	// GoogleProjectID is the project_id written into the JSON credentials.
	GoogleProjectID = "tocsin-test"
)

// Errors returned by [GoogleOAuth.Validate].
var (
	// ErrGoogleTokenUnknown: the token was never issued by this server.
	ErrGoogleTokenUnknown = errors.New("testserver: unknown Google access token")
	// ErrGoogleTokenExpired: the token was issued but has expired.
	ErrGoogleTokenExpired = errors.New("testserver: expired Google access token")
)

// GoogleOAuthOptions configures a [GoogleOAuth]. The zero value is valid.
type GoogleOAuthOptions struct {
	// TokenSize is the length in bytes of issued access tokens
	// (minimum 32). Zero: [DefaultGoogleTokenSize].
	TokenSize int
	// TokenLifetime is the lifetime of issued access tokens. Zero:
	// [DefaultGoogleTokenLifetime].
	TokenLifetime time.Duration
	// ConsentUser is the Google account that consents on GET
	// /o/oauth2/auth; tokens from the code grant have it as subject.
	// Empty: [DefaultGoogleConsentUser].
	ConsentUser string
	// Now is the server's clock. Nil: time.Now.
	Now func() time.Time
}

// GoogleClaims is what [GoogleOAuth.Validate] knows about an access token.
type GoogleClaims struct {
	// Subject is the user the token acts for: the delegated user (JWT
	// "sub") of a service account token, or the consenting user of a code
	// or refresh grant. It is "" for a token a service account obtained
	// for itself (no "sub"): Gmail then fails with failedPrecondition.
	Subject string
	// Scopes are the scopes granted.
	Scopes []string
	// ClientID is the client_id of the service account or OAuth client.
	ClientID string
	// Expiry is when the token expires.
	Expiry time.Time
}

// GoogleOAuthCounts counts the requests a [GoogleOAuth] served.
type GoogleOAuthCounts struct {
	// Token counts every POST to the token endpoint.
	Token int
	// JWTBearer, RefreshToken and AuthorizationCode count the token
	// requests by grant type, whether they succeeded or not.
	JWTBearer, RefreshToken, AuthorizationCode int
	// Authorize counts requests to the authorization endpoint.
	Authorize int
	// Errors counts the requests answered with an error.
	Errors int
}

// GoogleOAuth is an in-process stand-in for Google's OAuth 2.0 endpoints,
// https://oauth2.googleapis.com/token and
// https://accounts.google.com/o/oauth2/auth, served over real TLS on
// 127.0.0.1 with a certificate from a [CA].
//
// The token endpoint (POST /token) accepts the JWT-bearer grant of service
// accounts created with [GoogleOAuth.NewServiceAccount] (RS256 signature,
// iss, aud, scope, sub, iat and exp are checked as Google does), and the
// refresh_token and authorization_code (with PKCE) grants of OAuth clients
// created with [GoogleOAuth.NewInstalledClient]; client credentials may be
// sent in an HTTP Basic header or in the form. GET /o/oauth2/auth consents
// at once and redirects to the client's redirect URI with code and state.
//
// Access tokens are opaque, [DefaultGoogleTokenSize] bytes by default, and
// checked with [GoogleOAuth.Validate]. Errors are Google's JSON
// {"error","error_description"}. A GoogleOAuth is safe for concurrent use.
type GoogleOAuth struct {
	srv      *httptest.Server
	size     int
	lifetime time.Duration
	user     string
	now      func() time.Time

	mu       sync.Mutex
	accounts map[string]*googleAccount // by client_email
	clients  map[string]*googleClient  // by client_id
	tokens   map[string]GoogleClaims
	refresh  map[string]*googleRefresh
	codes    map[string]*googleCode
	counts   GoogleOAuthCounts
}

type googleAccount struct {
	email, clientID, keyID string
	pub                    *rsa.PublicKey
	scopes                 []string // nil: any
	subjects               []string
}

type googleClient struct {
	id, secret string
	redirects  []string
}

type googleRefresh struct {
	clientID, subject string
	scopes            []string
	revoked           bool
}

type googleCode struct {
	clientID, redirect, challenge, method string
	scopes                                []string
	expiry                                time.Time
}

// StartGoogleOAuth starts a [GoogleOAuth] with a server certificate from ca
// for 127.0.0.1 and localhost. Close it when done.
func StartGoogleOAuth(ca *CA, opts GoogleOAuthOptions) (*GoogleOAuth, error) {
	g := &GoogleOAuth{
		size:     opts.TokenSize,
		lifetime: opts.TokenLifetime,
		user:     opts.ConsentUser,
		now:      opts.Now,
		accounts: map[string]*googleAccount{},
		clients:  map[string]*googleClient{},
		tokens:   map[string]GoogleClaims{},
		refresh:  map[string]*googleRefresh{},
		codes:    map[string]*googleCode{},
	}
	if g.size == 0 {
		g.size = DefaultGoogleTokenSize
	}
	g.size = max(g.size, 32)
	if g.lifetime == 0 {
		g.lifetime = DefaultGoogleTokenLifetime
	}
	if g.user == "" {
		g.user = DefaultGoogleConsentUser
	}
	if g.now == nil {
		g.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", g.handleToken)
	mux.HandleFunc("GET /o/oauth2/auth", g.handleAuth)
	srv, err := startHTTPS(ca, mux)
	if err != nil {
		return nil, err
	}
	g.srv = srv
	return g, nil
}

// StartGoogleOAuthT is [StartGoogleOAuth] for tests: it fails t on error
// and closes the server when the test ends.
func StartGoogleOAuthT(t testing.TB, ca *CA, opts GoogleOAuthOptions) *GoogleOAuth {
	t.Helper()
	g, err := StartGoogleOAuth(ca, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// Close shuts the server down, waiting for requests in flight.
func (g *GoogleOAuth) Close() { g.srv.Close() }

// URL returns the server's base URL, https://127.0.0.1:port.
func (g *GoogleOAuth) URL() string { return g.srv.URL }

// TokenURL returns the token endpoint, URL()+"/token", as written in the
// token_uri of the JSON credentials.
func (g *GoogleOAuth) TokenURL() string { return g.srv.URL + "/token" }

// AuthURL returns the authorization endpoint, URL()+"/o/oauth2/auth", as
// written in the auth_uri of the JSON credentials.
func (g *GoogleOAuth) AuthURL() string { return g.srv.URL + "/o/oauth2/auth" }

// Counts returns the request counters.
func (g *GoogleOAuth) Counts() GoogleOAuthCounts {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.counts
}

// NewServiceAccount generates a 2048-bit RSA key for a new service account
// and returns its JSON key file as Google Cloud console downloads it (type
// "service_account", project_id, private_key_id, private_key as PKCS #8
// PEM, client_email name@tocsin-test.iam.gserviceaccount.com, client_id,
// auth_uri, token_uri, auth_provider_x509_cert_url, client_x509_cert_url,
// universe_domain), with auth_uri and token_uri pointing at this server.
//
// The account has domain-wide delegation for scopes (nil: any scope) and may
// impersonate the users in subjects. A JWT-bearer request for a subject not
// in subjects, or for a scope not in scopes, fails with 401
// unauthorized_client as Google's does. A request without "sub" gets a
// token for the service account itself.
func (g *GoogleOAuth) NewServiceAccount(name string, scopes []string, subjects ...string) ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("testserver: generate service account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testserver: marshal service account key: %w", err)
	}
	keyID, err := googleRandomHex(20)
	if err != nil {
		return nil, err
	}
	clientID, err := googleRandomDigits(21)
	if err != nil {
		return nil, err
	}
	email := name + "@" + GoogleProjectID + ".iam.gserviceaccount.com"
	acct := &googleAccount{
		email:    email,
		clientID: clientID,
		keyID:    keyID,
		pub:      &key.PublicKey,
		scopes:   slices.Clone(scopes),
		subjects: slices.Clone(subjects),
	}
	g.mu.Lock()
	g.accounts[email] = acct
	g.mu.Unlock()
	file := struct {
		Type                    string `json:"type"`
		ProjectID               string `json:"project_id"`
		PrivateKeyID            string `json:"private_key_id"`
		PrivateKey              string `json:"private_key"`
		ClientEmail             string `json:"client_email"`
		ClientID                string `json:"client_id"`
		AuthURI                 string `json:"auth_uri"`
		TokenURI                string `json:"token_uri"`
		AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
		ClientX509CertURL       string `json:"client_x509_cert_url"`
		UniverseDomain          string `json:"universe_domain"`
	}{
		Type:                    "service_account",
		ProjectID:               GoogleProjectID,
		PrivateKeyID:            keyID,
		PrivateKey:              string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:             email,
		ClientID:                clientID,
		AuthURI:                 g.AuthURL(),
		TokenURI:                g.TokenURL(),
		AuthProviderX509CertURL: "https://www.googleapis.com/oauth2/v1/certs",
		ClientX509CertURL:       "https://www.googleapis.com/robot/v1/metadata/x509/" + url.PathEscape(email),
		UniverseDomain:          "googleapis.com",
	}
	out, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// NewInstalledClient registers a new OAuth client of type "Desktop app" and
// returns its JSON as Google Cloud console downloads it:
// {"installed":{"client_id","project_id","auth_uri","token_uri",
// "auth_provider_x509_cert_url","client_secret","redirect_uris":["http://localhost"]}},
// with auth_uri and token_uri pointing at this server. As with Google, any
// port and path on a loopback redirect URI is accepted.
func (g *GoogleOAuth) NewInstalledClient() ([]byte, error) {
	n, err := googleRandomDigits(12)
	if err != nil {
		return nil, err
	}
	tail, err := googleRandomHex(16)
	if err != nil {
		return nil, err
	}
	secret, err := googleRandomHex(14)
	if err != nil {
		return nil, err
	}
	c := &googleClient{
		id:        n + "-" + tail + ".apps.googleusercontent.com",
		secret:    "GOCSPX-" + secret,
		redirects: []string{"http://localhost"},
	}
	g.mu.Lock()
	g.clients[c.id] = c
	g.mu.Unlock()
	type installed struct {
		ClientID                string   `json:"client_id"`
		ProjectID               string   `json:"project_id"`
		AuthURI                 string   `json:"auth_uri"`
		TokenURI                string   `json:"token_uri"`
		AuthProviderX509CertURL string   `json:"auth_provider_x509_cert_url"`
		ClientSecret            string   `json:"client_secret"`
		RedirectURIs            []string `json:"redirect_uris"`
	}
	return json.Marshal(struct {
		Installed installed `json:"installed"`
	}{installed{
		ClientID:                c.id,
		ProjectID:               GoogleProjectID,
		AuthURI:                 g.AuthURL(),
		TokenURI:                g.TokenURL(),
		AuthProviderX509CertURL: "https://www.googleapis.com/oauth2/v1/certs",
		ClientSecret:            c.secret,
		RedirectURIs:            c.redirects,
	}})
}

// NewRefreshToken issues a refresh token for the OAuth client clientID,
// acting for subject with scopes, as if the user had consented earlier. It
// fails if the client is unknown.
func (g *GoogleOAuth) NewRefreshToken(clientID, subject string, scopes ...string) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.clients[clientID]; !ok {
		return "", fmt.Errorf("testserver: unknown Google OAuth client %q", clientID)
	}
	return g.newRefreshLocked(clientID, subject, scopes)
}

// RevokeRefreshToken revokes a refresh token: using it then fails with 400
// invalid_grant "Token has been expired or revoked.". Access tokens already
// issued stay valid.
func (g *GoogleOAuth) RevokeRefreshToken(token string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.refresh[token]; ok {
		r.revoked = true
	}
}

// Validate returns the claims of an access token this server issued, or
// [ErrGoogleTokenUnknown] or [ErrGoogleTokenExpired].
func (g *GoogleOAuth) Validate(token string) (GoogleClaims, error) {
	g.mu.Lock()
	c, ok := g.tokens[token]
	g.mu.Unlock()
	if !ok {
		return GoogleClaims{}, ErrGoogleTokenUnknown
	}
	c.Scopes = slices.Clone(c.Scopes)
	if !g.now().Before(c.Expiry) {
		return c, ErrGoogleTokenExpired
	}
	return c, nil
}

// googleOAuthError is an error reply of the token endpoint.
type googleOAuthError struct {
	status     int
	code, desc string
}

func googleErr(status int, code, desc string) *googleOAuthError {
	return &googleOAuthError{status, code, desc}
}

func (g *GoogleOAuth) handleToken(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.counts.Token++
	g.mu.Unlock()
	resp, oerr := g.token(r)
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	if oerr != nil {
		g.mu.Lock()
		g.counts.Errors++
		g.mu.Unlock()
		googleWriteJSON(w, oerr.status, map[string]string{"error": oerr.code, "error_description": oerr.desc})
		return
	}
	googleWriteJSON(w, http.StatusOK, resp)
}

func (g *GoogleOAuth) token(r *http.Request) (map[string]any, *googleOAuthError) {
	if err := r.ParseForm(); err != nil {
		return nil, googleErr(400, "invalid_request", "Invalid request body.")
	}
	gt := r.PostForm.Get("grant_type")
	g.mu.Lock()
	switch gt {
	case GoogleGrantJWTBearer:
		g.counts.JWTBearer++
	case GoogleGrantRefreshToken:
		g.counts.RefreshToken++
	case GoogleGrantAuthCode:
		g.counts.AuthorizationCode++
	}
	g.mu.Unlock()
	switch gt {
	case GoogleGrantJWTBearer:
		return g.jwtBearer(r.PostForm.Get("assertion"))
	case GoogleGrantRefreshToken, GoogleGrantAuthCode:
		return g.clientGrant(r, gt)
	case "":
		return nil, googleErr(400, "unsupported_grant_type", "Invalid grant_type: ")
	default:
		return nil, googleErr(400, "unsupported_grant_type", "Invalid grant_type: "+gt)
	}
}

func (g *GoogleOAuth) jwtBearer(assertion string) (map[string]any, *googleOAuthError) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, googleErr(400, "invalid_grant", "Invalid JWT: Missing or malformed assertion.")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Sub   string `json:"sub"`
		Exp   *int64 `json:"exp"`
		Iat   *int64 `json:"iat"`
	}
	if err := googleDecodeSegment(parts[0], &hdr); err != nil || hdr.Alg != "RS256" {
		return nil, googleErr(400, "invalid_grant", "Invalid JWT Signature.")
	}
	if err := googleDecodeSegment(parts[1], &claims); err != nil {
		return nil, googleErr(400, "invalid_grant", "Invalid JWT: Malformed claims.")
	}
	g.mu.Lock()
	acct := g.accounts[claims.Iss]
	g.mu.Unlock()
	if acct == nil {
		return nil, googleErr(400, "invalid_grant", "Invalid grant: account not found")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || (hdr.Kid != "" && hdr.Kid != acct.keyID) {
		return nil, googleErr(400, "invalid_grant", "Invalid JWT Signature.")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(acct.pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, googleErr(400, "invalid_grant", "Invalid JWT Signature.")
	}
	if claims.Aud != g.TokenURL() {
		return nil, googleErr(400, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is "+g.TokenURL())
	}
	now := g.now().Unix()
	if claims.Exp == nil || claims.Iat == nil || *claims.Iat > now+60 || *claims.Exp <= now ||
		*claims.Exp <= *claims.Iat || *claims.Exp-*claims.Iat > 3600+60 {
		return nil, googleErr(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	scopes := strings.Fields(claims.Scope)
	if len(scopes) == 0 {
		return nil, googleErr(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
	}
	if claims.Sub != "" {
		granted := acct.scopes == nil
		if !granted {
			granted = true
			for _, s := range scopes {
				if !slices.Contains(acct.scopes, s) {
					granted = false
				}
			}
		}
		if !granted || !slices.ContainsFunc(acct.subjects, func(s string) bool { return strings.EqualFold(s, claims.Sub) }) {
			return nil, googleErr(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
		}
	}
	return g.issue(acct.clientID, claims.Sub, scopes, "")
}

// clientAuth authenticates an OAuth client by HTTP Basic (RFC 6749 2.3.1,
// form-url-encoded id and secret) or by client_id/client_secret in the form.
func (g *GoogleOAuth) clientAuth(r *http.Request) (*googleClient, *googleOAuthError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, googleErr(401, "invalid_client", "Unauthorized")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" {
		return nil, googleErr(400, "invalid_request", "Could not determine client ID from request.")
	}
	g.mu.Lock()
	c := g.clients[id]
	g.mu.Unlock()
	if c == nil {
		return nil, googleErr(401, "invalid_client", "The OAuth client was not found.")
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(c.secret)) != 1 {
		return nil, googleErr(401, "invalid_client", "Unauthorized")
	}
	return c, nil
}

func (g *GoogleOAuth) clientGrant(r *http.Request, gt string) (map[string]any, *googleOAuthError) {
	c, oerr := g.clientAuth(r)
	if oerr != nil {
		return nil, oerr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if gt == GoogleGrantRefreshToken {
		rt := g.refresh[r.PostForm.Get("refresh_token")]
		if rt == nil || rt.revoked || rt.clientID != c.id {
			return nil, googleErr(400, "invalid_grant", "Token has been expired or revoked.")
		}
		scopes := rt.scopes
		if s := strings.Fields(r.PostForm.Get("scope")); len(s) > 0 {
			for _, x := range s {
				if !slices.Contains(rt.scopes, x) {
					return nil, googleErr(400, "invalid_scope", "Bad Request")
				}
			}
			scopes = s
		}
		return g.issueLocked(c.id, rt.subject, scopes, "")
	}
	code := r.PostForm.Get("code")
	gc := g.codes[code]
	if gc == nil {
		return nil, googleErr(400, "invalid_grant", "Malformed auth code.")
	}
	delete(g.codes, code) // single use, even when the exchange fails
	if gc.clientID != c.id || !g.now().Before(gc.expiry) {
		return nil, googleErr(400, "invalid_grant", "Bad Request")
	}
	if r.PostForm.Get("redirect_uri") != gc.redirect {
		return nil, googleErr(400, "redirect_uri_mismatch", "Bad Request")
	}
	if gc.challenge != "" {
		v := r.PostForm.Get("code_verifier")
		if v == "" {
			return nil, googleErr(400, "invalid_grant", "Missing code verifier.")
		}
		want := v
		if gc.method == "S256" {
			sum := sha256.Sum256([]byte(v))
			want = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if want != gc.challenge {
			return nil, googleErr(400, "invalid_grant", "Invalid code verifier.")
		}
	}
	rt, err := g.newRefreshLocked(c.id, g.user, gc.scopes)
	if err != nil {
		return nil, googleErr(500, "internal_failure", err.Error())
	}
	return g.issueLocked(c.id, g.user, gc.scopes, rt)
}

func (g *GoogleOAuth) handleAuth(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.counts.Authorize++
	g.mu.Unlock()
	fail := func(msg string) {
		g.mu.Lock()
		g.counts.Errors++
		g.mu.Unlock()
		http.Error(w, msg, http.StatusBadRequest)
	}
	q := r.URL.Query()
	g.mu.Lock()
	c := g.clients[q.Get("client_id")]
	g.mu.Unlock()
	if c == nil {
		fail("Error 401: invalid_client\nThe OAuth client was not found.")
		return
	}
	redirect := q.Get("redirect_uri")
	ru, err := url.Parse(redirect)
	if err != nil || !googleRedirectAllowed(c.redirects, ru) {
		fail("Error 400: redirect_uri_mismatch")
		return
	}
	if q.Get("response_type") != "code" {
		fail("Error 400: invalid_request\nInvalid response_type")
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if len(scopes) == 0 {
		fail("Error 400: invalid_request\nMissing required parameter: scope")
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" {
		if method == "" {
			method = "plain"
		}
		if method != "S256" && method != "plain" {
			fail("Error 400: invalid_request\nInvalid code_challenge_method")
			return
		}
	}
	code, err := googleRandomToken("4/0A", 73)
	if err != nil {
		fail(err.Error())
		return
	}
	g.mu.Lock()
	g.codes[code] = &googleCode{
		clientID: c.id, redirect: redirect, challenge: challenge, method: method,
		scopes: scopes, expiry: g.now().Add(10 * time.Minute),
	}
	g.mu.Unlock()
	rq := ru.Query()
	if s := q.Get("state"); s != "" {
		rq.Set("state", s)
	}
	rq.Set("code", code)
	rq.Set("scope", strings.Join(scopes, " "))
	ru.RawQuery = rq.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

// googleRedirectAllowed: exact match, or any port and path on a registered
// loopback redirect URI (Google's rule for installed apps).
func googleRedirectAllowed(registered []string, u *url.URL) bool {
	for _, reg := range registered {
		if reg == u.String() {
			return true
		}
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || u.Scheme != "http" {
			continue
		}
		h := u.Hostname()
		if ip := net.ParseIP(h); (h == "localhost" || (ip != nil && ip.IsLoopback())) && h == ru.Hostname() {
			return true
		}
	}
	return false
}

func (g *GoogleOAuth) issue(clientID, subject string, scopes []string, refresh string) (map[string]any, *googleOAuthError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.issueLocked(clientID, subject, scopes, refresh)
}

func (g *GoogleOAuth) issueLocked(clientID, subject string, scopes []string, refresh string) (map[string]any, *googleOAuthError) {
	tok, err := googleRandomToken("ya29.", g.size)
	if err != nil {
		return nil, googleErr(500, "internal_failure", err.Error())
	}
	g.tokens[tok] = GoogleClaims{
		Subject:  subject,
		Scopes:   slices.Clone(scopes),
		ClientID: clientID,
		Expiry:   g.now().Add(g.lifetime),
	}
	resp := map[string]any{
		"access_token": tok,
		"expires_in":   int(g.lifetime / time.Second),
		"token_type":   "Bearer",
		"scope":        strings.Join(scopes, " "),
	}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	return resp, nil
}

func (g *GoogleOAuth) newRefreshLocked(clientID, subject string, scopes []string) (string, error) {
	rt, err := googleRandomToken("1//0", 103)
	if err != nil {
		return "", err
	}
	g.refresh[rt] = &googleRefresh{clientID: clientID, subject: subject, scopes: slices.Clone(scopes)}
	return rt, nil
}

func googleDecodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func googleWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// googleRandomToken returns prefix followed by random base64url characters,
// size bytes in all.
func googleRandomToken(prefix string, size int) (string, error) {
	n := max(size-len(prefix), 1)
	b := make([]byte, n*3/4+3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("testserver: random token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)[:n], nil
}

func googleRandomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("testserver: random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func googleRandomDigits(n int) (string, error) {
	var sb strings.Builder
	for i := range n {
		lo := int64(0)
		if i == 0 {
			lo = 1
		}
		d, err := rand.Int(rand.Reader, big.NewInt(10-lo))
		if err != nil {
			return "", fmt.Errorf("testserver: random id: %w", err)
		}
		sb.WriteByte(byte('0' + lo + d.Int64()))
	}
	return sb.String(), nil
}
