// Package apiauth authenticates the callers of the agent's HTTP API and
// checks their role.
//
// # Roles
//
// Three roles, ordered RoleRead < RolePeer < RoleAdmin; a higher role may
// do all that a lower one may:
//   - read: /metrics and /v1/status without anything secret, what a
//     Prometheus server needs;
//   - peer: the partner node: the status in full (later the settings it
//     syncs, secrets included); never given to a scraper;
//   - admin: the outbox (list, show, retry, drop), reload, and anything that
//     changes state or shows who is notified of what.
//
// # Credentials
//
// A Credential has a Name (shown in logs and errors, never the secret) and
// a Role, and is one of:
//   - a bearer token, of which only the SHA-256 is kept (NewToken,
//     NewTokenHash), sent as "Authorization: Bearer TOKEN" or as the
//     password of HTTP basic auth (any user name; Prometheus' basic_auth);
//   - a client certificate pinned by the SHA-256 of its DER (NewCertPin);
//   - any client certificate that the TLS listener verified against its
//     client CA (NewVerifiedClients).
//
// An Authenticator checks a request against all of them (Authenticate) and
// guards handlers (Require): 401 for no or a wrong credential, 403 for a
// role too low, 429 once a client address has failed too often; every
// answer is JSON that says what to do. Tokens are compared in constant time
// against every configured hash, so that timing does not tell which one
// matched. No error, log line or answer holds a secret.
//
// The local CLI authenticates with an admin token kept in data_dir
// (EnsureLocalToken), so that the caller's address is never the
// credential.
package apiauth
