package oauth

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

func TestHTTPClient(t *testing.T) {
	e := newEnv(t)
	m := e.microsoft(t, testserver.MicrosoftOptions{})

	// Trusting ca_file: the TLS handshake succeeds (the stand-in answers
	// 404 for "/").
	resp, err := e.hc.Get(m.URL() + "/")
	if err != nil {
		t.Fatalf("with ca_file: %v", err)
	}
	resp.Body.Close()
	if e.hc.Timeout != 10*time.Second {
		t.Errorf("Timeout %v", e.hc.Timeout)
	}

	// System roots only: the stand-in's certificate is not trusted, and
	// Classify says what to do.
	sys, err := HTTPClient("", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sys.Get(m.URL() + "/")
	if err == nil {
		t.Fatal("system roots trusted the test CA")
	}
	de := Classify(err)
	if de.Kind != sdk.Temporary || !strings.Contains(de.Remedy, "ca_file") {
		t.Errorf("Classify(%v) = %+v", err, de)
	}
}

func TestCACertsPEM(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	notPEM := writeFile(t, dir, "notpem.pem", []byte("hello\n"))
	keyOnly := newCertFiles(t).keyFile
	tests := []struct {
		name    string
		file    string
		wantErr []string // substrings; nil: no error
		wantNil bool
	}{
		{name: "empty", file: "", wantNil: true},
		{name: "CA file", file: e.caFile},
		{name: "missing", file: filepath.Join(dir, "nope.pem"), wantErr: []string{"ca_file", "nope.pem", "no such file"}},
		{name: "not PEM", file: notPEM, wantErr: []string{"ca_file", notPEM, "no PEM certificate"}},
		{name: "key, no certificate", file: keyOnly, wantErr: []string{keyOnly, "no PEM certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := CACertsPEM(tt.file)
			if tt.wantErr == nil {
				if err != nil || (b == nil) != tt.wantNil {
					t.Fatalf("CACertsPEM = %d bytes, %v", len(b), err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, herr := HTTPClient(tt.file, time.Second); herr == nil || herr.Error() != err.Error() {
				t.Errorf("HTTPClient error %v, want %v", herr, err)
			}
		})
	}
}
