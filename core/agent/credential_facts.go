package agent

import (
	"context"
	"crypto/sha1" //nolint:gosec // the certificate's thumbprint, as the portal shows it
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// loginRefresh is how often the variable credential reads the token store
// again for the times of the stored logins.
const loginRefresh = time.Minute

// CertificateExpiry reads the first certificate of the PEM file path and
// returns its NotAfter and a name for it: "client certificate PATH
// (CN=..., thumbprint ...)", the thumbprint being the SHA-1 that the
// provider's portal lists.
func CertificateExpiry(path string) (time.Time, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("read client certificate: %w", err)
	}
	for rest := data; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return time.Time{}, "", fmt.Errorf("read client certificate %s: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", path)
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return time.Time{}, "", fmt.Errorf("read client certificate %s: %w", path, err)
		}
		sum := sha1.Sum(cert.Raw) //nolint:gosec // a thumbprint, not a signature
		what := fmt.Sprintf("client certificate %s (", path)
		if cn := cert.Subject.CommonName; cn != "" {
			what += "CN=" + cn + ", "
		}
		what += "thumbprint " + strings.ToUpper(hex.EncodeToString(sum[:])) + ")"
		return cert.NotAfter.UTC(), what, nil
	}
}

// transportCredential is what the configuration says of tc's credential:
// its client certificate's NotAfter, else its client_secret_expires. The
// error says why a certificate named could not be read.
func transportCredential(tc *config.Transport) (rules.CredentialFact, error) {
	var f rules.CredentialFact
	var certErr error
	if path := tc.CertificateFile(); path != "" {
		exp, what, err := CertificateExpiry(path)
		if err == nil {
			f = rules.CredentialFact{Expires: exp, Source: rules.CredentialCertificate, What: what}
		}
		certErr = err
	}
	if !tc.ClientSecretExpires.IsZero() && (f.Expires.IsZero() || tc.ClientSecretExpires.Before(f.Expires)) {
		f = rules.CredentialFact{Expires: tc.ClientSecretExpires, Source: rules.CredentialSecret, What: "client secret"}
	}
	return f, certErr
}

// credentialWatch keeps the variable credential: each transport's
// credential as the configuration says it (read at start and at each
// reload), and the times of its stored login (read from the token store
// at most every loginRefresh). The token store is read only when a login
// is stored; it is never written here.
type credentialWatch struct {
	logger hclog.Logger
	// logins lists the stored logins; nil reads none.
	logins func() ([]tokenstore.Status, error)
	// plugin returns what a transport's plugin reported of its
	// credential's lifetime; nil asks none.
	plugin func(transport string) *sdk.CredentialLifetime

	mu       sync.Mutex
	static   map[string]rules.CredentialFact // by transport, from the configuration
	names    []string                        // the configured transports
	login    map[string]tokenstore.Status
	loginAt  time.Time // when login was read; zero: read at the next call
	loginErr string    // the last error reading it, logged once
}

// newCredentialWatch returns the watch of cfg's transports.
func newCredentialWatch(cfg *config.Config, logins func() ([]tokenstore.Status, error), logger hclog.Logger) *credentialWatch {
	w := &credentialWatch{logger: logger, logins: logins}
	w.configure(cfg)
	return w
}

// configure reads what cfg says of each transport's credential (at start
// and at each reload: a renewed certificate is read then), and the
// stored logins again at the next call.
func (w *credentialWatch) configure(cfg *config.Config) {
	static := map[string]rules.CredentialFact{}
	var names []string
	for _, tc := range cfg.Transports {
		names = append(names, tc.Name)
		f, err := transportCredential(tc)
		if err != nil {
			w.logger.Warn("the client certificate's expiry cannot be read; credential_expiring cannot warn of it", "transport", tc.Name, "error", err,
				"fix", "point client_certificate at the PEM file of the certificate uploaded to the app registration")
		}
		static[tc.Name] = f
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.static, w.names, w.loginAt = static, names, time.Time{}
}

// Facts returns each configured transport's credential at now.
func (w *credentialWatch) Facts(now time.Time) map[string]rules.CredentialFact {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.logins != nil && (w.loginAt.IsZero() || now.Sub(w.loginAt) >= loginRefresh || now.Before(w.loginAt)) {
		w.loginAt = now
		list, err := w.logins()
		switch {
		case err != nil && err.Error() != w.loginErr:
			w.logger.Warn("the stored logins cannot be read for the variable credential", "error", err)
			w.loginErr = err.Error()
		case err == nil:
			w.loginErr = ""
		}
		if err == nil || len(list) > 0 {
			w.login = map[string]tokenstore.Status{}
			for _, st := range list {
				w.login[st.Transport] = st
			}
		}
	}
	out := make(map[string]rules.CredentialFact, len(w.names))
	for _, name := range w.names {
		f := w.static[name]
		if w.plugin != nil {
			if l := w.plugin(name); l != nil && !l.Expires.IsZero() && (f.Expires.IsZero() || l.Expires.Before(f.Expires)) {
				f = rules.CredentialFact{Expires: l.Expires.UTC(), Source: rules.CredentialPlugin, What: l.What}
				if f.What == "" {
					f.What = "credential"
				}
			}
		}
		if st, ok := w.login[name]; ok {
			f.ObtainedAt, f.RefreshedAt = st.ObtainedAt, st.RefreshedAt
			if f.Source == "" {
				f.Source, f.What = rules.CredentialLogin, "stored login"
			}
		}
		out[name] = f
	}
	return out
}

// Value returns the variable credential at now.
func (w *credentialWatch) Value(now time.Time) cty.Value {
	return rules.CredentialsValue(w.Facts(now), now)
}

// CredentialStatus is a transport's credential in /v1/status, as rules
// read it (credential.NAME); null where unknown.
type CredentialStatus struct {
	Expires     *time.Time `json:"expires"`
	DaysLeft    *int       `json:"days_left"`
	Source      *string    `json:"source"`
	What        *string    `json:"what"`
	ObtainedAt  *time.Time `json:"obtained_at"`
	RefreshedAt *time.Time `json:"refreshed_at"`
}

// NewCredentialStatus is f at now, for /v1/status and tocsin validate.
func NewCredentialStatus(f rules.CredentialFact, now time.Time) CredentialStatus {
	var st CredentialStatus
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	st.Expires, st.ObtainedAt, st.RefreshedAt = at(f.Expires), at(f.ObtainedAt), at(f.RefreshedAt)
	st.Source, st.What = str(f.Source), str(f.What)
	if n, ok := f.DaysLeft(now); ok {
		st.DaysLeft = &n
	}
	return st
}

// credentialStatus is /v1/status's credentials: each configured
// transport's.
func (a *Agent) credentialStatus() map[string]CredentialStatus {
	w := a.credentials.Load()
	if w == nil {
		return map[string]CredentialStatus{}
	}
	now := a.now()
	out := map[string]CredentialStatus{}
	for name, f := range w.Facts(now) {
		out[name] = NewCredentialStatus(f, now)
	}
	return out
}

// CredentialFacts returns what the agent knows of the credential of each
// of cfg's transports at now, as rules read it (the variable credential),
// with what the plugins of ts reported: for tocsin validate. logger is
// told what cannot be read.
func CredentialFacts(cfg *config.Config, ts Transports, now time.Time, logger hclog.Logger) map[string]rules.CredentialFact {
	w := newCredentialWatch(cfg, NewTokenStore(cfg.Agent).List, logger)
	w.plugin = func(name string) *sdk.CredentialLifetime {
		if t := ts[name]; t != nil {
			return t.lifetime
		}
		return nil
	}
	return w.Facts(now)
}

// reportedLifetime asks a configured plugin when its credential expires
// (sdk.CredentialReporter): nil when it does not say.
func reportedLifetime(ctx context.Context, p sdk.Transport, tc *config.Transport, logger hclog.Logger) *sdk.CredentialLifetime {
	r, ok := p.(sdk.CredentialReporter)
	if !ok {
		return nil
	}
	l, err := r.CredentialLifetime(ctx)
	if err != nil {
		logger.Warn("the plugin cannot say when the transport's credential expires", "transport", tc.Name, "error", err)
		return nil
	}
	return l
}

// pluginLifetime is what the plugin of the running transport name
// reported of its credential's lifetime, nil when it is not up or said
// nothing.
func (a *Agent) pluginLifetime(name string) *sdk.CredentialLifetime {
	lt := a.current().transports[name]
	if lt == nil {
		return nil
	}
	if t, _ := lt.current(); t != nil {
		return t.lifetime
	}
	return nil
}
