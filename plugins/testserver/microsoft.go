package testserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scopes of Microsoft 365 SMTP AUTH.
const (
	// MicrosoftScopeSMTPApp is the app-only (client credentials) scope for
	// SMTP AUTH with the SMTP.SendAsApp permission.
	MicrosoftScopeSMTPApp = "https://outlook.office365.com/.default"
	// MicrosoftScopeSMTPSend is the delegated scope for SMTP AUTH; ask for
	// it together with "offline_access" to get a refresh token.
	MicrosoftScopeSMTPSend = "https://outlook.office.com/SMTP.Send"
)

// Grant types of the Microsoft token endpoint, as passed to
// [MicrosoftIdentity.Requests].
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
	GrantAuthorizationCode = "authorization_code"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
)

// ClientAssertionTypeJWT is the client_assertion_type of certificate
// credentials.
const ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Defaults of [MicrosoftOptions].
const (
	DefaultMicrosoftTokenBytes    = 4096
	DefaultMicrosoftTokenLifetime = time.Hour
	DefaultMicrosoftDeviceCodeTTL = 15 * time.Minute
)

// MicrosoftOptions configures a [MicrosoftIdentity]. The zero value is
// usable.
type MicrosoftOptions struct {
	// TokenBytes is the length of issued access tokens (opaque random
	// strings, see [RandomToken]). 0 means DefaultMicrosoftTokenBytes.
	TokenBytes int
	// TokenLifetime is how long an access token is valid; expires_in and
	// ext_expires_in are its whole seconds. 0 means
	// DefaultMicrosoftTokenLifetime.
	TokenLifetime time.Duration
	// DeviceCodeInterval is the polling interval, in seconds, returned by
	// the device code endpoint. 0 means 1 (Microsoft says 5; x/oauth2
	// waits that long between polls).
	DeviceCodeInterval int
	// DeviceCodeLifetime is how long a device code can be redeemed. 0
	// means DefaultMicrosoftDeviceCodeTTL (15 minutes, as Microsoft).
	DeviceCodeLifetime time.Duration
	// Now, if set, replaces time.Now for every expiry decision (tokens,
	// codes, secrets, client assertions), so tests can move time.
	Now func() time.Time
	// KeepRotatedRefreshTokens keeps a refresh token valid after a
	// refresh rotated it, as Microsoft's identity platform does (an old
	// refresh token stays valid until it expires). False, the default,
	// is the strictest provider: a refresh token works once.
	KeepRotatedRefreshTokens bool
}

// MicrosoftApp is an application registration in a tenant. Its fields are
// the knobs that provoke the token endpoint's errors.
type MicrosoftApp struct {
	// Tenant is the tenant ID or domain in the URL path
	// (/{tenant}/oauth2/v2.0/token). Registering an app creates its
	// tenant; any other tenant gets AADSTS90002.
	Tenant string
	// ClientID is the application (client) ID. Any other client ID in a
	// known tenant gets AADSTS700016.
	ClientID string
	// Name is the display name used in error descriptions.
	Name string
	// Secret is the client secret's value. A wrong secret gets
	// AADSTS7000215 (invalid_client, 401).
	Secret string
	// SecretExpired makes the (correct) secret get AADSTS7000222
	// (invalid_client, 401).
	SecretExpired bool
	// Certificate is the registered certificate (RSA key) for client
	// assertions: an RS256 JWT with aud = the token URL,
	// iss = sub = ClientID and exp in the future.
	Certificate *x509.Certificate
	// Public marks a public client (mobile/desktop, "allow public client
	// flows"): the delegated grants (authorization code, device code,
	// refresh token) need no client credentials. Client credentials
	// always need them; a confidential app (Public false) needs them on
	// every grant (AADSTS7000218 otherwise).
	Public bool
	// AppScopes are the scopes allowed with client credentials, e.g.
	// [MicrosoftScopeSMTPApp]. Others get AADSTS70011 (invalid_scope);
	// a scope without "/.default" gets AADSTS1002012.
	AppScopes []string
	// DelegatedScopes are the scopes allowed in delegated grants, e.g.
	// [MicrosoftScopeSMTPSend]; "offline_access", "openid", "profile"
	// and "email" are always allowed. Others get AADSTS70011.
	DelegatedScopes []string
	// RedirectURIs are the registered redirect URIs for the authorization
	// code flow. As in Entra ID, a loopback URI (http://localhost or
	// http://127.0.0.1) matches any port.
	RedirectURIs []string
	// User is the user who signs in and consents in the authorization
	// code and device code flows (a login_hint on the authorize request
	// overrides it). It is [MicrosoftClaims.User] of delegated tokens.
	User string
	// ConsentMissing makes every grant fail with AADSTS65001
	// (invalid_grant): neither the user nor an admin has consented.
	ConsentMissing bool
	// SecurityDefaults makes delegated grants fail with AADSTS530035
	// (invalid_grant): the sign-in is blocked by security defaults.
	SecurityDefaults bool
}

// MicrosoftClaims is what an access token issued by a [MicrosoftIdentity]
// stands for.
type MicrosoftClaims struct {
	// Tenant is the tenant in the token request's path.
	Tenant string
	// ClientID is the application the token was issued to.
	ClientID string
	// Scope is the granted scope, space-separated, as requested
	// (e.g. "https://outlook.office365.com/.default" or
	// "https://outlook.office.com/SMTP.Send offline_access").
	Scope string
	// User is the signed-in user of a delegated token, "" for an
	// app-only (client credentials) token.
	User string
	// Expiry is when the token stops being valid.
	Expiry time.Time
}

// MicrosoftIdentity is a stand-in for login.microsoftonline.com (the
// Microsoft identity platform v2.0 endpoints) on an HTTPS httptest server
// whose certificate comes from a testserver [CA]. It serves, for each
// tenant registered through [MicrosoftIdentity.AddApp]:
//
//	POST /{tenant}/oauth2/v2.0/token       client_credentials (secret or certificate),
//	                                       refresh_token (rotating), authorization_code
//	                                       (PKCE S256), device_code
//	GET  /{tenant}/oauth2/v2.0/authorize   auto-consent: 302 to redirect_uri with code and state
//	POST /{tenant}/oauth2/v2.0/devicecode  device authorization
//
// Successful token responses are JSON
// {"token_type":"Bearer","expires_in":N,"ext_expires_in":N,"access_token":"..."},
// delegated ones also with "scope" and, when offline_access was asked for,
// "refresh_token" (as Microsoft: no offline_access, no refresh token).
// Errors are Microsoft's JSON {"error","error_description","error_codes",
// "timestamp","trace_id","correlation_id","error_uri"} with status 400, or
// 401 for invalid_client; error_description starts with the AADSTS code.
//
// Client credentials are accepted in the form (client_secret,
// client_assertion) or, for a secret, in an HTTP Basic Authorization header
// (x/oauth2's AuthStyleInHeader; its auto-detection tries the header first,
// then the form, so a rejected secret makes two requests).
//
// All methods are safe for concurrent use.
type MicrosoftIdentity struct {
	srv  *httptest.Server
	opts MicrosoftOptions

	mu       sync.Mutex
	apps     map[string]map[string]*MicrosoftApp // tenant -> client ID -> app
	tokens   map[string]MicrosoftClaims
	refresh  map[string]msGrant
	codes    map[string]msCode
	devices  map[string]*msDevice // device code -> device
	users    map[string]*msDevice // user code -> device
	requests map[string]int
}

type msGrant struct {
	tenant, clientID, scope, user string
}

type msCode struct {
	msGrant
	redirectURI, challenge string
	expiry                 time.Time
}

type msDevice struct {
	msGrant
	userCode string
	expiry   time.Time
	approved bool
}

// StartMicrosoftIdentity starts a [MicrosoftIdentity] on 127.0.0.1 with a
// fresh server certificate from ca ([CA.ServerTLSConfig]). Clients must
// trust ca, e.g. with [MicrosoftIdentity.Client].
func StartMicrosoftIdentity(ca *CA, opts MicrosoftOptions) (*MicrosoftIdentity, error) {
	if ca == nil {
		return nil, errors.New("testserver: StartMicrosoftIdentity needs a CA")
	}
	if opts.TokenBytes == 0 {
		opts.TokenBytes = DefaultMicrosoftTokenBytes
	}
	if opts.TokenLifetime == 0 {
		opts.TokenLifetime = DefaultMicrosoftTokenLifetime
	}
	if opts.DeviceCodeInterval == 0 {
		opts.DeviceCodeInterval = 1
	}
	if opts.DeviceCodeLifetime == 0 {
		opts.DeviceCodeLifetime = DefaultMicrosoftDeviceCodeTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &MicrosoftIdentity{
		opts:     opts,
		apps:     make(map[string]map[string]*MicrosoftApp),
		tokens:   make(map[string]MicrosoftClaims),
		refresh:  make(map[string]msGrant),
		codes:    make(map[string]msCode),
		devices:  make(map[string]*msDevice),
		users:    make(map[string]*msDevice),
		requests: make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", m.handleToken)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", m.handleAuthorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", m.handleDeviceCode)
	srv, err := startHTTPS(ca, mux)
	if err != nil {
		return nil, err
	}
	m.srv = srv
	return m, nil
}

// StartMicrosoftIdentityT is [StartMicrosoftIdentity] for tests: it calls
// t.Fatal on error and registers [MicrosoftIdentity.Close] with t.Cleanup.
func StartMicrosoftIdentityT(t testing.TB, ca *CA, opts MicrosoftOptions) *MicrosoftIdentity {
	t.Helper()
	m, err := StartMicrosoftIdentity(ca, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// Close shuts the server down, blocking until all requests have finished.
func (m *MicrosoftIdentity) Close() { m.srv.Close() }

// URL returns the base URL, "https://127.0.0.1:port" (the authority host
// setting of a transport).
func (m *MicrosoftIdentity) URL() string { return m.srv.URL }

// TokenURL returns the token endpoint of tenant; it is also the audience
// a client assertion must carry.
func (m *MicrosoftIdentity) TokenURL(tenant string) string {
	return m.srv.URL + "/" + tenant + "/oauth2/v2.0/token"
}

// AuthURL returns the authorization endpoint of tenant.
func (m *MicrosoftIdentity) AuthURL(tenant string) string {
	return m.srv.URL + "/" + tenant + "/oauth2/v2.0/authorize"
}

// DeviceAuthURL returns the device code endpoint of tenant.
func (m *MicrosoftIdentity) DeviceAuthURL(tenant string) string {
	return m.srv.URL + "/" + tenant + "/oauth2/v2.0/devicecode"
}

// Client returns an HTTP client that trusts only the server's CA (and
// does not follow redirects, so the authorize redirect can be read).
func (m *MicrosoftIdentity) Client() *http.Client {
	c := *m.srv.Client() // a copy: httptest shares one client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// AddApp registers app (replacing a registration with the same tenant and
// client ID). Tenant and ClientID must be non-empty; a Certificate must
// hold an RSA key.
func (m *MicrosoftIdentity) AddApp(app MicrosoftApp) error {
	if app.Tenant == "" || app.ClientID == "" {
		return errors.New("testserver: MicrosoftApp needs Tenant and ClientID")
	}
	if app.Certificate != nil {
		if _, ok := app.Certificate.PublicKey.(*rsa.PublicKey); !ok {
			return errors.New("testserver: MicrosoftApp certificate must hold an RSA key")
		}
	}
	app.AppScopes = slices.Clone(app.AppScopes)
	app.DelegatedScopes = slices.Clone(app.DelegatedScopes)
	app.RedirectURIs = slices.Clone(app.RedirectURIs)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.apps[app.Tenant] == nil {
		m.apps[app.Tenant] = make(map[string]*MicrosoftApp)
	}
	m.apps[app.Tenant][app.ClientID] = &app
	return nil
}

// Approve completes the user's side of the device code flow for userCode,
// as app.User: the next poll of the token endpoint gets the token. It fails
// if the user code is unknown or expired.
func (m *MicrosoftIdentity) Approve(userCode string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.users[userCode]
	if !ok {
		return fmt.Errorf("testserver: unknown user code %q", userCode)
	}
	if !m.opts.Now().Before(d.expiry) {
		return fmt.Errorf("testserver: user code %q has expired", userCode)
	}
	d.approved = true
	return nil
}

// Validate reports what an access token issued by this server stands for.
// It fails for a token the server did not issue and for an expired one.
func (m *MicrosoftIdentity) Validate(token string) (MicrosoftClaims, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.tokens[token]
	if !ok {
		return MicrosoftClaims{}, errors.New("testserver: unknown access token")
	}
	if !m.opts.Now().Before(c.Expiry) {
		return MicrosoftClaims{}, errors.New("testserver: access token has expired")
	}
	return c, nil
}

// Requests returns how many requests the token endpoint received with
// this grant_type (e.g. [GrantClientCredentials]), successful or not.
func (m *MicrosoftIdentity) Requests(grant string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[grant]
}

// msError is an error reply of the Microsoft identity platform.
type msError struct {
	status int
	code   string // OAuth error, e.g. "invalid_client"
	aadsts int
	desc   string
}

func (e *msError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.aadsts, e.desc) }

func msAADErr(status int, code string, aadsts int, format string, args ...any) *msError {
	return &msError{status: status, code: code, aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

func msNewGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func (m *MicrosoftIdentity) writeError(w http.ResponseWriter, e *msError) {
	now := m.opts.Now().UTC()
	trace, corr := msNewGUID(), msNewGUID()
	ts := now.Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error": e.code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.aadsts, e.desc, trace, corr, ts),
		"error_codes":    []int{e.aadsts},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("%s/error?code=%d", m.srv.URL, e.aadsts),
	}
	msWriteJSON(w, e.status, body)
}

func msWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// lookup finds the tenant and app; the caller holds m.mu.
func (m *MicrosoftIdentity) lookup(tenant, clientID string) (*MicrosoftApp, *msError) {
	apps, ok := m.apps[tenant]
	if !ok {
		return nil, msAADErr(400, "invalid_request", 90002,
			"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant)
	}
	if clientID == "" {
		return nil, msAADErr(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
	}
	app, ok := apps[clientID]
	if !ok {
		return nil, msAADErr(400, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenant)
	}
	return app, nil
}

// authenticateClient checks the client credentials of a token request;
// the caller holds m.mu.
func (m *MicrosoftIdentity) authenticateClient(r *http.Request, app *MicrosoftApp, tenant string, required bool) *msError {
	secret := r.PostForm.Get("client_secret")
	if _, s, ok := r.BasicAuth(); ok && secret == "" {
		secret, _ = url.QueryUnescape(s)
	}
	assertionType := r.PostForm.Get("client_assertion_type")
	assertion := r.PostForm.Get("client_assertion")
	switch {
	case secret != "":
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1 {
			return msAADErr(401, "invalid_client", 7000215,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.ClientID)
		}
		if app.SecretExpired {
			return msAADErr(401, "invalid_client", 7000222,
				"The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.ClientID)
		}
		return nil
	case assertion != "" || assertionType != "":
		if assertionType != ClientAssertionTypeJWT {
			return msAADErr(400, "invalid_request", 50027, "JWT token is invalid or malformed: client_assertion_type must be '%s'.", ClientAssertionTypeJWT)
		}
		return m.checkAssertion(assertion, app, tenant)
	case required || !app.Public:
		return msAADErr(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	return nil
}

// checkAssertion verifies a client assertion JWT (RS256) against the
// app's certificate.
func (m *MicrosoftIdentity) checkAssertion(jwt string, app *MicrosoftApp, tenant string) *msError {
	invalid := func(why string) *msError {
		return msAADErr(401, "invalid_client", 700027, "Client assertion failed signature validation. (%s)", why)
	}
	if app.Certificate == nil {
		return msAADErr(401, "invalid_client", 700027, "Client assertion contains an invalid signature. No certificate is registered for app '%s'.", app.ClientID)
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return msAADErr(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
	}
	var header struct {
		Alg string `json:"alg"`
		X5t string `json:"x5t"`
	}
	var claims struct {
		Aud any    `json:"aud"`
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Exp *int64 `json:"exp"`
		Nbf *int64 `json:"nbf"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil ||
		json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return msAADErr(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
	}
	if header.Alg != "RS256" {
		return invalid("alg must be RS256")
	}
	if header.X5t != "" {
		sum := sha1.Sum(app.Certificate.Raw)
		if header.X5t != base64.RawURLEncoding.EncodeToString(sum[:]) && header.X5t != base64.URLEncoding.EncodeToString(sum[:]) {
			return invalid("x5t does not match the registered certificate")
		}
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(app.Certificate.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) != nil {
		return invalid("signature does not verify with the registered certificate")
	}
	want := m.TokenURL(tenant)
	audOK := false
	switch a := claims.Aud.(type) {
	case string:
		audOK = a == want
	case []any:
		for _, x := range a {
			audOK = audOK || x == want
		}
	}
	if !audOK {
		return msAADErr(401, "invalid_client", 700212, "No matching federated identity record found for presented assertion audience '%v'. The audience must be '%s'.", claims.Aud, want)
	}
	if claims.Iss != app.ClientID || claims.Sub != app.ClientID {
		return msAADErr(401, "invalid_client", 700021, "Client assertion application identifier doesn't match 'client_id' parameter: iss and sub must be '%s'.", app.ClientID)
	}
	now := m.opts.Now().Unix()
	if claims.Exp == nil || *claims.Exp <= now || (claims.Nbf != nil && *claims.Nbf > now+300) {
		return msAADErr(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
	}
	return nil
}

var msAlwaysDelegated = []string{"offline_access", "openid", "profile", "email"}

// msCheckDelegatedScope checks a space-separated delegated scope list.
func msCheckDelegatedScope(app *MicrosoftApp, scope string) *msError {
	fields := strings.Fields(scope)
	if len(fields) == 0 {
		return msAADErr(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
	}
	for _, s := range fields {
		if !slices.Contains(app.DelegatedScopes, s) && !slices.Contains(msAlwaysDelegated, s) {
			return msAADErr(400, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope)
		}
	}
	return nil
}

// issue stores a new access token (and refresh token if wanted); the
// caller holds m.mu.
func (m *MicrosoftIdentity) issue(g msGrant, delegated bool) map[string]any {
	token := RandomToken(m.opts.TokenBytes)
	exp := m.opts.Now().Add(m.opts.TokenLifetime)
	m.tokens[token] = MicrosoftClaims{Tenant: g.tenant, ClientID: g.clientID, Scope: g.scope, User: g.user, Expiry: exp}
	secs := int(m.opts.TokenLifetime / time.Second)
	resp := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   token,
	}
	if delegated {
		resp["scope"] = g.scope
		if slices.Contains(strings.Fields(g.scope), "offline_access") {
			rt := "1.A" + RandomToken(1500)
			m.refresh[rt] = g
			resp["refresh_token"] = rt
		}
	}
	return resp
}

func (m *MicrosoftIdentity) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		m.writeError(w, msAADErr(400, "invalid_request", 900144, "The request body must be form-encoded: %v.", err))
		return
	}
	tenant := r.PathValue("tenant")
	grant := r.PostForm.Get("grant_type")
	clientID := r.PostForm.Get("client_id")
	if id, _, ok := r.BasicAuth(); ok && clientID == "" {
		clientID, _ = url.QueryUnescape(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[grant]++
	resp, e := m.token(r, tenant, grant, clientID)
	if e != nil {
		m.writeError(w, e)
		return
	}
	msWriteJSON(w, http.StatusOK, resp)
}

// token handles one token request; the caller holds m.mu.
func (m *MicrosoftIdentity) token(r *http.Request, tenant, grant, clientID string) (map[string]any, *msError) {
	app, e := m.lookup(tenant, clientID)
	if e != nil {
		return nil, e
	}
	if grant == "" {
		return nil, msAADErr(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	if !slices.Contains([]string{GrantClientCredentials, GrantRefreshToken, GrantAuthorizationCode, GrantDeviceCode}, grant) {
		return nil, msAADErr(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", grant)
	}
	if e := m.authenticateClient(r, app, tenant, grant == GrantClientCredentials); e != nil {
		return nil, e
	}
	if app.ConsentMissing {
		return nil, msAADErr(400, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.Name)
	}
	if grant != GrantClientCredentials && app.SecurityDefaults {
		return nil, msAADErr(400, "invalid_grant", 530035, "Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies.")
	}
	now := m.opts.Now()
	form := r.PostForm
	switch grant {
	case GrantClientCredentials:
		scope := form.Get("scope")
		if scope == "" {
			return nil, msAADErr(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		}
		if !strings.HasSuffix(scope, "/.default") || strings.ContainsAny(scope, " ") {
			return nil, msAADErr(400, "invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
		}
		if !slices.Contains(app.AppScopes, scope) {
			return nil, msAADErr(400, "invalid_scope", 70011, "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope)
		}
		return m.issue(msGrant{tenant: tenant, clientID: app.ClientID, scope: scope}, false), nil

	case GrantRefreshToken:
		rt := form.Get("refresh_token")
		g, ok := m.refresh[rt]
		if !ok || g.clientID != app.ClientID || g.tenant != tenant {
			return nil, msAADErr(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
		}
		if !m.opts.KeepRotatedRefreshTokens {
			delete(m.refresh, rt) // rotation: a refresh token works once
		}
		if s := form.Get("scope"); s != "" {
			if e := msCheckDelegatedScope(app, s); e != nil {
				return nil, e
			}
			g.scope = s
		}
		return m.issue(g, true), nil

	case GrantAuthorizationCode:
		code := form.Get("code")
		c, ok := m.codes[code]
		if !ok || c.clientID != app.ClientID || c.tenant != tenant {
			return nil, msAADErr(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
		}
		delete(m.codes, code) // a code is redeemed once
		if !now.Before(c.expiry) {
			return nil, msAADErr(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity.")
		}
		if form.Get("redirect_uri") != c.redirectURI {
			return nil, msAADErr(400, "invalid_grant", 50148, "The redirect_uri '%s' does not match the one of the authorization request.", form.Get("redirect_uri"))
		}
		if c.challenge != "" {
			v := form.Get("code_verifier")
			sum := sha256.Sum256([]byte(v))
			if v == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge {
				return nil, msAADErr(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
			}
		}
		return m.issue(c.msGrant, true), nil

	default: // GrantDeviceCode
		dc := form.Get("device_code")
		d, ok := m.devices[dc]
		if !ok || d.clientID != app.ClientID || d.tenant != tenant {
			return nil, msAADErr(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")
		}
		if !now.Before(d.expiry) {
			return nil, msAADErr(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
		}
		if !d.approved {
			return nil, msAADErr(400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
		}
		delete(m.devices, dc)
		delete(m.users, d.userCode)
		return m.issue(d.msGrant, true), nil
	}
}

// msRedirectMatches reports whether got is one of the registered URIs, a
// loopback URI matching regardless of port.
func msRedirectMatches(registered []string, got string) bool {
	if slices.Contains(registered, got) {
		return true
	}
	g, err := url.Parse(got)
	if err != nil || g.Scheme != "http" || (g.Hostname() != "localhost" && g.Hostname() != "127.0.0.1") {
		return false
	}
	for _, r := range registered {
		u, err := url.Parse(r)
		if err == nil && u.Scheme == "http" && u.Hostname() == g.Hostname() && u.Path == g.Path {
			return true
		}
	}
	return false
}

func (m *MicrosoftIdentity) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tenant := r.PathValue("tenant")
	m.mu.Lock()
	defer m.mu.Unlock()
	app, e := m.lookup(tenant, q.Get("client_id"))
	if e != nil {
		m.writeError(w, e)
		return
	}
	redirect := q.Get("redirect_uri")
	if !msRedirectMatches(app.RedirectURIs, redirect) {
		m.writeError(w, msAADErr(400, "invalid_request", 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", redirect, app.ClientID))
		return
	}
	target, _ := url.Parse(redirect)
	back := target.Query()
	fail := func(e *msError) {
		back.Set("error", e.code)
		back.Set("error_description", e.Error())
		back.Set("state", q.Get("state"))
		target.RawQuery = back.Encode()
		http.Redirect(w, r, target.String(), http.StatusFound)
	}
	if rt := q.Get("response_type"); rt != "code" {
		fail(msAADErr(400, "unsupported_response_type", 900144, "The response_type '%s' is not supported; use 'code'.", rt))
		return
	}
	if e := msCheckDelegatedScope(app, q.Get("scope")); e != nil {
		fail(e)
		return
	}
	challenge := q.Get("code_challenge")
	if challenge != "" && q.Get("code_challenge_method") != "S256" {
		fail(msAADErr(400, "invalid_request", 501491, "Invalid code_challenge_method: only S256 is supported by this test server."))
		return
	}
	user := app.User
	if h := q.Get("login_hint"); h != "" {
		user = h
	}
	code := "0.A" + RandomToken(900)
	m.codes[code] = msCode{
		msGrant:     msGrant{tenant: tenant, clientID: app.ClientID, scope: q.Get("scope"), user: user},
		redirectURI: redirect,
		challenge:   challenge,
		expiry:      m.opts.Now().Add(10 * time.Minute),
	}
	back.Set("code", code)
	if s := q.Get("state"); s != "" {
		back.Set("state", s)
	}
	back.Set("session_state", msNewGUID())
	target.RawQuery = back.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

func (m *MicrosoftIdentity) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		m.writeError(w, msAADErr(400, "invalid_request", 900144, "The request body must be form-encoded: %v.", err))
		return
	}
	tenant := r.PathValue("tenant")
	m.mu.Lock()
	defer m.mu.Unlock()
	app, e := m.lookup(tenant, r.PostForm.Get("client_id"))
	if e != nil {
		m.writeError(w, e)
		return
	}
	scope := r.PostForm.Get("scope")
	if e := msCheckDelegatedScope(app, scope); e != nil {
		m.writeError(w, e)
		return
	}
	dc := "DAQABAAEAAAAm" + RandomToken(200)
	var uc string
	for {
		uc = strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(RandomToken(16)))
		if len(uc) >= 9 {
			uc = uc[:9]
			if _, dup := m.users[uc]; !dup {
				break
			}
		}
	}
	ttl := m.opts.DeviceCodeLifetime
	d := &msDevice{
		msGrant:  msGrant{tenant: tenant, clientID: app.ClientID, scope: scope, user: app.User},
		userCode: uc,
		expiry:   m.opts.Now().Add(ttl),
	}
	m.devices[dc] = d
	m.users[uc] = d
	verify := m.srv.URL + "/devicelogin"
	msWriteJSON(w, http.StatusOK, map[string]any{
		"user_code":        uc,
		"device_code":      dc,
		"verification_uri": verify,
		"expires_in":       int(ttl / time.Second),
		"interval":         m.opts.DeviceCodeInterval,
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, uc),
	})
}
