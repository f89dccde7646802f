package apiauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// seeDocs ends every error answer.
const seeDocs = "(see README, Security)"

// Require returns a handler that serves h only to a request whose
// credential has role or a higher one, with the Principal in its context
// (PrincipalFrom). Other requests get a JSON answer {"error": "..."} that
// says what to do:
//   - 401 with WWW-Authenticate: Bearer realm="tocsin" for no or a wrong
//     credential;
//   - 403 for a role too low;
//   - 429 with Retry-After, before any check, for a client address that
//     has failed too often lately (see WithFailureLimit).
//
// A role that is not one of the three is taken as RoleAdmin (fail closed).
func (a *Authenticator) Require(role Role, h http.Handler) http.Handler {
	if !role.valid() {
		role = RoleAdmin
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := a.now()
		key, limited := clientKey(r.RemoteAddr)
		if limited {
			if wait, ok := a.limits.blocked(key, now); ok {
				secs := int((wait + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many failed authentication attempts from this address: retry in %d s with a valid credential %s", secs, seeDocs))
				return
			}
		}
		p, err := a.Authenticate(r)
		if err != nil {
			msg := fmt.Sprintf("this endpoint needs a credential with the %v role: send Authorization: Bearer TOKEN, or basic auth with the token as the password, or a trusted client certificate %s", role, seeDocs)
			if errors.Is(err, ErrBadCredential) {
				msg = "the credential was not accepted; " + msg
				if limited {
					a.limits.fail(key, now)
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin"`)
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		if p.Role < role {
			writeError(w, http.StatusForbidden, fmt.Sprintf("the credential %q has the %v role; this endpoint needs %v: use a credential with the %v role %s", p.Name, p.Role, role, role, seeDocs))
			return
		}
		if role == RoleAdmin && a.audit != nil {
			a.audit.Info("admin request", "credential", p.Name, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		}
		h.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// writeError writes {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

// principalKey is the context key of the Principal.
type principalKey struct{}

// NewContext returns a copy of ctx that carries p, as Require passes it to
// its handler (and as tests of handlers behind Require may).
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal that Require put in ctx, and whether
// there is one.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
