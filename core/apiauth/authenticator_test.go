package apiauth

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAuthenticator_Authenticate(t *testing.T) {
	must := mustCred(t)
	pinned := newCert(t, "partner", nil, false)
	other := newCert(t, "other", nil, false)
	a, err := NewAuthenticator([]Credential{
		must(NewToken("ops", RoleAdmin, adminSecret)),
		must(NewToken("prometheus", RoleRead, readSecret)),
		must(NewCertPin("partner", RolePeer, pinned.fingerprint())),
	})
	if err != nil {
		t.Fatal(err)
	}
	state := func(c testCert, verified bool) *tls.ConnectionState {
		st := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.cert}}
		if verified {
			st.VerifiedChains = [][]*x509.Certificate{{c.cert}}
		}
		return st
	}
	tests := []struct {
		name    string
		headers []string
		tls     *tls.ConnectionState
		want    Principal
		err     error
	}{
		{"nothing", nil, nil, Principal{}, ErrNoCredential},
		{"TLS without a client certificate", nil, &tls.ConnectionState{}, Principal{}, ErrNoCredential},
		{"bearer", []string{"Bearer " + adminSecret}, nil, Principal{"ops", RoleAdmin}, nil},
		{"bearer, spaces", []string{"  BEARER   " + readSecret + " "}, nil, Principal{"prometheus", RoleRead}, nil},
		{"basic", []string{basicAuth("x", readSecret)}, nil, Principal{"prometheus", RoleRead}, nil},
		{"basic, no user", []string{basicAuth("", adminSecret)}, nil, Principal{"ops", RoleAdmin}, nil},
		{"wrong bearer", []string{"Bearer " + wrongSecret}, nil, Principal{}, ErrBadCredential},
		{"empty bearer", []string{"Bearer"}, nil, Principal{}, ErrBadCredential},
		{"other scheme", []string{"Token " + adminSecret}, nil, Principal{}, ErrBadCredential},
		{"bare token", []string{adminSecret}, nil, Principal{}, ErrBadCredential},
		{"basic not base64", []string{"Basic " + adminSecret + "!"}, nil, Principal{}, ErrBadCredential},
		{"basic without colon", []string{"Basic " + "YWRtaW4="}, nil, Principal{}, ErrBadCredential},
		{"two headers", []string{"Bearer " + adminSecret, "Bearer " + adminSecret}, nil, Principal{}, ErrBadCredential},
		{"token decides over a pinned cert", []string{"Bearer " + wrongSecret}, state(pinned, false), Principal{}, ErrBadCredential},
		{"pinned cert", nil, state(pinned, false), Principal{"partner", RolePeer}, nil},
		{"other cert", nil, state(other, false), Principal{}, ErrBadCredential},
		{"other cert, verified, no CA credential", nil, state(other, true), Principal{}, ErrBadCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			r.TLS = tt.tls
			got, err := a.Authenticate(r)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Authenticate = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
			if err != nil {
				for _, s := range []string{adminSecret, readSecret, wrongSecret} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error %q holds a secret", err)
					}
				}
			}
		})
	}
}

func TestAuthenticator_Authenticate_verifiedClients(t *testing.T) {
	must := mustCred(t)
	pinned := newCert(t, "partner", nil, false)
	anyCert := newCert(t, "any", nil, false)
	a, err := NewAuthenticator([]Credential{
		must(NewCertPin("partner", RoleAdmin, pinned.fingerprint())),
		must(NewVerifiedClients("ca-clients", RoleRead)),
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cert     testCert
		verified bool
		want     Principal
		err      error
	}{
		{"verified", anyCert, true, Principal{"ca-clients", RoleRead}, nil},
		{"not verified", anyCert, false, Principal{}, ErrBadCredential},
		{"pinned and verified: the pin", pinned, true, Principal{"partner", RoleAdmin}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tt.cert.cert}}
			if tt.verified {
				r.TLS.VerifiedChains = [][]*x509.Certificate{{tt.cert.cert}}
			}
			got, err := a.Authenticate(r)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Authenticate = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	var entries []tokenEntry
	for i := range 5 {
		entries = append(entries, tokenEntry{sum: sha256.Sum256([]byte{byte(i)}), p: Principal{Name: fmt.Sprint(i)}})
	}
	for i := range entries {
		if p, ok := match(entries, entries[i].sum); !ok || p.Name != fmt.Sprint(i) {
			t.Errorf("match entry %d = %v, %v", i, p, ok)
		}
	}
	if _, ok := match(entries, sha256.Sum256([]byte("x"))); ok {
		t.Error("matched an unknown hash")
	}
	if _, ok := match(nil, sha256.Sum256([]byte("x"))); ok {
		t.Error("matched in an empty list")
	}
}

func BenchmarkAuthenticator_Authenticate(b *testing.B) {
	var creds []Credential
	for i := range 100 {
		c, err := NewToken(fmt.Sprintf("t%d", i), RoleRead, fmt.Sprintf("token-%02d-0123456789abcdef", i))
		if err != nil {
			b.Fatal(err)
		}
		creds = append(creds, c)
	}
	a, err := NewAuthenticator(creds)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, token string }{
		{"first", "token-00-0123456789abcdef"},
		{"last", "token-99-0123456789abcdef"},
		{"none", "token-xx-0123456789abcdef"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+bc.token)
			b.ReportAllocs()
			for b.Loop() {
				_, _ = a.Authenticate(r)
			}
		})
	}
}
