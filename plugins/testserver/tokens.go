package testserver

import (
	"crypto/rand"
	"encoding/base64"
)

// RandomToken returns an opaque token of exactly n characters from the
// base64url alphabet (A-Z, a-z, 0-9, '-', '_'), drawn from crypto/rand. Use
// it for bearer tokens of realistic size: real Microsoft and Google access
// tokens are 1.5–3 KB and more, so tests should use at least 4096. n <= 0
// gives "".
func RandomToken(n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, base64.RawURLEncoding.DecodedLen(n)+3)
	// crypto/rand.Read never returns an error (Go 1.24+).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
