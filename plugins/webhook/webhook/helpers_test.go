package webhook_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/webhook/webhook"
)

// Secrets planted in the tests: long and distinctive, so that finding one
// in a text is never an accident.
const (
	hookToken  = "T0CS1N-hook-token-5e8d1c2a9b"
	hookSig    = "sigvalue-4f1e9a7c3b2d"
	hmacSecret = "hmac-secret-7a3c9e1f2b8d"
	authValue  = "Bearer header-token-1c9e7f3a"
)

// request is one request the receiver got.
type request struct {
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is an httptest server on 127.0.0.1 that records requests and
// answers as told.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []request
	answer   func(r request) (status int, header http.Header, body string)
}

func startReceiver(t *testing.T, tlsOn bool) *receiver {
	t.Helper()
	rc := &receiver{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := request{Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: b}
		rc.mu.Lock()
		rc.requests = append(rc.requests, req)
		answer := rc.answer
		rc.mu.Unlock()
		status, header, body := http.StatusOK, http.Header(nil), "ok"
		if answer != nil {
			status, header, body = answer(req)
		}
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
	if tlsOn {
		rc.srv = httptest.NewTLSServer(h)
	} else {
		rc.srv = httptest.NewServer(h)
	}
	t.Cleanup(rc.srv.Close)
	return rc
}

// hookURL is the receiver's URL with a secret path and query, like a
// Slack or Teams workflow URL.
func (rc *receiver) hookURL() string {
	return rc.srv.URL + "/hooks/" + hookToken + "?api-version=1&sig=" + hookSig
}

func (rc *receiver) setAnswer(f func(r request) (int, http.Header, string)) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) got() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.requests...)
}

// caFile writes the TLS receiver's certificate as a PEM file.
func (rc *receiver) caFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func settingsOf(t *testing.T, m map[string]any) sdk.Settings {
	t.Helper()
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// configure configures a new transport and fails the test on an error
// diagnostic.
func configure(t *testing.T, m map[string]any) *webhook.Transport {
	t.Helper()
	tr := webhook.New("test")
	diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "chat", From: "Tocsin <tocsin@node.example>", Settings: settingsOf(t, m)})
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure = %+v, %v", diags, err)
	}
	return tr
}

// message is a rule's notification as the agent hands it over.
func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		Date:    time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC),
		From:    sdk.Address{Name: "Tocsin", Address: "tocsin@node.example"},
		To:      []sdk.Address{{Name: "On call", Address: "oncall@example.com"}},
		Subject: `[FIRING] disk "full" on db1 <now>`,
		Text:    "The disk /var on db1 is 99% full & rising.\nSecond line.\n",
		Headers: []sdk.Header{
			{Name: "X-Tocsin-Rule", Value: "disk_full"},
			{Name: "X-Tocsin-Event", Value: "firing"},
			{Name: "X-Tocsin-Severity", Value: "critical"},
		},
	}
}

// sendOne sends m and returns its one result's error and receipt.
func sendOne(t *testing.T, tr *webhook.Transport, m *sdk.Message) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := tr.Send(ctx, []*sdk.Message{m})
	if err != nil {
		return "", err
	}
	if len(res) != 1 || res[0].MessageID != m.ID {
		t.Fatalf("results = %+v, want one for %s", res, m.ID)
	}
	return res[0].Receipt, res[0].Err
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, b)
	}
	return v
}

// deliveryError asserts err is a *sdk.DeliveryError of kind.
func deliveryError(t *testing.T, err error, kind sdk.Kind) *sdk.DeliveryError {
	t.Helper()
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *sdk.DeliveryError", err, err)
	}
	if de.Kind != kind {
		t.Errorf("kind = %v, want %v (%v)", de.Kind, kind, err)
	}
	return de
}

// noSecret fails when any text holds one of the planted secrets.
func noSecret(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, s := range []string{hookToken, hookSig, hmacSecret, authValue, "header-token"} {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the secret %q: %s", what, s, text)
			}
		}
	}
}

// texts is everything an error says.
func texts(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	var de *sdk.DeliveryError
	if errors.As(err, &de) {
		out = append(out, de.Code, de.Reply, de.Remedy)
	}
	return out
}

// maxSkew is the receivers' replay window in the tests.
const maxSkew = 5 * time.Minute

func timeNow() time.Time { return time.Now() }
