package apiauth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MinTokenLen is the shortest token NewToken accepts, in bytes.
const MinTokenLen = 16

// tokenHint says how to make a good token.
const tokenHint = "make one with `openssl rand -hex 32`"

// kind says how a Credential is presented.
type kind int

const (
	kindNone     kind = iota // a Credential not made by a constructor
	kindToken                // a bearer token, by its SHA-256
	kindCertPin              // a client certificate, by the SHA-256 of its DER
	kindVerified             // any client certificate verified by the client CA
)

// Credential is one way in, with the role it grants. Make one with
// NewToken, NewTokenHash, NewCertPin or NewVerifiedClients; a Credential
// built by hand is refused by NewAuthenticator. It holds no secret: for a
// token, only its SHA-256.
type Credential struct {
	// Name identifies the credential in logs, errors and audit lines.
	Name string
	// Role is what a caller that presents the credential may do.
	Role Role

	kind kind
	sum  [sha256.Size]byte // the token's SHA-256, or the certificate's
}

// newCredential checks name and role, the parts every kind shares.
func newCredential(name string, role Role, k kind, sum [sha256.Size]byte) (Credential, error) {
	if strings.TrimSpace(name) == "" {
		return Credential{}, fmt.Errorf("make credential: the name is empty: give every credential a name for the logs")
	}
	if !role.valid() {
		return Credential{}, fmt.Errorf("make credential %q: role %v is not a role: use %s", name, role, validRoles)
	}
	return Credential{Name: name, Role: role, kind: k, sum: sum}, nil
}

// NewToken returns a bearer-token credential for secret. The secret is
// hashed at once and not kept. A secret shorter than MinTokenLen bytes is
// refused. The error never holds the secret.
func NewToken(name string, role Role, secret string) (Credential, error) {
	if len(secret) < MinTokenLen {
		return Credential{}, fmt.Errorf("make credential %q: the token is %d bytes, shorter than %d: %s", name, len(secret), MinTokenLen, tokenHint)
	}
	return newCredential(name, role, kindToken, sha256.Sum256([]byte(secret)))
}

// NewTokenHash returns a bearer-token credential from the hex SHA-256 of the
// token (64 hex digits, as `printf %s TOKEN | sha256sum` prints them), for an
// agent that only checks the token and so need not store it.
func NewTokenHash(name string, role Role, sha256Hex string) (Credential, error) {
	var sum [sha256.Size]byte
	b, err := hex.DecodeString(strings.TrimSpace(sha256Hex))
	if err != nil || len(b) != sha256.Size {
		return Credential{}, fmt.Errorf("make credential %q: the token hash is not 64 hex digits: give the SHA-256 of the token, as `printf %%s TOKEN | sha256sum` prints it", name)
	}
	copy(sum[:], b)
	return newCredential(name, role, kindToken, sum)
}

// NewCertPin returns a credential that matches a TLS client whose leaf
// certificate has the SHA-256 fingerprint (over its DER), whether or not
// the listener verified it against a CA.
func NewCertPin(name string, role Role, fingerprint [32]byte) (Credential, error) {
	if fingerprint == ([32]byte{}) {
		return Credential{}, fmt.Errorf("make credential %q: the certificate fingerprint is all zeros: give the SHA-256 of the client's certificate", name)
	}
	return newCredential(name, role, kindCertPin, fingerprint)
}

// NewVerifiedClients returns a credential that matches any TLS client whose
// certificate the listener verified against its client CA
// (r.TLS.VerifiedChains not empty). An Authenticator holds at most one.
func NewVerifiedClients(name string, role Role) (Credential, error) {
	return newCredential(name, role, kindVerified, [sha256.Size]byte{})
}

// String names the credential and its role, never its hash.
func (c Credential) String() string {
	return fmt.Sprintf("%q (%v)", c.Name, c.Role)
}
