package facts

import (
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// testMux serves the paths the http tests ask for.
func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, `{"healthy": true, "checks": {"db": "up"}, "n": 3}`)
	})
	mux.HandleFunc("/problem", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"title": "down"}`)
	})
	mux.HandleFunc("/badjson", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"healthy": tru`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, `{"looks": "like json"}`)
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Token", r.Header.Get("X-Token"))
		w.Header().Set("X-Agent", r.Header.Get("User-Agent"))
		w.Header().Add("X-Multi", "first")
		w.Header().Add("X-Multi", "second")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	return mux
}

// newTLSServer starts a TLS test server that does not log the handshakes
// the tests make fail on purpose.
func newTLSServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

// writeCA writes the certificate of a TLS test server as a PEM file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckHTTP(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(testMux())
	t.Cleanup(srv.Close)
	tlsSrv := newTLSServer(t, testMux())
	t.Cleanup(tlsSrv.Close)
	ca := writeCA(t, tlsSrv)
	notPEM := writeFile(t, "junk.pem", "not a certificate")

	tests := []struct {
		name    string
		http    HTTPSpec
		timeout time.Duration
		ok      bool
		errPart string
		status  int // 0: none
		check   func(t *testing.T, f Fact)
	}{
		{
			name: "json body", http: HTTPSpec{URL: srv.URL + "/json"}, ok: true, status: 200,
			check: func(t *testing.T, f Fact) {
				j := value(t, f, "json")
				if !attr(t, j, "healthy").True() || attr(t, j, "checks", "db").AsString() != "up" {
					t.Errorf("json = %#v", j)
				}
				if !attr(t, j, "n").RawEquals(cty.NumberIntVal(3)) {
					t.Errorf("json.n = %#v", attr(t, j, "n"))
				}
				if got := value(t, f, "headers").Index(cty.StringVal("content-type")).AsString(); got != "application/json; charset=utf-8" {
					t.Errorf("headers[content-type] = %q", got)
				}
				if str(t, f, "url") != srv.URL+"/json" {
					t.Errorf("url = %q", str(t, f, "url"))
				}
			},
		},
		{
			name: "server error", http: HTTPSpec{URL: srv.URL + "/fail"}, errPart: "status 500 Internal Server Error, want 2xx", status: 500,
			check: func(t *testing.T, f Fact) {
				if str(t, f, "body") != "broken\n" {
					t.Errorf("body = %q", str(t, f, "body"))
				}
			},
		},
		{
			name: "expected server error", http: HTTPSpec{URL: srv.URL + "/fail", ExpectStatus: []int{500}}, ok: true, status: 500,
		},
		{
			name: "wrong status", http: HTTPSpec{URL: srv.URL + "/json", ExpectStatus: []int{204}}, errPart: "status 200 OK, want 204", status: 200,
		},
		{
			name: "wrong status among several", http: HTTPSpec{URL: srv.URL + "/json", ExpectStatus: []int{201, 204}}, errPart: "want one of 201, 204", status: 200,
		},
		{
			name: "no content", http: HTTPSpec{URL: srv.URL + "/nocontent"}, ok: true, status: 204,
			check: func(t *testing.T, f Fact) {
				if str(t, f, "body") != "" || !isNull(t, f, "json") {
					t.Errorf("body %q json %#v", str(t, f, "body"), value(t, f, "json"))
				}
			},
		},
		{
			name: "problem json on 503", http: HTTPSpec{URL: srv.URL + "/problem"}, errPart: "status 503", status: 503,
			check: func(t *testing.T, f Fact) {
				if attr(t, value(t, f, "json"), "title").AsString() != "down" {
					t.Errorf("json = %#v", value(t, f, "json"))
				}
			},
		},
		{
			name: "bad json is null, not a failure", http: HTTPSpec{URL: srv.URL + "/badjson"}, ok: true, status: 200,
			check: func(t *testing.T, f Fact) {
				if !isNull(t, f, "json") || str(t, f, "body") != `{"healthy": tru` {
					t.Errorf("json %#v body %q", value(t, f, "json"), str(t, f, "body"))
				}
			},
		},
		{
			name: "text is not parsed", http: HTTPSpec{URL: srv.URL + "/text"}, ok: true, status: 200,
			check: func(t *testing.T, f Fact) {
				if !isNull(t, f, "json") {
					t.Errorf("json = %#v", value(t, f, "json"))
				}
			},
		},
		{
			name: "body cut at max_body", http: HTTPSpec{URL: srv.URL + "/json", MaxBody: 10}, ok: true, status: 200,
			check: func(t *testing.T, f Fact) {
				if str(t, f, "body") != `{"healthy"` || !isNull(t, f, "json") {
					t.Errorf("body %q json %#v", str(t, f, "body"), value(t, f, "json"))
				}
			},
		},
		{
			name: "method, headers, host", ok: true, status: 200,
			http: HTTPSpec{URL: srv.URL + "/echo", Method: "POST", Headers: map[string]string{"X-Token": "s3cret", "host": "app.example"}},
			check: func(t *testing.T, f Fact) {
				h := value(t, f, "headers")
				for name, want := range map[string]string{"x-method": "POST", "x-host": "app.example", "x-token": "s3cret", "x-multi": "first", "x-agent": userAgent()} {
					if got := h.Index(cty.StringVal(name)).AsString(); got != want {
						t.Errorf("headers[%s] = %q, want %q", name, got, want)
					}
				}
			},
		},
		{
			name: "redirect followed", http: HTTPSpec{URL: srv.URL + "/redirect"}, ok: true, status: 200,
		},
		{
			name: "closed port", http: HTTPSpec{URL: "http://" + closedPort(t) + "/"}, errPart: "connection refused",
		},
		{
			name: "unknown host", http: HTTPSpec{URL: "http://no-such-host.invalid/"}, timeout: time.Second, errPart: "no-such-host.invalid",
		},
		{
			name: "server that hangs", http: HTTPSpec{URL: srv.URL + "/slow"}, timeout: 200 * time.Millisecond, errPart: "timed out after 200ms",
		},
		{
			name: "tls with its ca", http: HTTPSpec{URL: tlsSrv.URL + "/json", CAFile: ca}, ok: true, status: 200,
		},
		{
			name: "tls unknown authority", http: HTTPSpec{URL: tlsSrv.URL + "/json"}, errPart: "certificate",
		},
		{
			name: "tls verification off", http: HTTPSpec{URL: tlsSrv.URL + "/json", TLSSkipVerify: true}, ok: true, status: 200,
		},
		{
			name: "ca file missing", http: HTTPSpec{URL: tlsSrv.URL + "/json", CAFile: "/nonexistent/ca.pem"}, errPart: "http.ca_file: open /nonexistent/ca.pem",
		},
		{
			name: "ca file without a certificate", http: HTTPSpec{URL: tlsSrv.URL + "/json", CAFile: notPEM}, errPart: "http.ca_file: no PEM certificate in",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.http
			var f Fact
			within(t, 3*time.Second, func() {
				f = runCheck(t, Spec{Name: "web", Timeout: tt.timeout, HTTP: &h})
			})
			wantOK(t, f, tt.ok, tt.errPart)
			if tt.status == 0 {
				if !isNull(t, f, "status") {
					t.Errorf("status = %#v, want null", value(t, f, "status"))
				}
			} else if got := num(t, f, "status"); got != float64(tt.status) {
				t.Errorf("status = %v, want %d", got, tt.status)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func TestIsJSONType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"application/json", true},
		{"Application/JSON; charset=utf-8", true},
		{"application/vnd.api+json", true},
		{"text/plain", false},
		{"", false},
		{"application/json-seq", false},
		{";;;", false},
	}
	for _, tt := range tests {
		if got := isJSONType(tt.in); got != tt.want {
			t.Errorf("isJSONType(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestCheckHTTP_NoPasswordShown checks that a password in a URL appears
// neither in a fact's error nor in its values.
func TestCheckHTTP_NoPasswordShown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(testMux())
	t.Cleanup(srv.Close)
	withUser := func(rawURL string) string { return strings.Replace(rawURL, "http://", "http://ops:s3cret@", 1) }
	tests := []struct {
		name string
		spec Spec
	}{
		{name: "http status", spec: Spec{Name: "w", HTTP: &HTTPSpec{URL: withUser(srv.URL + "/fail")}}},
		{name: "http refused", spec: Spec{Name: "w", HTTP: &HTTPSpec{URL: withUser("http://" + closedPort(t))}}},
		{name: "peer status", spec: Spec{Name: "p", Peer: &PeerSpec{URL: withUser(srv.URL + "/fail")}}},
		{name: "peer refused", spec: Spec{Name: "p", Peer: &PeerSpec{URL: withUser("http://" + closedPort(t))}}},
		{name: "invalid url", spec: Spec{Name: "w", HTTP: &HTTPSpec{URL: "ftp://ops:s3cret@host/"}}},
		{name: "unparsable url", spec: Spec{Name: "w", HTTP: &HTTPSpec{URL: "http://ops:s3cret@[::1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := Run(t.Context(), tt.spec, nil)
			if f.OK {
				t.Fatal("the check succeeded")
			}
			if strings.Contains(f.Error, "s3cret") {
				t.Errorf("error shows the password: %q", f.Error)
			}
			for name, v := range f.Values {
				if !v.IsNull() && v.Type().Equals(cty.String) && strings.Contains(v.AsString(), "s3cret") {
					t.Errorf("value %s shows the password: %q", name, v.AsString())
				}
			}
		})
	}
}
