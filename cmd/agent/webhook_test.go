package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/testserver"
	"github.com/tocsin-dev/tocsin/plugins/webhook/webhook"
)

// hookRequest is one POST a test webhook received.
type hookRequest struct {
	header http.Header
	body   []byte
}

// hookServer is a webhook on 127.0.0.1 that answers every POST with
// status and records it.
type hookServer struct {
	srv    *httptest.Server
	mu     sync.Mutex
	posted []hookRequest
}

func startHook(t *testing.T, status int) *hookServer {
	t.Helper()
	h := &hookServer{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.posted = append(h.posted, hookRequest{header: r.Header.Clone(), body: b})
		h.mu.Unlock()
		w.WriteHeader(status)
		if status >= 400 {
			_, _ = io.WriteString(w, "Workflow not found")
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.posted...)
}

// TestWebhook_RuleToChatAndFallback runs the real agent with the real
// webhook and smtp-basic plugins: one rule's notification reaches a Teams
// workflow stand-in as a signed Adaptive Card; another contact's first
// transport is a deleted workflow (404, permanent), so its notification
// falls back to mail at once, without a retry on the webhook.
func TestWebhook_RuleToChatAndFallback(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	withPlugins(t)
	const (
		secret    = "e2e-hmac-secret-93b1f07c"
		goneToken = "gone-hook-token-7d2e5a"
		chatToken = "chat-hook-token-2c8f41"
	)
	chat := startHook(t, http.StatusAccepted)
	gone := startHook(t, http.StatusNotFound)
	smtpSrv := testserver.StartT(t, testserver.Options{})
	t.Setenv("TOCSIN_TEST_CHAT_URL", chat.srv.URL+"/workflows/"+chatToken+"/invoke?sig="+chatToken)
	t.Setenv("TOCSIN_TEST_GONE_URL", gone.srv.URL+"/workflows/"+goneToken+"/invoke?sig="+goneToken)
	t.Setenv("TOCSIN_TEST_HMAC", secret)

	listen := freePort(t)
	host, port, _ := strings.Cut(smtpSrv.Addr(), ":")
	cfg := fmt.Sprintf(`agent {
  node       = "node-a"
  plugin_dir = env("TOCSIN_TEST_PLUGIN_DIR")
  data_dir   = "data"
  listen     = %q
  log_level  = "debug"
}

transport "chat" {
  plugin = "webhook"
  from   = "tocsin@example.com"
  config {
    url         = env("TOCSIN_TEST_CHAT_URL")
    format      = "teams"
    hmac_secret = env("TOCSIN_TEST_HMAC")
  }
}

transport "gone" {
  plugin = "webhook"
  from   = "tocsin@example.com"
  config {
    url    = env("TOCSIN_TEST_GONE_URL")
    format = "teams"
  }
}

transport "mail" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
  config {
    host     = %q
    port     = %s
    security = "none"
  }
}

contact "chatops" {
  email = ["chatops@example.com"]
  via   = [transport.chat, transport.mail]
}

contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.gone, transport.mail]
}

rule "disk_full" {
  schedule = "@every 1s"
  when     = true
  severity = "critical"
  notify   = [contact.chatops]
  subject  = "disk full on node-a"
}

rule "link_down" {
  schedule = "@every 1s"
  when     = true
  notify   = [contact.ops]
  subject  = "link down on node-a"
}
`, listen, host, port)
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, path, listen)

	await(t, 60*time.Second, "the chat notification and the fallback mail", func() bool {
		return len(chat.requests()) >= 1 && len(smtpSrv.Messages()) >= 1
	})
	await(t, 10*time.Second, "an empty outbox", func() bool { d, ok := p.delivery(); return ok && d.Pending == 0 })

	// The chat got the card, signed.
	posted := chat.requests()
	if len(posted) != 1 {
		t.Errorf("chat got %d posts, want 1", len(posted))
	}
	r := posted[0]
	if err := webhook.Verify([]byte(secret), r.header.Get(webhook.TimestampHeader), r.header.Get(webhook.DefaultSignatureHeader), r.body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("the chat post's signature: %v", err)
	}
	var card struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type string `json:"type"`
				Body []struct {
					Text  string `json:"text"`
					Facts []struct{ Title, Value string }
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(r.body, &card); err != nil || card.Type != "message" || len(card.Attachments) != 1 {
		t.Fatalf("chat body %s: %v", r.body, err)
	}
	a := card.Attachments[0]
	if a.ContentType != webhook.AdaptiveCardContentType || a.Content.Type != "AdaptiveCard" || len(a.Content.Body) == 0 || !strings.Contains(a.Content.Body[0].Text, "disk full on node-a") {
		t.Errorf("card = %+v", a)
	}
	if !bytes.Contains(r.body, []byte(`"value":"disk_full"`)) || !bytes.Contains(r.body, []byte(`"value":"critical"`)) {
		t.Errorf("card lacks the rule and severity facts: %s", r.body)
	}
	if id := r.header.Get(webhook.MessageIDHeader); id == "" {
		t.Error("no Message-ID header on the chat post")
	}

	// The deleted workflow was asked once; the mail went out instead.
	if n := len(gone.requests()); n != 1 {
		t.Errorf("the 404 webhook got %d posts, want 1 (permanent: no retry)", n)
	}
	msgs := smtpSrv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("mail server got %d messages, want only the fallback", len(msgs))
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("X-Tocsin-Rule") != "link_down" || !strings.Contains(m.Header.Get("To"), "ops@example.com") {
		t.Errorf("fallback mail: rule %q to %q", m.Header.Get("X-Tocsin-Rule"), m.Header.Get("To"))
	}

	// The agent's log tells the fallback, without the URLs' secrets.
	log := p.logText()
	for _, s := range []string{secret, goneToken, chatToken} {
		if strings.Contains(log, s) {
			t.Errorf("the agent's log holds the secret %q", s)
		}
	}
	if !strings.Contains(log, "404") {
		t.Errorf("the agent's log does not show the 404:\n%s", log)
	}
}
