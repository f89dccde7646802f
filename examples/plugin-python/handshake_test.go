package pluginpython_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/host"
)

// clientCert makes a certificate like go-plugin's AutoMTLS client
// certificate: self-signed, for "localhost", ECDSA P-521.
func clientCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// handshake starts the plugin by hand with env and returns the fields of
// its handshake line; the process is killed when the test ends.
func handshake(t *testing.T, env ...string) ([]string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(pluginPath(t))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		return strings.Split(strings.TrimSpace(line), "|"), cmd
	case <-time.After(30 * time.Second):
		t.Fatal("no handshake line within 30s")
		return nil, nil
	}
}

const cookie = "TOCSIN_PLUGIN_MAGIC_COOKIE=5c1e0b7a-tocsin-transport"

// TestHandshake_AutoMTLS: the handshake line carries the plugin's
// certificate; a client presenting the certificate the host announced in
// PLUGIN_CLIENT_CERT is served (health "plugin" is SERVING), one with
// another certificate is refused; Shutdown ends the process.
func TestHandshake_AutoMTLS(t *testing.T) {
	good, goodPEM := clientCert(t)
	other, _ := clientCert(t)
	fields, cmd := handshake(t, cookie, "PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_CLIENT_CERT="+string(goodPEM), "PLUGIN_UNIX_SOCKET_DIR="+t.TempDir())
	if len(fields) != 6 {
		t.Fatalf("handshake line has %d fields, want 6: %q", len(fields), fields)
	}
	if fields[0] != "1" || fields[1] != "1" || fields[4] != "grpc" {
		t.Errorf("handshake line %q: want core protocol 1, app protocol 1, grpc", fields)
	}
	if fields[2] != "unix" {
		t.Errorf("network %q: with PLUGIN_UNIX_SOCKET_DIR set the plugin should listen on a unix socket there", fields[2])
	}
	if strings.HasSuffix(fields[5], "=") {
		t.Errorf("certificate field ends in padding; go-plugin decodes it with base64.RawStdEncoding")
	}
	der, err := base64.RawStdEncoding.DecodeString(fields[5])
	if err != nil {
		t.Fatalf("certificate field: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("certificate field: %v", err)
	}
	if err := cert.VerifyHostname("localhost"); err != nil {
		t.Errorf("the plugin's certificate is not for localhost, the name go-plugin verifies: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)

	dial := func(c tls.Certificate) (*grpc.ClientConn, error) {
		creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{c}, RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12})
		return grpc.NewClient("unix:"+fields[3], grpc.WithTransportCredentials(creds))
	}
	health := func(conn *grpc.ClientConn) (*grpc_health_v1.HealthCheckResponse, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		return grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	}

	conn, err := dial(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := health(conn); err == nil {
		t.Error("a client with a certificate other than PLUGIN_CLIENT_CERT was served; the plugin must require and verify the host's certificate")
	}
	conn.Close()

	conn, err = dial(good)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := health(conn)
	if err != nil {
		t.Fatalf("health check with the host's certificate: %v", err)
	}
	if resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Errorf("health of %q is %v, want SERVING", plugin.GRPCServiceName, resp.GetStatus())
	}

	// go-plugin's GRPCController.Shutdown takes and returns an empty
	// message, which google.protobuf.Empty encodes the same.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := conn.Invoke(ctx, "/plugin.GRPCController/Shutdown", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the plugin exited with %v after Shutdown, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the plugin was still running 10s after Shutdown")
	}
}

// TestHandshake_TCP: without a socket directory the plugin listens on
// 127.0.0.1 in the port range the host gives, on a port no other process
// listens on: a second plugin given the same range takes the next port
// (gRPC's default SO_REUSEPORT would let both share the first).
func TestHandshake_TCP(t *testing.T) {
	_, pemCert := clientCert(t)
	port := freePortPair(t)
	p := strconv.Itoa
	env := []string{cookie, "PLUGIN_PROTOCOL_VERSIONS=1", "PLUGIN_CLIENT_CERT=" + string(pemCert), "PLUGIN_UNIX_SOCKET_DIR=", "PLUGIN_MIN_PORT=" + p(port), "PLUGIN_MAX_PORT=" + p(port+1)}
	first, _ := handshake(t, env...)
	second, _ := handshake(t, env...)
	for i, fields := range [][]string{first, second} {
		if want := "127.0.0.1:" + p(port+i); len(fields) < 4 || fields[2] != "tcp" || fields[3] != want {
			t.Errorf("plugin %d: handshake line %q, want tcp on %s", i+1, fields, want)
		}
	}
}

// freePortPair returns a port P such that P and P+1 are free now.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1))
		l.Close()
		if err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no two free consecutive ports")
	return 0
}

// TestHandshake_NoCookie: run by hand, the plugin explains itself and
// exits 1 instead of waiting for a host.
func TestHandshake_NoCookie(t *testing.T) {
	cmd := exec.Command(pluginPath(t))
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("run without the magic cookie: %v, want exit status 1", err)
	}
	if !strings.Contains(string(out), "Tocsin agent starts it") {
		t.Errorf("run without the magic cookie, the plugin said %q; want an explanation", out)
	}
}

// TestHandshake_ProtocolMismatch: a host that speaks only protocol 2 is
// answered with the plugin's 1, and go-plugin refuses the plugin naming
// both versions.
func TestHandshake_ProtocolMismatch(t *testing.T) {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{2: {sdk.PluginName: host.Plugin{}}},
		Cmd:              exec.Command(pluginPath(t)),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
	})
	defer client.Kill()
	_, err := client.Client()
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "incompatible api version") {
		t.Fatalf("start with a host speaking protocol 2: %v; want go-plugin's incompatible API version error", err)
	}
	if !strings.Contains(err.Error(), "Plugin version: 1") {
		t.Errorf("error %q does not name the plugin's version 1", err)
	}
}
