package pluginpython_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestConfigure_Diagnostics: each bad setting gets an error diagnostic
// naming it (a warning where it only looks wrong), so `tocsin validate`
// points at the line; one plugin process answers all cases.
func TestConfigure_Diagnostics(t *testing.T) {
	p := startPlugin(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		settings map[string]any
		attr     string // "" with want "": no diagnostic at all
		want     sdk.Severity
	}{
		{"good dir", map[string]any{"dir": dir}, "", 0},
		{"good url", map[string]any{"url": "https://hooks.example.com/x", "token": "t0ken-value-1", "timeout": "1m30s"}, "", 0},
		{"neither", map[string]any{}, "dir", sdk.SeverityError},
		{"both", map[string]any{"dir": dir, "url": "https://hooks.example.com/x"}, "url", sdk.SeverityError},
		{"relative dir", map[string]any{"dir": "spool"}, "dir", sdk.SeverityError},
		{"missing dir", map[string]any{"dir": filepath.Join(dir, "nope")}, "dir", sdk.SeverityError},
		{"dir is a file", map[string]any{"dir": file}, "dir", sdk.SeverityError},
		{"not http", map[string]any{"url": "ftp://files.example.com/x"}, "url", sdk.SeverityError},
		{"no host", map[string]any{"url": "https:///x"}, "url", sdk.SeverityError},
		{"password in url", map[string]any{"url": "https://u:pw@hooks.example.com/x"}, "url", sdk.SeverityError},
		{"bad timeout", map[string]any{"url": "https://hooks.example.com/x", "timeout": "soon"}, "timeout", sdk.SeverityError},
		{"zero timeout", map[string]any{"url": "https://hooks.example.com/x", "timeout": "0s"}, "timeout", sdk.SeverityError},
		{"unknown setting", map[string]any{"dir": dir, "colour": "red"}, "colour", sdk.SeverityError},
		{"token in clear", map[string]any{"url": "http://hooks.example.com/x", "token": "t0ken-value-2"}, "token", sdk.SeverityWarning},
		{"token with dir", map[string]any{"dir": dir, "token": "t0ken-value-3"}, "token", sdk.SeverityWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sdk.SettingsFromMap(tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			diags, err := p.Configure(t.Context(), sdk.Config{Transport: "py", Settings: s})
			if err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if tt.attr == "" {
				if len(diags) != 0 {
					t.Fatalf("diagnostics %v, want none", diags)
				}
				return
			}
			if len(diags) != 1 || diags[0].Attribute != tt.attr || diags[0].Severity != tt.want {
				t.Fatalf("diagnostics %+v, want one of severity %v on %q", diags, tt.want, tt.attr)
			}
			if diags[0].Summary == "" || diags[0].Detail == "" {
				t.Errorf("diagnostic %+v lacks a summary or a remedy", diags[0])
			}
			if tt.want == sdk.SeverityError {
				if err := p.Check(t.Context()); err == nil || sdk.IsTemporary(err) {
					t.Errorf("Check after a configuration with errors: %v, want a permanent error", err)
				}
			}
		})
	}
}

// TestSend_HTTPKinds: the webhook's status decides the error's kind:
// 429 and 5xx are temporary (Retry-After honoured), other 4xx and
// redirects permanent, with the status as the code and the body as the
// reply.
func TestSend_HTTPKinds(t *testing.T) {
	p := startPlugin(t)
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		temporary  bool
		retryAfter time.Duration
	}{
		{"unavailable", http.StatusServiceUnavailable, map[string]string{"Retry-After": "7"}, true, 7 * time.Second},
		{"too many", http.StatusTooManyRequests, map[string]string{"Retry-After": "2"}, true, 2 * time.Second},
		{"server error", http.StatusInternalServerError, nil, true, 0},
		{"bad request", http.StatusBadRequest, nil, false, 0},
		{"unauthorized", http.StatusUnauthorized, nil, false, 0},
		{"redirect", http.StatusFound, map[string]string{"Location": "https://elsewhere.example/"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte("reply-" + tt.name))
			}))
			defer srv.Close()
			p.configure(t, map[string]any{"url": srv.URL})
			results, err := p.Send(t.Context(), []*sdk.Message{testMessage("kinds-" + strings.ReplaceAll(tt.name, " ", "-") + "@tocsin.test")})
			if err != nil || len(results) != 1 {
				t.Fatalf("Send: %v, %d results; want one result", err, len(results))
			}
			de := deliveryError(t, results[0].Err)
			if de.Temporary() != tt.temporary {
				t.Errorf("HTTP %d gave a %v error, want temporary=%v", tt.status, de.Kind, tt.temporary)
			}
			if de.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter %v, want %v", de.RetryAfter, tt.retryAfter)
			}
			if de.Code != strconv.Itoa(tt.status) || de.Reply != "reply-"+tt.name || de.Remedy == "" {
				t.Errorf("error code %q reply %q remedy %q; want the status, the body and a remedy", de.Code, de.Reply, de.Remedy)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		p.configure(t, map[string]any{"url": url})
		results, err := p.Send(t.Context(), []*sdk.Message{testMessage("kinds-refused@tocsin.test")})
		if err != nil || len(results) != 1 {
			t.Fatalf("Send: %v, %d results; want one result", err, len(results))
		}
		if de := deliveryError(t, results[0].Err); !de.Temporary() {
			t.Errorf("a refused connection gave a permanent error %v; want temporary", de)
		}
		if err := p.Check(t.Context()); err == nil || !sdk.IsTemporary(err) {
			t.Errorf("Check against a closed port: %v; want a temporary error", err)
		}
	})
}

// TestSend_DeadlineBoundsPost: a POST to a webhook that never answers
// ends with the call's deadline, not the much longer timeout setting:
// the plugin gives urllib what is left of the gRPC deadline.
func TestSend_DeadlineBoundsPost(t *testing.T) {
	p := startPlugin(t)
	gone := make(chan time.Time, 1)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Go notices a closed connection only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done(): // the plugin hung up
			gone <- time.Now()
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	p.configure(t, map[string]any{"url": srv.URL, "timeout": "60s"})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	results, err := p.Send(ctx, []*sdk.Message{testMessage("deadline@tocsin.test")})
	if err == nil && (len(results) != 1 || results[0].Err == nil) {
		t.Fatalf("Send to a webhook that never answers succeeded: %+v", results)
	}
	if err == nil && !sdk.IsTemporary(results[0].Err) {
		t.Errorf("a POST cut by the deadline gave a permanent error %v; want temporary", results[0].Err)
	}
	if err != nil && !sdk.IsTemporary(err) {
		t.Errorf("Send cut by the deadline: permanent error %v; want temporary", err)
	}
	select {
	case at := <-gone:
		if d := at.Sub(start); d > 10*time.Second {
			t.Errorf("the plugin held the POST for %v, past the call's 2s deadline", d.Round(time.Millisecond))
		}
	case <-time.After(15 * time.Second):
		t.Error("the plugin still held the POST 15s after a Send with a 2s deadline; it must bound the request by the call's deadline")
	}
}

// TestDescribe: what the plugin itself answers, which the conformance kit
// does not see (its shim fills in the SDK's versions and limits), and the
// same description as JSON from `tocsin-plugin-pydrop describe`.
func TestDescribe(t *testing.T) {
	p := startPlugin(t)
	d, err := p.Describe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "pydrop" || d.ProtocolVersion != sdk.ProtocolVersion || d.MaxMessageBytes != sdk.MaxRequestBytes || d.Batch {
		t.Errorf("Describe: name %q protocol %d max_message_bytes %d batch %v; want pydrop, %d, %d, false", d.Name, d.ProtocolVersion, d.MaxMessageBytes, d.Batch, sdk.ProtocolVersion, sdk.MaxRequestBytes)
	}
	if err := d.Schema.Validate(); err != nil {
		t.Errorf("schema: %v", err)
	}
	for _, a := range d.Schema {
		if sdk.LooksSensitive(a.Name) && !a.Sensitive {
			t.Errorf("setting %s looks secret but is not marked sensitive", a.Name)
		}
	}
	if a, ok := d.Schema.Lookup("timeout"); !ok || a.Type != sdk.TypeDuration {
		t.Errorf("timeout: %+v, want a duration", a)
	}

	out, err := exec.Command(pluginPath(t), "describe").Output()
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	var got sdk.Description
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("describe printed what the Go SDK's Description cannot read: %v\n%s", err, out)
	}
	if got.Name != d.Name || len(got.Schema) != len(d.Schema) || got.MaxMessageBytes != d.MaxMessageBytes {
		t.Errorf("describe printed %+v; Describe answered %+v", got, *d)
	}
}
