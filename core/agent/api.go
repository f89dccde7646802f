package agent

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/identity"
	"github.com/tocsin-dev/tocsin/core/peersync"
	"github.com/tocsin-dev/tocsin/core/server"
)

// apiSecurity is how the agent's API is guarded: who may call it, with
// which role, and the TLS it is served with. A part that cannot be set up
// (a token file gone unreadable, an identity whose key is too open) is
// left out and named in problems: the agent still evaluates and mails,
// and /healthz says it is degraded.
type apiSecurity struct {
	auth *apiauth.Authenticator
	// tls is nil for plain HTTP (loopback, or insecure_plain_http).
	tls *tls.Config
	// id is the listener's identity; nil without TLS.
	id *identity.Identity
	// serve is false when the listener must not be served: TLS is
	// required and the identity could not be loaded.
	serve    bool
	problems []string
}

// plainOnNetwork reports whether a's listener serves plain HTTP on an
// address other than loopback: what insecure_plain_http allows.
func plainOnNetwork(a config.Agent) bool {
	if !a.InsecurePlainHTTP || a.ServesTLS() {
		return false
	}
	listen := a.Listen
	if listen == "" {
		listen = config.DefaultListen
	}
	host, _, err := net.SplitHostPort(listen)
	return err != nil || !facts.LoopbackHost(host)
}

// routeRoles maps the API's route patterns to the role they need; a
// route not listed needs admin.
var routeRoles = map[string]apiauth.Role{
	"GET /metrics":   apiauth.RoleRead,
	"GET /v1/status": apiauth.RoleRead,
	// A partner's stop notice: the handler takes the peer role only.
	"POST " + facts.StopNoticePath: apiauth.RolePeer,
	// The settings with their secrets: the peer role only (its handler
	// refuses admin, and plain HTTP).
	"GET " + peersync.Path: apiauth.RolePeer,
}

// routeRole returns the role the route pattern needs.
func routeRole(pattern string) apiauth.Role {
	if r, ok := routeRoles[pattern]; ok {
		return r
	}
	return apiauth.RoleAdmin
}

// newAPISecurity builds the credentials and the TLS of the API from cfg:
// the credential blocks, each peer's pinned identity (the peer role), and
// the local admin token in data_dir for the tocsin command on this host.
func newAPISecurity(cfg *config.Config, logger hclog.Logger) apiSecurity {
	s := apiSecurity{serve: true}
	var (
		creds []apiauth.Credential
		local []apiauth.Credential // the local admin token alone
	)
	add := func(c apiauth.Credential, err error, what string) {
		if err != nil {
			s.problems = append(s.problems, fmt.Sprintf("%s is not accepted: %v", what, err))
			return
		}
		creds = append(creds, c)
	}
	if secret, err := apiauth.EnsureLocalToken(cfg.Agent.DataDir); err != nil {
		s.problems = append(s.problems, fmt.Sprintf("the local admin token (%s) cannot be made: %v; the tocsin command on this host cannot reach the agent's API", apiauth.LocalTokenPath(cfg.Agent.DataDir), err))
	} else {
		c, err := apiauth.NewToken(apiauth.LocalCredentialName, apiauth.RoleAdmin, secret)
		add(c, err, "the local admin token")
		if err == nil {
			local = []apiauth.Credential{c}
		}
	}
	pinned := map[string]bool{} // fingerprints with a credential already
	for _, c := range cfg.Credentials {
		what := fmt.Sprintf("credential %q", c.Name)
		switch {
		case c.TokenFile != "":
			secret, err := apiauth.ReadSecretFile(c.TokenFile)
			if err != nil {
				add(apiauth.Credential{}, err, what)
				continue
			}
			cr, err := apiauth.NewToken(c.Name, c.Role, secret)
			add(cr, err, what)
		case c.TokenEnv != "":
			secret := os.Getenv(c.TokenEnv)
			if secret == "" {
				add(apiauth.Credential{}, fmt.Errorf("the environment variable %s is not set", c.TokenEnv), what)
				continue
			}
			cr, err := apiauth.NewToken(c.Name, c.Role, secret)
			add(cr, err, what)
		case c.TokenSHA256 != "":
			cr, err := apiauth.NewTokenHash(c.Name, c.Role, c.TokenSHA256)
			add(cr, err, what)
		case c.Fingerprint != "":
			fp, err := identity.ParseFingerprint(c.Fingerprint)
			if err != nil {
				add(apiauth.Credential{}, err, what)
				continue
			}
			pinned[identity.FormatFingerprint(fp)] = true
			cr, err := apiauth.NewCertPin(c.Name, c.Role, fp)
			add(cr, err, what)
		case c.VerifiedClient:
			cr, err := apiauth.NewVerifiedClients(c.Name, c.Role)
			add(cr, err, what)
		}
	}
	// A peer whose identity this agent pins may read its status: the
	// same fingerprint authenticates the partner in both directions.
	for _, p := range cfg.Peers {
		if p.Spec.Peer == nil || p.Spec.Peer.Fingerprint == "" {
			continue
		}
		fp, err := identity.ParseFingerprint(p.Spec.Peer.Fingerprint)
		if err != nil {
			add(apiauth.Credential{}, err, fmt.Sprintf("peer %q", p.Name))
			continue
		}
		if key := identity.FormatFingerprint(fp); !pinned[key] {
			// A credential block for the same certificate decides its
			// role; else the peer role.
			pinned[key] = true
			cr, err := apiauth.NewCertPin("peer "+p.Name, apiauth.RolePeer, fp)
			add(cr, err, fmt.Sprintf("peer %q", p.Name))
		}
	}
	auth, err := apiauth.NewAuthenticator(creds, apiauth.WithAudit(logger.Named("api")))
	if err != nil {
		// Only the local token then: the configuration is at fault.
		s.problems = append(s.problems, fmt.Sprintf("the API's credentials conflict (%v); only this host's tocsin command is accepted", err))
		auth, _ = apiauth.NewAuthenticator(local, apiauth.WithAudit(logger.Named("api")))
	}
	s.auth = auth
	if cfg.Agent.ServesTLS() {
		id, err := identity.Load(cfg.Agent.DataDir, cfg.Agent.TLSCertFile, cfg.Agent.TLSKeyFile)
		if err == nil {
			s.tls, err = identity.ServerConfig(id, cfg.Agent.TLSClientCAFile)
		}
		if err != nil {
			s.serve = false
			s.problems = append(s.problems, fmt.Sprintf("the API on %s is not served: its TLS identity cannot be used: %v", cfg.Agent.Listen, err))
		} else {
			s.id = id
			if id.Created() {
				logger.Info("a new TLS identity was created for this agent: pin it on the partner (peer_fingerprint)", "fingerprint", id.Fingerprint(), "cert", id.CertFile())
			}
		}
	}
	return s
}

// handlers returns what the server is given to guard the API: the
// credential check of each route, the full /healthz for callers with a
// credential, and /v1/status without secrets for the read role. auth is
// read at each request, so that a reload's credentials apply at once.
func (s apiSecurity) handlers(h server.Handlers, auth *atomic.Pointer[apiauth.Authenticator], status func(reader bool) Status) server.Handlers {
	h.TLS = s.tls
	h.Guard = func(pattern string, next http.Handler) http.Handler {
		role := routeRole(pattern)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth.Load().Require(role, next).ServeHTTP(w, r)
		})
	}
	h.FullHealth = func(r *http.Request) bool {
		_, err := auth.Load().Authenticate(r)
		return err == nil
	}
	h.Status = nil
	h.StatusFor = func(r *http.Request) any {
		if p, ok := apiauth.PrincipalFrom(r.Context()); ok && p.Role >= apiauth.RolePeer {
			return status(false)
		}
		return status(true).forReader()
	}
	return h
}

// forReader returns s (built with its Rules, not rulesJSON) as the read
// role sees it: what a monitoring system
// needs, without what could help an attacker or tells who is notified:
// no addresses, no error texts (a command check's stderr, a provider's
// reply), no remedies.
func (s Status) forReader() Status {
	s.Node.SharedIPs, s.Node.TestIPs = nil, nil
	rules := make([]engine.RuleStatus, len(s.Rules))
	for i, r := range s.Rules {
		if r.Error != "" {
			r.Error = "(error hidden from the read role)"
		}
		rules[i] = r
	}
	s.Rules = rules
	checks := make(map[string]engine.CheckStatus, len(s.Checks))
	for name, c := range s.Checks {
		if c.Error != "" {
			c.Error = "(error hidden from the read role)"
		}
		checks[name] = c
	}
	s.Checks = checks
	if s.Settings != nil {
		st := *s.Settings
		st.Error = hideIf(st.Error)
		s.Settings = &st
	}
	d := s.Delivery
	d.Error = hideIf(d.Error)
	if d.StoreFailing != nil {
		sf := *d.StoreFailing
		sf.LastError, sf.Remedy = hideIf(sf.LastError), ""
		d.StoreFailing = &sf
	}
	ts := make(map[string]TransportDelivery, len(d.Transports))
	for name, t := range d.Transports {
		t.Error, t.Remedy = hideIf(t.Error), ""
		if t.Failing != nil {
			f := *t.Failing
			f.LastError = hideIf(f.LastError)
			t.Failing = &f
		}
		ts[name] = t
	}
	d.Transports = ts
	s.Delivery = d
	s.Silences = silencesForReader(s.Silences)
	return s
}

// hideIf replaces a non-empty error text for the read role.
func hideIf(s string) string {
	if strings.TrimSpace(s) == "" {
		return s
	}
	return "(error hidden from the read role)"
}
