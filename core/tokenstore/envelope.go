package tokenstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
)

// formatVersion is the version of the envelope that seal writes. open
// refuses other versions.
const formatVersion = 1

// envelope is the JSON content of a token file. encoding/json writes the
// byte slices as standard base64.
type envelope struct {
	Version    int    `json:"version"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// ErrWrongKey is returned (wrapped) when a token file does not decrypt:
// the key is not the one it was written with, the file was renamed from
// another transport, or its bytes were changed.
var ErrWrongKey = errors.New("wrong key or corrupted file")

// errUnknownVersion is returned (wrapped) by open for an envelope version
// it does not know.
var errUnknownVersion = errors.New("unknown format version")

// newAEAD returns AES-256-GCM under k. The result is safe for concurrent
// use.
func newAEAD(k Key) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext under aead with a fresh random nonce and
// additional data ad, and returns the JSON envelope.
func seal(aead cipher.AEAD, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	env := envelope{
		Version:    formatVersion,
		Nonce:      nonce,
		Ciphertext: aead.Seal(nil, nonce, plaintext, ad),
	}
	return json.Marshal(env)
}

// open decodes the JSON envelope data and decrypts it under aead with
// additional data ad. A failed authentication wraps ErrWrongKey; an
// envelope this version cannot read wraps errUnknownVersion.
func open(aead cipher.AEAD, data, ad []byte) ([]byte, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("not a token file: %w", err)
	}
	if env.Version != formatVersion {
		return nil, fmt.Errorf("%w %d (this tocsin reads version %d; was it written by a newer one?)", errUnknownVersion, env.Version, formatVersion)
	}
	if len(env.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("not a token file: nonce of %d bytes, want %d", len(env.Nonce), aead.NonceSize())
	}
	plain, err := aead.Open(nil, env.Nonce, env.Ciphertext, ad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return plain, nil
}
