package identity

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// fingerprintPrefix starts every fingerprint that Fingerprint prints.
const fingerprintPrefix = "sha256:"

// fingerprintForm describes the accepted forms for error messages.
const fingerprintForm = `"sha256:" and 64 hex digits, as tocsin identity prints it ` +
	`(or 32 colon-separated hex pairs, AB:CD:..., as openssl x509 -noout -fingerprint -sha256 prints them)`

// Fingerprint returns the fingerprint of a certificate given as DER:
// "sha256:" and the 64 lowercase hex digits of its SHA-256.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return format(sum)
}

// FormatFingerprint prints a SHA-256 sum (from ParseFingerprint) as
// Fingerprint does, the form configurations keep.
func FormatFingerprint(sum [sha256.Size]byte) string { return format(sum) }

// format prints a SHA-256 sum as Fingerprint does.
func format(sum [sha256.Size]byte) string {
	return fingerprintPrefix + hex.EncodeToString(sum[:])
}

// ParseFingerprint reads a SHA-256 certificate fingerprint written as
// Fingerprint prints it, in upper or lower case, or as 32 colon-separated
// hex pairs (AB:CD:...), each with or without a "sha256:", "SHA256=" or
// "SHA256 Fingerprint=" prefix (the case of the prefix does not matter;
// surrounding white space is ignored). Anything else is an error that
// shows the expected form.
func ParseFingerprint(s string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	v := strings.TrimSpace(s)
	lower := strings.ToLower(v)
	for _, p := range []string{"sha256 fingerprint=", "sha256:", "sha256="} {
		if strings.HasPrefix(lower, p) {
			v = v[len(p):]
			break
		}
	}
	if strings.Contains(v, ":") {
		pairs := strings.Split(v, ":")
		for _, p := range pairs {
			if len(p) != 2 {
				return sum, parseError(s)
			}
		}
		v = strings.Join(pairs, "")
	}
	if len(v) != hex.EncodedLen(sha256.Size) {
		return sum, parseError(s)
	}
	if _, err := hex.Decode(sum[:], []byte(v)); err != nil {
		return sum, parseError(s)
	}
	return sum, nil
}

// parseError is ParseFingerprint's error for s.
func parseError(s string) error {
	const maxShown = 120
	if len(s) > maxShown {
		s = s[:maxShown] + "..."
	}
	return fmt.Errorf("parse fingerprint %q: want %s", s, fingerprintForm)
}

// FingerprintPEM returns the fingerprint of the first certificate in
// PEM data (a certificate file), for a command that shows what to pin.
func FingerprintPEM(data []byte) (string, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return "", errors.New("read certificate: no PEM CERTIFICATE block found")
		}
		if b.Type == "CERTIFICATE" {
			return Fingerprint(b.Bytes), nil
		}
	}
}

// PeerFingerprint returns the fingerprint of the certificate the other
// side of a connection presented (its leaf), and false when it presented
// none. The listener's authentication layer uses it to pin a client's
// identity: r.TLS for an HTTP request.
func PeerFingerprint(cs *tls.ConnectionState) (string, bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return "", false
	}
	return Fingerprint(cs.PeerCertificates[0].Raw), true
}
