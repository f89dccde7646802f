package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ServerConfig returns the TLS settings of the agent's listener: TLS 1.2
// at least, id as the certificate. Without clientCAFile a client may
// present a certificate, which is not verified (tls.RequestClientCert):
// the authentication layer pins it ([PeerFingerprint]). With clientCAFile
// (PEM, one or more CA certificates), a certificate a client presents
// must verify against those CAs (tls.VerifyClientCertIfGiven); a client
// may still present none.
func ServerConfig(id *Identity, clientCAFile string) (*tls.Config, error) {
	if id == nil {
		return nil, errors.New("make TLS server settings: no identity")
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{id.cert},
		ClientAuth:   tls.RequestClientCert,
	}
	if clientCAFile != "" {
		pool, err := loadPool(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("make TLS server settings: client CA: %w", err)
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// ClientConfig returns the TLS settings of the peer link, which reads the
// partner's API. Exactly one of pin and caFile is given:
//
//   - pin, a fingerprint in any form ParseFingerprint reads: the partner
//     is accepted when the certificate it presents (its leaf) has that
//     fingerprint, whatever its names, issuer or dates; otherwise the
//     handshake fails with a [*PinError].
//   - caFile (PEM): the partner's certificate chain is verified against
//     those CAs, and its names against the host dialled, as usual.
//
// With neither, or both, it is an error. When own is not nil, it is
// presented as the client certificate, so that the partner can
// authenticate this agent.
func ClientConfig(pin, caFile string, own *Identity) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if own != nil {
		cfg.Certificates = []tls.Certificate{own.cert}
	}
	switch {
	case pin != "" && caFile != "":
		return nil, errors.New("make TLS client settings: set either the partner's pinned fingerprint or a CA file, not both")
	case pin != "":
		want, err := ParseFingerprint(pin)
		if err != nil {
			return nil, fmt.Errorf("make TLS client settings: %w", err)
		}
		// The chain is not verified against any CA: the pin is the
		// trust. crypto/tls still checks that the partner holds the
		// private key of the certificate it presents.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = pinVerifier(want)
	case caFile != "":
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("make TLS client settings: CA: %w", err)
		}
		cfg.RootCAs = pool
	default:
		return nil, errors.New("make TLS client settings: no way to verify the partner: pin its fingerprint (tocsin identity on the partner prints it) or give the CA file that signed its certificate")
	}
	return cfg, nil
}

// pinVerifier returns a tls.Config.VerifyConnection that accepts only a
// leaf certificate whose SHA-256 is want. It runs on every handshake,
// resumed ones included.
func pinVerifier(want [sha256.Size]byte) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &PinError{Want: format(want)}
		}
		got := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return &PinError{Got: format(got), Want: format(want)}
		}
		return nil
	}
}

// PinError is the peer link's handshake error when the partner's
// certificate is not the pinned one. Callers tell it apart with
// errors.As, through the wrapping of net/http.
type PinError struct {
	// Got is the fingerprint of the certificate the partner presented
	// (as Fingerprint prints it), or "" when it presented none.
	Got string
	// Want is the pinned fingerprint, as Fingerprint prints it.
	Want string
}

// Error says what did not match and what to do.
func (e *PinError) Error() string {
	const fix = "if the partner's identity changed on purpose, pin the new one (tocsin identity on the partner prints it)"
	if e.Got == "" {
		return fmt.Sprintf("the partner presented no certificate; the pinned fingerprint is %s: %s", e.Want, fix)
	}
	return fmt.Sprintf("the partner presented certificate %s ; the pinned fingerprint is %s: %s", e.Got, e.Want, fix)
}

// loadPool reads the PEM certificates in name into a pool.
func loadPool(name string) (*x509.CertPool, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("read CA file %s: no PEM certificate in it", name)
	}
	return pool, nil
}
