package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// TestWriteCredentials: validate prints each transport's known
// credential, in the configuration's order, and nothing when none is
// known.
func TestWriteCredentials(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	cfg := &config.Config{Transports: []*config.Transport{{Name: "relay"}, {Name: "graph"}, {Name: "plain"}, {Name: "old"}}}
	for _, tt := range []struct {
		name  string
		facts map[string]rules.CredentialFact
		want  string
	}{
		{name: "none known", facts: map[string]rules.CredentialFact{"plain": {}}, want: ""},
		{name: "each kind", facts: map[string]rules.CredentialFact{
			"graph": {Expires: now.Add(5*24*time.Hour + time.Hour), Source: rules.CredentialCertificate, What: "client certificate /etc/tocsin/graph.pem (CN=tocsin)"},
			"relay": {Source: rules.CredentialLogin, What: "stored login", ObtainedAt: now.Add(-48 * time.Hour), RefreshedAt: now.Add(-time.Hour)},
			"plain": {},
			"old":   {Expires: now.Add(-72 * time.Hour), Source: rules.CredentialSecret, What: "client secret"},
		}, want: "Credentials (credential.NAME in rules; credential_expiring warns 30, 7 and 1 day ahead):\n" +
			"  relay: stored login; login obtained 2026-12-03T10:00:00Z, last rotated 2026-12-05T09:00:00Z\n" +
			"  graph: client certificate /etc/tocsin/graph.pem (CN=tocsin) expires 2026-12-10T11:00:00Z (5 days left; from certificate)\n" +
			"  old: client secret expired 2026-12-02T10:00:00Z (3 days ago; from client_secret_expires)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeCredentials(&b, cfg, tt.facts, now)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
