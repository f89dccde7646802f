package notify

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
)

// NewMessageID returns a new Message-ID (without angle brackets) for mail
// from node: a time stamp and 80 random bits, then "@" and the node name
// made safe for a Message-ID. The agent assigns it once and keeps it for
// every retry, so a reader can recognise a duplicate.
func NewMessageID(node string, now time.Time) string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	r := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	return now.UTC().Format("20060102T150405Z") + "." + r + "@" + idDomain(node)
}

// idDomain keeps the letters, digits, dots and hyphens of node.
func idDomain(node string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		default:
			return -1
		}
	}, node)
	if s == "" {
		return "tocsin.invalid"
	}
	return s
}
