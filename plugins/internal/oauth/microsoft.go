package oauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// DefaultAuthority is the Microsoft identity platform of the global cloud.
// National clouds have their own (https://login.microsoftonline.us,
// https://login.chinacloudapi.cn).
const DefaultAuthority = "https://login.microsoftonline.com"

// ClientAssertionType is the client_assertion_type of a certificate
// credential.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid.
const assertionLifetime = 10 * time.Minute

// MicrosoftEndpoint returns the v2.0 endpoints of tenant under authority
// ("" = [DefaultAuthority]; a trailing slash is tolerated):
// {authority}/{tenant}/oauth2/v2.0/authorize, .../token and .../devicecode,
// with the client credentials sent in the form body.
func MicrosoftEndpoint(authority, tenant string) oauth2.Endpoint {
	authority = strings.TrimRight(authority, "/")
	if authority == "" {
		authority = DefaultAuthority
	}
	base := authority + "/" + url.PathEscape(tenant) + "/oauth2/v2.0/"
	return oauth2.Endpoint{
		AuthURL:       base + "authorize",
		TokenURL:      base + "token",
		DeviceAuthURL: base + "devicecode",
		AuthStyle:     oauth2.AuthStyleInParams,
	}
}

// MicrosoftApp is an app registration in Microsoft Entra ID that gets
// app-only tokens with the client-credentials grant.
type MicrosoftApp struct {
	// Authority is the identity platform's base URL; "" means
	// [DefaultAuthority].
	Authority string
	// Tenant is the directory (tenant) ID or a verified domain.
	Tenant string
	// ClientID is the application (client) ID.
	ClientID string
	// ClientSecret is the client secret's value. Set either it or
	// CertificateFile.
	ClientSecret string
	// CertificateFile is a PEM file with the certificate registered for
	// the app (the first CERTIFICATE block counts) and, if KeyFile is "",
	// its private key.
	CertificateFile string
	// KeyFile is a PEM file with the certificate's unencrypted RSA
	// private key (PKCS #1 "RSA PRIVATE KEY" or PKCS #8 "PRIVATE KEY").
	KeyFile string
	// Scopes are the scopes asked for, e.g.
	// https://outlook.office365.com/.default.
	Scopes []string
}

// Fetcher validates the app's settings and credential (exactly one of
// secret and certificate; the files readable; the key the certificate's)
// and returns a Fetcher for the client-credentials grant that uses hc.
//
// With a certificate, each fetch sends a fresh client assertion: an RS256
// JWT whose header carries x5t (the certificate's SHA-1 thumbprint) and
// whose claims are aud = the token URL, iss = sub = the client ID, a
// random jti, nbf = iat = now and exp = now + 10 minutes. The files are
// read once, here.
func (a MicrosoftApp) Fetcher(hc *http.Client) (Fetcher, error) {
	var missing []string
	if a.Tenant == "" {
		missing = append(missing, "tenant_id")
	}
	if a.ClientID == "" {
		missing = append(missing, "client_id")
	}
	if len(a.Scopes) == 0 {
		missing = append(missing, "scope")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("configure Microsoft app: %s not set", strings.Join(missing, ", "))
	}
	if a.Authority != "" {
		if u, err := url.Parse(a.Authority); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("configure Microsoft app: authority %q is not an https:// URL (such as %s)", a.Authority, DefaultAuthority)
		}
	}
	ep := MicrosoftEndpoint(a.Authority, a.Tenant)
	cc := clientcredentials.Config{
		ClientID:  a.ClientID,
		TokenURL:  ep.TokenURL,
		Scopes:    append([]string(nil), a.Scopes...),
		AuthStyle: oauth2.AuthStyleInParams,
	}
	op := fmt.Sprintf("get token for app %s in tenant %s", a.ClientID, a.Tenant)
	switch {
	case a.ClientSecret != "" && (a.CertificateFile != "" || a.KeyFile != ""):
		return nil, errors.New("configure Microsoft app: set either client_secret or client_certificate, not both")
	case a.ClientSecret != "":
		cc.ClientSecret = a.ClientSecret
		return func(ctx context.Context) (*oauth2.Token, error) {
			t, err := cc.Token(withClient(ctx, hc))
			if err != nil {
				return nil, wrapFetch(op, err)
			}
			return t, nil
		}, nil
	case a.CertificateFile == "" && a.KeyFile != "":
		return nil, errors.New("configure Microsoft app: client_key is set but client_certificate is not")
	case a.CertificateFile == "":
		return nil, errors.New("configure Microsoft app: set client_secret or client_certificate (with client_key)")
	}
	cert, key, err := loadCertificate(a.CertificateFile, a.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("configure Microsoft app: %w", err)
	}
	return func(ctx context.Context) (*oauth2.Token, error) {
		assertion, err := clientAssertion(cert, key, a.ClientID, ep.TokenURL, time.Now())
		if err != nil {
			return nil, wrapFetch(op, err)
		}
		c := cc
		c.EndpointParams = url.Values{
			"client_assertion_type": {ClientAssertionType},
			"client_assertion":      {assertion},
		}
		t, err := c.Token(withClient(ctx, hc))
		if err != nil {
			return nil, wrapFetch(op, err)
		}
		return t, nil
	}, nil
}

// loadCertificate reads the certificate from certFile and its RSA private
// key from keyFile, or from certFile if keyFile is "". Errors name the
// file and never quote its content.
func loadCertificate(certFile, keyFile string) (*x509.Certificate, *rsa.PrivateKey, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read client_certificate: %w", err)
	}
	var cert *x509.Certificate
	var keyBlock *pem.Block
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch {
		case blk.Type == "CERTIFICATE" && cert == nil:
			if cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
				return nil, nil, fmt.Errorf("read client_certificate %s: %w", certFile, err)
			}
		case strings.HasSuffix(blk.Type, "PRIVATE KEY") && keyBlock == nil:
			keyBlock = blk
		}
	}
	if cert == nil {
		return nil, nil, fmt.Errorf("read client_certificate %s: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", certFile)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("read client_certificate %s: the certificate's key is %T; Microsoft client assertions need an RSA key", certFile, cert.PublicKey)
	}
	if now := time.Now(); now.After(cert.NotAfter) {
		return nil, nil, fmt.Errorf("read client_certificate %s: the certificate expired on %s; create a new one and upload it to the app registration", certFile, cert.NotAfter.UTC().Format(time.DateOnly))
	}
	keyName := certFile
	if keyFile != "" {
		keyName = keyFile
		kb, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("read client_key: %w", err)
		}
		keyBlock = nil
		for rest := kb; keyBlock == nil; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if strings.HasSuffix(blk.Type, "PRIVATE KEY") {
				keyBlock = blk
			}
		}
	}
	if keyBlock == nil {
		if keyFile == "" {
			return nil, nil, fmt.Errorf("read client_certificate %s: no private key in it; set client_key to the key's file", certFile)
		}
		return nil, nil, fmt.Errorf("read client_key %s: no PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----) in it", keyFile)
	}
	key, err := parseRSAKey(keyBlock)
	if err != nil {
		return nil, nil, fmt.Errorf("read client_key %s: %w", keyName, err)
	}
	if !pub.Equal(&key.PublicKey) {
		return nil, nil, fmt.Errorf("read client_key %s: the key does not belong to the certificate in %s", keyName, certFile)
	}
	return cert, key, nil
}

// parseRSAKey parses an unencrypted PKCS #1 or PKCS #8 RSA private key.
func parseRSAKey(blk *pem.Block) (*rsa.PrivateKey, error) {
	if blk.Type == "ENCRYPTED PRIVATE KEY" || blk.Headers["Proc-Type"] != "" {
		return nil, errors.New("the private key is encrypted; store it unencrypted (openssl pkey -in KEY -out PLAIN.pem) in a file only tocsin can read")
	}
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS #1 private key: %w", err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse PKCS #8 private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the private key is %T; Microsoft client assertions need an RSA key", k)
		}
		return rk, nil
	default:
		return nil, fmt.Errorf("the key is a %q block; Microsoft client assertions need an RSA key (PRIVATE KEY or RSA PRIVATE KEY)", blk.Type)
	}
}

// clientAssertion returns a signed client assertion for the token URL aud.
func clientAssertion(cert *x509.Certificate, key *rsa.PrivateKey, clientID, aud string, now time.Time) (string, error) {
	thumb := sha1.Sum(cert.Raw)
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("make client assertion: %w", err)
	}
	header, err := json.Marshal(map[string]string{
		"alg": "RS256",
		"typ": "JWT",
		"x5t": base64.RawURLEncoding.EncodeToString(thumb[:]),
	})
	if err != nil {
		return "", fmt.Errorf("make client assertion: %w", err)
	}
	claims, err := json.Marshal(map[string]any{
		"aud": aud,
		"iss": clientID,
		"sub": clientID,
		"jti": hex.EncodeToString(jti[:]),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"exp": now.Add(assertionLifetime).Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("make client assertion: %w", err)
	}
	signed := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
