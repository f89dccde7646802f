package identity

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// peerServer starts an HTTPS server on 127.0.0.1 with ServerConfig(id,
// clientCAFile) that answers with the fingerprint of the client's
// certificate, or "none".
func peerServer(t *testing.T, id *Identity, clientCAFile string) *httptest.Server {
	t.Helper()
	cfg, err := ServerConfig(id, clientCAFile)
	if err != nil {
		t.Fatalf("ServerConfig: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fp, ok := PeerFingerprint(r.TLS)
		if !ok {
			fp = "none"
		}
		_, _ = io.WriteString(w, fp)
	}))
	srv.TLS = cfg
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get fetches url with cfg and returns the body.
func get(t *testing.T, cfg *tls.Config, url string) (string, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

func TestClientConfig_pin(t *testing.T) {
	server, _ := generated(t)
	impostor, _ := generated(t)
	srv := peerServer(t, server, "")
	right := server.Fingerprint()
	opensslForm := strings.ToUpper(strings.TrimPrefix(right, "sha256:"))
	var b strings.Builder
	for i := 0; i < len(opensslForm); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(opensslForm[i : i+2])
	}
	tests := []struct {
		name string
		pin  string
		ok   bool
	}{
		{"the server's fingerprint", right, true},
		{"as openssl prints it", "SHA256 Fingerprint=" + b.String(), true},
		{"another identity's fingerprint", impostor.Fingerprint(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(tt.pin, "", nil)
			if err != nil {
				t.Fatalf("ClientConfig: %v", err)
			}
			body, err := get(t, cfg, srv.URL)
			if tt.ok {
				if err != nil {
					t.Fatalf("GET with the right pin: %v", err)
				}
				if body != "none" {
					t.Errorf("server saw client certificate %q, want none", body)
				}
				return
			}
			if err == nil {
				t.Fatalf("GET with a wrong pin succeeded: %q", body)
			}
			var pe *PinError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *PinError", err, err)
			}
			if pe.Got != right || pe.Want != impostor.Fingerprint() {
				t.Errorf("PinError{Got: %s, Want: %s}, want Got %s, Want %s", pe.Got, pe.Want, right, impostor.Fingerprint())
			}
			for _, want := range []string{
				"the partner presented certificate " + right,
				"the pinned fingerprint is " + impostor.Fingerprint(),
				"tocsin identity on the partner",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// An impostor answering at the partner's address with its own identity
// is refused, even when its certificate bears the same names.
func TestClientConfig_impostor(t *testing.T) {
	partner, _ := generated(t)
	impostor, _ := generated(t)
	srv := peerServer(t, impostor, "")
	cfg, err := ClientConfig(partner.Fingerprint(), "", partner)
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(t, cfg, srv.URL+"/v1/status")
	var pe *PinError
	if !errors.As(err, &pe) || pe.Got != impostor.Fingerprint() {
		t.Fatalf("GET from the impostor = %v, want a *PinError naming %s", err, impostor.Fingerprint())
	}
}

func TestPinError_noCertificate(t *testing.T) {
	e := &PinError{Want: "sha256:ab"}
	if got := e.Error(); !strings.Contains(got, "presented no certificate") || !strings.Contains(got, "sha256:ab") {
		t.Errorf("Error() = %q", got)
	}
	verify := pinVerifier([32]byte{1})
	err := verify(tls.ConnectionState{})
	var pe *PinError
	if !errors.As(err, &pe) || pe.Got != "" {
		t.Errorf("verifier without certificates = %v, want a *PinError with no Got", err)
	}
}

func TestClientConfig_clientCertificate(t *testing.T) {
	server, _ := generated(t)
	client, _ := generated(t)
	tests := []struct {
		name string
		own  *Identity
		want string
	}{
		{"own identity presented", client, client.Fingerprint()},
		{"no identity", nil, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := peerServer(t, server, "")
			cfg, err := ClientConfig(server.Fingerprint(), "", tt.own)
			if err != nil {
				t.Fatal(err)
			}
			body, err := get(t, cfg, srv.URL)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if body != tt.want {
				t.Errorf("server saw client certificate %q, want %q", body, tt.want)
			}
		})
	}
}

func TestClientConfig_CA(t *testing.T) {
	server, _ := generated(t)
	other, _ := generated(t)
	srv := peerServer(t, server, "")
	tests := []struct {
		name   string
		caFile string
		ok     bool
	}{
		{"the server's own certificate as CA", server.CertFile(), true},
		{"another CA", other.CertFile(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig("", tt.caFile, nil)
			if err != nil {
				t.Fatal(err)
			}
			// srv.URL is https://127.0.0.1:PORT: the certificate names
			// 127.0.0.1.
			_, err = get(t, cfg, srv.URL)
			if tt.ok && err != nil {
				t.Fatalf("GET: %v", err)
			}
			if !tt.ok && err == nil {
				t.Fatal("GET succeeded against an unknown authority")
			}
		})
	}
}

func TestClientConfig_errors(t *testing.T) {
	id, _ := generated(t)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	copyFile(t, "testdata/openssl.key", notPEM, 0o600)
	tests := []struct {
		name, pin, caFile, want string
	}{
		{"neither", "", "", "no way to verify the partner"},
		{"both", id.Fingerprint(), id.CertFile(), "not both"},
		{"bad pin", "sha256:1234", "", `"sha256:" and 64 hex digits`},
		{"missing CA file", "", "/nonexistent/ca.pem", "no such file"},
		{"CA file without certificates", "", notPEM, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(tt.pin, tt.caFile, id)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ClientConfig = %v, %v; want an error saying %q", cfg, err, tt.want)
			}
		})
	}
}

func TestServerConfig_clientCA(t *testing.T) {
	server, _ := generated(t)
	trusted, _ := generated(t)
	stranger, _ := generated(t)
	srv := peerServer(t, server, trusted.CertFile())
	tests := []struct {
		name string
		own  *Identity
		want string // "" for a refused handshake
	}{
		{"certificate from the CA", trusted, trusted.Fingerprint()},
		{"certificate from elsewhere", stranger, ""},
		{"no certificate", nil, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(server.Fingerprint(), "", tt.own)
			if err != nil {
				t.Fatal(err)
			}
			if tt.own != nil {
				// Present it even though the server's list of CAs
				// does not name its issuer, as an attacker would.
				c := tt.own.Certificate()
				cfg.Certificates = nil
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
			}
			body, err := get(t, cfg, srv.URL)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("server accepted a certificate from another CA: %q", body)
				}
				return
			}
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			if body != tt.want {
				t.Errorf("server saw %q, want %q", body, tt.want)
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	id, _ := generated(t)
	if _, err := ServerConfig(nil, ""); err == nil {
		t.Error("ServerConfig(nil) succeeded")
	}
	if _, err := ServerConfig(id, "/nonexistent/ca.pem"); err == nil {
		t.Error("ServerConfig with a missing client CA file succeeded")
	}
	cfg, err := ServerConfig(id, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.RequestClientCert {
		t.Errorf("MinVersion %x, ClientAuth %v; want TLS 1.2, RequestClientCert", cfg.MinVersion, cfg.ClientAuth)
	}
}

func TestServerConfig_oldTLSRefused(t *testing.T) {
	id, _ := generated(t)
	srv := peerServer(t, id, "")
	cfg, err := ClientConfig(id.Fingerprint(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MinVersion = tls.VersionTLS10
	cfg.MaxVersion = tls.VersionTLS11
	if _, err := get(t, cfg, srv.URL); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
}

func TestServerConfig_plainHTTP(t *testing.T) {
	id, _ := generated(t)
	srv := peerServer(t, id, "")
	url := "http://" + strings.TrimPrefix(srv.URL, "https://")
	resp, err := http.Get(url)
	if err != nil {
		return // refused outright: fine
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || string(body) == "none" {
		t.Fatalf("plain HTTP to the TLS listener answered %d %q, want 400 and not the handler", resp.StatusCode, body)
	}
}
