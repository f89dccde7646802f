// Package identity gives the agent a TLS identity (a key and a
// certificate) for its listener and the peer link, and the TLS settings
// that use it, without a PKI: the partner pins the SHA-256 fingerprint of
// the certificate, the way SSH pins a host key.
//
// # Where the identity comes from
//
// [Load] takes the operator's cert_file and key_file (PEM) when both are
// given. Otherwise it uses data_dir/tls/agent.crt and data_dir/tls/agent.key
// and generates them on first use: an ECDSA P-256 key and a self-signed
// certificate valid for 20 years, for server and client authentication.
// The names in it do not matter; the fingerprint does.
//
// A private key file that its group or others can read is refused with an
// error that names the file, its mode and the fix (chmod 600 FILE).
//
// # Generation is atomic
//
// Each generated file is written to a temporary file in the same
// directory (mode 0600), flushed, then hard-linked to its final name, so
// that the file appears complete or not at all and an existing one is
// never replaced. The key is published first, then a certificate made
// from whatever key is there; every caller re-reads both. Several
// processes starting at once therefore end with one pair that all of
// them use, and a crash between the two leaves a key whose certificate
// the next start makes. A certificate without its key is an error, never
// silently replaced: a new identity must be pinned again by the partner.
//
// # Fingerprints
//
// [Fingerprint] prints "sha256:" and 64 lowercase hex digits of the
// SHA-256 of the certificate's DER, what `tocsin identity` shows.
// [ParseFingerprint] also accepts upper case and the colon-separated pairs
// that `openssl x509 -noout -fingerprint -sha256` prints.
//
// # TLS settings
//
// [ServerConfig] serves the identity and asks for (but does not require)
// a client certificate, so that the authentication layer can pin a peer's
// own identity ([PeerFingerprint]). [ClientConfig] is the peer link's: it
// accepts exactly the pinned server certificate (a mismatch is a
// [*PinError]) or verifies against a CA, and presents the agent's own
// identity.
package identity
