package apiauth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewToken(t *testing.T) {
	tests := []struct {
		name, credName, secret string
		role                   Role
		errHas                 string // "" when no error is expected
	}{
		{"ok", "ops", "0123456789abcdef", RoleAdmin, ""},
		{"15 bytes", "ops", "0123456789abcde", RoleAdmin, "openssl rand -hex 32"},
		{"empty", "ops", "", RoleAdmin, "openssl rand -hex 32"},
		{"no name", " ", "0123456789abcdef", RoleAdmin, "name is empty"},
		{"no role", "ops", "0123456789abcdef", 0, "not a role"},
		{"role out of range", "ops", "0123456789abcdef", RoleAdmin + 1, "not a role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewToken(tt.credName, tt.role, tt.secret)
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("NewToken: %v", err)
				}
				if c.sum != sha256.Sum256([]byte(tt.secret)) || c.Name != tt.credName || c.Role != tt.role {
					t.Fatalf("NewToken = %+v", c)
				}
				if strings.Contains(c.String(), tt.secret) || strings.Contains(c.String(), hex.EncodeToString(c.sum[:])) {
					t.Errorf("String() %q shows the token or its hash", c.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("NewToken error = %v, want one with %q", err, tt.errHas)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}

func TestNewTokenHash(t *testing.T) {
	const secret = "a-token-of-enough-length"
	sum := sha256.Sum256([]byte(secret))
	good := hex.EncodeToString(sum[:])
	tests := []struct {
		name, hex string
		ok        bool
	}{
		{"lower", good, true},
		{"upper, newline", strings.ToUpper(good) + "\n", true},
		{"short", good[:62], false},
		{"long", good + "00", false},
		{"not hex", "zz" + good[2:], false},
		{"the token itself", secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewTokenHash("ops", RoleAdmin, tt.hex)
			if (err == nil) != tt.ok {
				t.Fatalf("NewTokenHash = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "sha256sum") {
					t.Errorf("error %q does not say how to make the hash", err)
				}
				return
			}
			tok, _ := NewToken("ops", RoleAdmin, secret)
			if c.sum != tok.sum {
				t.Errorf("NewTokenHash and NewToken disagree")
			}
		})
	}
}

func TestNewCertPin(t *testing.T) {
	if _, err := NewCertPin("peer", RolePeer, [32]byte{}); err == nil {
		t.Error("NewCertPin accepted an all-zero fingerprint")
	}
	c, err := NewCertPin("peer", RolePeer, [32]byte{1})
	if err != nil || c.kind != kindCertPin {
		t.Fatalf("NewCertPin = %+v, %v", c, err)
	}
	if _, err := NewVerifiedClients("", RoleRead); err == nil {
		t.Error("NewVerifiedClients accepted an empty name")
	}
}

func TestNewAuthenticator(t *testing.T) {
	tok := func(name, secret string) Credential {
		c, err := NewToken(name, RoleRead, secret)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pin := func(name string, b byte) Credential {
		c, err := NewCertPin(name, RolePeer, [32]byte{b})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(name string) Credential {
		c, err := NewVerifiedClients(name, RoleRead)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name   string
		creds  []Credential
		errHas string
	}{
		{"none", nil, ""},
		{"all kinds", []Credential{tok("a", "aaaaaaaaaaaaaaaa"), pin("b", 1), ca("c")}, ""},
		{"same name", []Credential{tok("a", "aaaaaaaaaaaaaaaa"), tok("a", "bbbbbbbbbbbbbbbb")}, `two credentials are named "a"`},
		{"same name, other kinds", []Credential{tok("a", "aaaaaaaaaaaaaaaa"), pin("a", 1)}, `two credentials are named "a"`},
		{"same token", []Credential{tok("a", "aaaaaaaaaaaaaaaa"), tok("b", "aaaaaaaaaaaaaaaa")}, "same token"},
		{"same pin", []Credential{pin("a", 1), pin("b", 1)}, "same certificate fingerprint"},
		{"two CA credentials", []Credential{ca("a"), ca("b")}, "both accept any verified client certificate"},
		{"made by hand", []Credential{{Name: "x", Role: RoleAdmin}}, "was not made by NewToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewAuthenticator(tt.creds)
			if tt.errHas == "" {
				if err != nil {
					t.Fatalf("NewAuthenticator: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("NewAuthenticator error = %v, want one with %q", err, tt.errHas)
			}
			if strings.Contains(err.Error(), "aaaaaaaaaaaaaaaa") {
				t.Errorf("error %q holds a secret", err)
			}
		})
	}
}

func TestNewAuthenticator_options(t *testing.T) {
	for name, o := range map[string]Option{
		"nil audit":       WithAudit(nil),
		"nil clock":       WithClock(nil),
		"zero failures":   WithFailureLimit(0, 1),
		"negative window": WithFailureLimit(1, -1),
	} {
		if _, err := NewAuthenticator(nil, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
