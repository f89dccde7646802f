package identity

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

// opensslFingerprint is what `openssl x509 -in testdata/openssl.crt
// -noout -fingerprint -sha256` printed for the fixture, a certificate
// made by openssl req.
const opensslFingerprint = "sha256 Fingerprint=7C:3B:AD:22:C8:8E:FF:4B:66:F4:90:67:18:AC:DB:72:56:F7:B3:F7:23:CB:A8:50:3A:5C:25:77:6F:C7:9B:58"

// fixtureFingerprint is the same in the form Fingerprint prints.
const fixtureFingerprint = "sha256:7c3bad22c88eff4b66f4906718acdb7256f7b3f723cba8503a5c25776fc79b58"

// fixtureDER returns the DER of testdata/openssl.crt.
func fixtureDER(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/openssl.crt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatal("testdata/openssl.crt holds no certificate")
	}
	return b.Bytes
}

func TestFingerprint(t *testing.T) {
	der := fixtureDER(t)
	if got := Fingerprint(der); got != fixtureFingerprint {
		t.Errorf("Fingerprint = %s, want %s (openssl's)", got, fixtureFingerprint)
	}
	sum := sha256.Sum256(der)
	if got, want := Fingerprint(der), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	parsed, err := ParseFingerprint(opensslFingerprint)
	if err != nil {
		t.Fatalf("ParseFingerprint(openssl's line): %v", err)
	}
	if parsed != sum {
		t.Errorf("ParseFingerprint(openssl's line) = %x, want %x", parsed, sum)
	}
}

func TestParseFingerprint(t *testing.T) {
	sum := sha256.Sum256(fixtureDER(t))
	lower := hex.EncodeToString(sum[:])
	upper := strings.ToUpper(lower)
	var pairs []string
	for i := 0; i < len(upper); i += 2 {
		pairs = append(pairs, upper[i:i+2])
	}
	colons := strings.Join(pairs, ":")
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"as Fingerprint prints it", "sha256:" + lower, true},
		{"upper case", "SHA256:" + upper, true},
		{"bare hex", lower, true},
		{"bare upper hex", upper, true},
		{"openssl pairs", colons, true},
		{"openssl pairs, lower case", strings.ToLower(colons), true},
		{"SHA256= prefix", "SHA256=" + colons, true},
		{"sha256: prefix with pairs", "sha256:" + colons, true},
		{"openssl's whole line", "SHA256 Fingerprint=" + colons, true},
		{"surrounding space", "  sha256:" + lower + "\n", true},
		{"empty", "", false},
		{"prefix only", "sha256:", false},
		{"one digit short", "sha256:" + lower[1:], false},
		{"one digit more", "sha256:" + lower + "0", false},
		{"not hex", "sha256:" + strings.Repeat("g", 64), false},
		{"sha1 length", strings.Repeat("ab", 20), false},
		{"pairs, one missing", colons[3:], false},
		{"pairs with a triple", "ABC:" + colons[6:], false},
		{"pairs, trailing colon", colons + ":", false},
		{"mixed pairs and run", colons[:6] + upper[4:], false},
		{"other algorithm", "md5:" + lower, false},
		{"space inside", lower[:10] + " " + lower[10:], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFingerprint(tt.in)
			if !tt.ok {
				if err == nil {
					t.Fatalf("ParseFingerprint(%q) = %x, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), `"sha256:" and 64 hex digits`) {
					t.Errorf("error %q does not show the expected form", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFingerprint(%q): %v", tt.in, err)
			}
			if got != sum {
				t.Errorf("ParseFingerprint(%q) = %x, want %x", tt.in, got, sum)
			}
		})
	}
}

func TestParseFingerprint_longInputCut(t *testing.T) {
	_, err := ParseFingerprint(strings.Repeat("x", 10000))
	if err == nil {
		t.Fatal("want an error")
	}
	if len(err.Error()) > 1000 {
		t.Errorf("error is %d bytes long; the input should be cut", len(err.Error()))
	}
}

func TestFingerprintPEM(t *testing.T) {
	crt, err := os.ReadFile("testdata/openssl.crt")
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile("testdata/openssl.key")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"certificate", crt, fixtureFingerprint},
		{"key first, then certificate", append(append([]byte{}, key...), crt...), fixtureFingerprint},
		{"key only", key, ""},
		{"not PEM", []byte("hello"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FingerprintPEM(tt.data)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("FingerprintPEM = %s, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FingerprintPEM = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPeerFingerprint(t *testing.T) {
	der := fixtureDER(t)
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cs     *tls.ConnectionState
		want   string
		wantOK bool
	}{
		{"no TLS", nil, "", false},
		{"no certificate", &tls.ConnectionState{}, "", false},
		{"a certificate", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}, fixtureFingerprint, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PeerFingerprint(tt.cs)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("PeerFingerprint = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
