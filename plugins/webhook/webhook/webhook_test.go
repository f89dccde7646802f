package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/webhook/webhook"
)

// get walks a decoded JSON value along keys (strings) and indexes (ints).
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %v is not an object", p, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: %v is not a list that long", p, v)
			}
			v = l[k]
		}
	}
	return v
}

// TestPresets sends a rule's notification in each format and checks the
// body the receiver got.
func TestPresets(t *testing.T) {
	m := message("20261206T120000.1@node.example")
	tests := []struct {
		name     string
		settings map[string]any
		check    func(t *testing.T, body map[string]any)
	}{
		{"teams", map[string]any{"format": "teams"}, func(t *testing.T, b map[string]any) {
			if get(t, b, "type") != "message" {
				t.Errorf("type = %v, want message", b["type"])
			}
			att := get(t, b, "attachments", 0)
			if get(t, att, "contentType") != "application/vnd.microsoft.card.adaptive" {
				t.Errorf("contentType = %v", get(t, att, "contentType"))
			}
			if v, ok := att.(map[string]any)["contentUrl"]; !ok || v != nil {
				t.Errorf("contentUrl = %v, want null", v)
			}
			card := get(t, att, "content")
			if get(t, card, "type") != "AdaptiveCard" || get(t, card, "version") != "1.4" || get(t, card, "$schema") != "http://adaptivecards.io/schemas/adaptive-card.json" {
				t.Errorf("card = %v", card)
			}
			if get(t, card, "body", 0, "text") != m.Subject || get(t, card, "body", 0, "color") != "Attention" {
				t.Errorf("title = %v", get(t, card, "body", 0))
			}
			if get(t, card, "body", 1, "text") != strings.TrimRight(m.Text, "\n") || get(t, card, "body", 1, "wrap") != true {
				t.Errorf("text = %v", get(t, card, "body", 1))
			}
			if get(t, card, "body", 2, "type") != "FactSet" || get(t, card, "body", 2, "facts", 0, "value") != "disk_full" || get(t, card, "body", 2, "facts", 2, "value") != "critical" {
				t.Errorf("facts = %v", get(t, card, "body", 2))
			}
		}},
		{"slack", map[string]any{"format": "slack"}, func(t *testing.T, b map[string]any) {
			want := "*[FIRING] disk \"full\" on db1 &lt;now&gt;*\nThe disk /var on db1 is 99% full &amp; rising.\nSecond line."
			if get(t, b, "text") != want {
				t.Errorf("text = %q, want %q", get(t, b, "text"), want)
			}
			if get(t, b, "blocks", 0, "type") != "header" || get(t, b, "blocks", 0, "text", "text") != m.Subject {
				t.Errorf("header block = %v", get(t, b, "blocks", 0))
			}
			if get(t, b, "blocks", 1, "text", "type") != "mrkdwn" || !strings.Contains(get(t, b, "blocks", 1, "text", "text").(string), "full &amp; rising") {
				t.Errorf("section block = %v", get(t, b, "blocks", 1))
			}
			if get(t, b, "blocks", 2, "type") != "context" || get(t, b, "blocks", 2, "elements", 0, "text") != "*Rule:* disk_full" {
				t.Errorf("context block = %v", get(t, b, "blocks", 2))
			}
		}},
		{"slack without blocks", map[string]any{"format": "slack", "slack_blocks": false}, func(t *testing.T, b map[string]any) {
			if _, ok := b["blocks"]; ok || len(b) != 1 {
				t.Errorf("body = %v, want text only", b)
			}
		}},
		{"mattermost", map[string]any{"format": "mattermost", "username": "Tocsin"}, func(t *testing.T, b map[string]any) {
			want := "#### " + m.Subject + "\n\nThe disk /var on db1 is 99% full & rising.\nSecond line.\n\n**Rule:** disk_full · **Event:** firing · **Severity:** critical\n"
			if get(t, b, "text") != want || get(t, b, "username") != "Tocsin" || len(b) != 2 {
				t.Errorf("body = %q, want text %q and username", b, want)
			}
		}},
		{"json", map[string]any{"format": "json"}, func(t *testing.T, b map[string]any) {
			for k, want := range map[string]any{"id": m.ID, "subject": m.Subject, "text": m.Text, "rule": "disk_full", "event": "firing", "severity": "critical", "date": "2026-12-06T12:00:00Z", "from": `"Tocsin" <tocsin@node.example>`} {
				if b[k] != want {
					t.Errorf("%s = %v, want %v", k, b[k], want)
				}
			}
			if get(t, b, "to", 0) != `"On call" <oncall@example.com>` || get(t, b, "headers", "X-Tocsin-Rule") != "disk_full" {
				t.Errorf("body = %v", b)
			}
		}},
		{"json with body_template", map[string]any{"format": "json", "body_template": `{"summary": {{json .Subject}}, "details": {{json .Text}}, "sev": {{json .Severity}}, "to": {{json .To}}}`}, func(t *testing.T, b map[string]any) {
			if b["summary"] != m.Subject || b["details"] != m.Text || b["sev"] != "critical" || get(t, b, "to", 0) != `"On call" <oncall@example.com>` || len(b) != 4 {
				t.Errorf("body = %v", b)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := startReceiver(t, false)
			tt.settings["url"] = rc.hookURL()
			tr := configure(t, tt.settings)
			receipt, err := sendOne(t, tr, m)
			if err != nil || receipt != "200 OK" {
				t.Fatalf("send = %q, %v; want receipt 200 OK", receipt, err)
			}
			got := rc.got()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			if r.Path != "/hooks/"+hookToken+"?api-version=1&sig="+hookSig {
				t.Errorf("path = %q", r.Path)
			}
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get(webhook.MessageIDHeader) != m.ID || !strings.HasPrefix(r.Header.Get("User-Agent"), "Tocsin webhook/") {
				t.Errorf("headers = %v", r.Header)
			}
			if r.Header.Get(webhook.TimestampHeader) != "" || r.Header.Get(webhook.DefaultSignatureHeader) != "" {
				t.Errorf("signed without hmac_secret: %v", r.Header)
			}
			tt.check(t, decode(t, r.Body))
		})
	}
}

// TestSignature verifies the signature as a receiver would, by hand and
// with webhook.Verify, and checks the extra headers.
func TestSignature(t *testing.T) {
	tests := []struct {
		name, header string
	}{
		{"default header", ""},
		{"own header", "X-Hub-Signature-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := startReceiver(t, false)
			s := map[string]any{"url": rc.hookURL(), "format": "slack", "hmac_secret": hmacSecret, "headers": []string{"Authorization: " + authValue, "X-Env: prod"}}
			want := webhook.DefaultSignatureHeader
			if tt.header != "" {
				s["signature_header"], want = tt.header, tt.header
			}
			tr := configure(t, s)
			if _, err := sendOne(t, tr, message("sig@node")); err != nil {
				t.Fatal(err)
			}
			r := rc.got()[0]
			ts, sig := r.Header.Get(webhook.TimestampHeader), r.Header.Get(want)
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
				t.Fatalf("timestamp header = %q", ts)
			}
			mac := hmac.New(sha256.New, []byte(hmacSecret))
			mac.Write([]byte(ts + "." + string(r.Body)))
			if sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
				t.Errorf("%s = %q, not the HMAC-SHA256 of timestamp.body", want, sig)
			}
			if err := webhook.Verify([]byte(hmacSecret), ts, sig, r.Body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if r.Header.Get("Authorization") != authValue || r.Header.Get("X-Env") != "prod" {
				t.Errorf("extra headers = %v", r.Header)
			}
		})
	}
	// What Verify refuses.
	body := []byte(`{"text":"x"}`)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	good := webhook.Sign([]byte(hmacSecret), ts, body)
	old := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)
	for _, c := range []struct {
		name, ts, sig string
		body          []byte
		secret        string
	}{
		{"changed body", ts, good, []byte(`{"text":"y"}`), hmacSecret},
		{"other secret", ts, good, body, "another-secret"},
		{"replayed later", old, webhook.Sign([]byte(hmacSecret), old, body), body, hmacSecret},
		{"timestamp changed", strconv.FormatInt(now.Unix()+1, 10), good, body, hmacSecret},
		{"no timestamp", "", good, body, hmacSecret},
	} {
		if err := webhook.Verify([]byte(c.secret), c.ts, c.sig, c.body, now, 5*time.Minute); err == nil {
			t.Errorf("%s: Verify accepted it", c.name)
		}
	}
}

// TestClassification answers with each kind of status and checks the
// error's kind, code, remedy and wait.
func TestClassification(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		status     int
		retryAfter string
		kind       sdk.Kind
		remedy     string
		wait       time.Duration // ± 5s for a date
	}{
		{http.StatusAccepted, "", 0, "", 0},
		{http.StatusNoContent, "", 0, "", 0},
		{http.StatusTooManyRequests, "7", sdk.Temporary, "slow down", 7 * time.Second},
		{http.StatusTooManyRequests, date, sdk.Temporary, "slow down", 90 * time.Second},
		{http.StatusServiceUnavailable, "120", sdk.Temporary, "trouble", 2 * time.Minute},
		{http.StatusInternalServerError, "", sdk.Temporary, "trouble", 0},
		{http.StatusBadGateway, "soon", sdk.Temporary, "trouble", 0},
		{http.StatusRequestTimeout, "", sdk.Temporary, "trouble", 0},
		{http.StatusNotFound, "5", sdk.Permanent, "deleted, or url is wrong", 0},
		{http.StatusGone, "", sdk.Permanent, "deleted, or url is wrong", 0},
		{http.StatusUnauthorized, "", sdk.Permanent, "hmac_secret", 0},
		{http.StatusForbidden, "", sdk.Permanent, "workflow", 0},
		{http.StatusBadRequest, "", sdk.Permanent, "check format", 0},
		{http.StatusRequestEntityTooLarge, "", sdk.Permanent, "shorter", 0},
		{http.StatusConflict, "", sdk.Permanent, "refused", 0},
		{http.StatusFound, "", sdk.Permanent, "redirect", 0},
	}
	rc := startReceiver(t, false)
	tr := configure(t, map[string]any{"url": rc.hookURL(), "format": "teams", "hmac_secret": hmacSecret})
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+" "+tt.retryAfter, func(t *testing.T) {
			rc.setAnswer(func(request) (int, http.Header, string) {
				h := http.Header{}
				if tt.retryAfter != "" {
					h.Set("Retry-After", tt.retryAfter)
				}
				if tt.status == http.StatusFound {
					h.Set("Location", "/elsewhere/"+hookToken)
				}
				// A receiver that echoes the request's URL.
				return tt.status, h, "error for /hooks/" + hookToken + "?sig=" + hookSig + " body"
			})
			receipt, err := sendOne(t, tr, message("c"+strconv.Itoa(tt.status)+"@node"))
			noSecret(t, "the result", append(texts(err), receipt)...)
			if tt.remedy == "" {
				if err != nil || receipt != strconv.Itoa(tt.status)+" "+http.StatusText(tt.status) {
					t.Fatalf("send = %q, %v; want delivered with the status line", receipt, err)
				}
				return
			}
			de := deliveryError(t, err, tt.kind)
			if de.Code != strconv.Itoa(tt.status) || !strings.HasPrefix(de.Reply, strconv.Itoa(tt.status)+" "+http.StatusText(tt.status)+": error for") {
				t.Errorf("code %q, reply %q", de.Code, de.Reply)
			}
			if !strings.Contains(de.Remedy, tt.remedy) {
				t.Errorf("remedy %q lacks %q", de.Remedy, tt.remedy)
			}
			if d := de.RetryAfter - tt.wait; d < -5*time.Second || d > 5*time.Second || (tt.wait == 0 && de.RetryAfter != 0) {
				t.Errorf("RetryAfter = %v, want %v", de.RetryAfter, tt.wait)
			}
		})
	}
}

// TestRetryAfter reads the header's two forms and bounds it.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		" 0 ":                           0,
		"-5":                            0,
		"x":                             0,
		"999999999999":                  24 * time.Hour,
		"Sun, 06 Dec 2026 12:02:00 GMT": 2 * time.Minute,
		"Sun, 06 Dec 2026 11:00:00 GMT": 0,
		"Mon, 01 Feb 2027 12:00:00 GMT": 24 * time.Hour,
	} {
		if got := webhook.RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestNetworkErrors: no answer is temporary, an untrusted certificate
// permanent, and neither error names the URL's secret parts.
func TestNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/hooks/" + hookToken + "?sig=" + hookSig
	_ = ln.Close()
	tlsRC := startReceiver(t, true)

	tests := []struct {
		name     string
		settings map[string]any
		kind     sdk.Kind
		remedy   string
	}{
		{"refused", map[string]any{"url": closed}, sdk.Temporary, "Cannot reach"},
		{"untrusted certificate", map[string]any{"url": tlsRC.hookURL()}, sdk.Permanent, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.settings["hmac_secret"] = hmacSecret
			tr := configure(t, tt.settings)
			_, err := sendOne(t, tr, message("net@node"))
			de := deliveryError(t, err, tt.kind)
			if !strings.Contains(de.Remedy, tt.remedy) {
				t.Errorf("remedy %q lacks %q", de.Remedy, tt.remedy)
			}
			if !strings.Contains(err.Error(), "/...") {
				t.Errorf("error %q does not name the webhook by its host", err)
			}
			noSecret(t, "send error", texts(err)...)
			cerr := tr.Check(t.Context())
			deliveryError(t, cerr, tt.kind)
			noSecret(t, "check error", texts(cerr)...)
		})
	}

	// With ca_file, or tls_skip_verify (warned), the TLS receiver takes it.
	for _, s := range []map[string]any{
		{"url": tlsRC.hookURL(), "ca_file": tlsRC.caFile(t)},
		{"url": tlsRC.hookURL(), "tls_skip_verify": true},
	} {
		tr := configure(t, s)
		if err := tr.Check(t.Context()); err != nil {
			t.Errorf("Check with %v: %v", s, err)
		}
		if _, err := sendOne(t, tr, message("tls@node")); err != nil {
			t.Errorf("send with %v: %v", s, err)
		}
	}
	if n := len(tlsRC.got()); n != 2 {
		t.Errorf("TLS receiver got %d requests, want 2 (none before trust)", n)
	}
}

// TestConfigure checks the diagnostics of bad settings: each names its
// setting and none quotes a secret.
func TestConfigure(t *testing.T) {
	good := "https://hooks.example.com/services/" + hookToken + "?sig=" + hookSig
	tests := []struct {
		name     string
		settings map[string]any
		attr     string
		severity sdk.Severity
		want     string
	}{
		{"no url", map[string]any{"url": ""}, "url", sdk.SeverityError, "url is empty"},
		{"not a URL", map[string]any{"url": "hooks.example.com/" + hookToken}, "url", sdk.SeverityError, "not an absolute"},
		{"ftp", map[string]any{"url": "ftp://hooks.example.com/" + hookToken}, "url", sdk.SeverityError, "not an absolute"},
		{"http", map[string]any{"url": "http://hooks.example.com/" + hookToken}, "url", sdk.SeverityWarning, "not https"},
		{"format", map[string]any{"url": good, "format": "discord"}, "format", sdk.SeverityError, "Unknown format"},
		{"template not JSON", map[string]any{"url": good, "body_template": `{"text": "{{.Subject}}"}`}, "body_template", sdk.SeverityError, "valid JSON"},
		{"template syntax", map[string]any{"url": good, "body_template": `{"text": {{json .Subject}`}, "body_template", sdk.SeverityError, "valid JSON"},
		{"template field", map[string]any{"url": good, "body_template": `{"text": {{json .Nope}}}`}, "body_template", sdk.SeverityError, "valid JSON"},
		{"template with teams", map[string]any{"url": good, "format": "teams", "body_template": `{}`}, "body_template", sdk.SeverityError, "format \"teams\""},
		{"username with slack", map[string]any{"url": good, "format": "slack", "username": "x"}, "username", sdk.SeverityWarning, "not used"},
		{"signature_header without secret", map[string]any{"url": good, "signature_header": "X-Sig"}, "signature_header", sdk.SeverityWarning, "hmac_secret is not"},
		{"bad signature_header", map[string]any{"url": good, "hmac_secret": hmacSecret, "signature_header": "X Sig"}, "signature_header", sdk.SeverityError, "not a header name"},
		{"bad header", map[string]any{"url": good, "headers": []string{authValue}}, "headers", sdk.SeverityError, "entry 1"},
		{"reserved header", map[string]any{"url": good, "headers": []string{"Content-Type: text/plain"}}, "headers", sdk.SeverityError, "Content-Type"},
		{"ca_file", map[string]any{"url": good, "ca_file": "/nonexistent/ca.pem"}, "ca_file", sdk.SeverityError, "ca_file"},
		{"timeout", map[string]any{"url": good, "timeout": "0s"}, "timeout", sdk.SeverityError, "not positive"},
		{"tls_skip_verify", map[string]any{"url": good, "tls_skip_verify": true}, "tls_skip_verify", sdk.SeverityWarning, "OFF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := webhook.New("test")
			diags, err := tr.Configure(t.Context(), sdk.Config{Transport: "chat", From: "t@example.com", Settings: settingsOf(t, tt.settings)})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range diags {
				noSecret(t, "diagnostic", d.Summary, d.Detail)
				if d.Attribute == tt.attr && d.Severity == tt.severity && strings.Contains(d.Summary+" "+d.Detail, tt.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("diags = %+v, want a %v on %s saying %q", diags, tt.severity, tt.attr, tt.want)
			}
			if _, err := tr.Send(t.Context(), []*sdk.Message{message("x@node")}); (err != nil) != (tt.severity == sdk.SeverityError) {
				t.Errorf("Send after Configure: %v", err)
			}
		})
	}
}

// TestTemplateOutputChecked: a template that makes JSON for the sample
// but not for every notification fails that message permanently.
func TestTemplateOutputChecked(t *testing.T) {
	rc := startReceiver(t, false)
	// Valid JSON only while the rule is not "raw".
	tr := configure(t, map[string]any{"url": rc.hookURL(), "body_template": `{{if eq .Rule "raw"}}{{.Text}}{{else}}{"t": {{json .Text}}}{{end}}`})
	m := message("raw@node")
	m.Headers[0].Value = "raw"
	_, err := sendOne(t, tr, m)
	de := deliveryError(t, err, sdk.Permanent)
	if !strings.Contains(de.Remedy, "{{json .Subject}}") || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("error %v, remedy %q", err, de.Remedy)
	}
	if len(rc.got()) != 0 {
		t.Error("the invalid body was sent")
	}
}

// TestBatch sends three messages; each gets its own result, in order.
func TestBatch(t *testing.T) {
	rc := startReceiver(t, false)
	rc.setAnswer(func(r request) (int, http.Header, string) {
		if r.Header.Get(webhook.MessageIDHeader) == "b2@node" {
			return http.StatusNotFound, nil, "no such hook"
		}
		return http.StatusAccepted, nil, ""
	})
	tr := configure(t, map[string]any{"url": rc.hookURL(), "format": "teams"})
	res, err := tr.Send(t.Context(), []*sdk.Message{message("b1@node"), message("b2@node"), message("b3@node")})
	if err != nil || len(res) != 3 {
		t.Fatalf("Send = %+v, %v", res, err)
	}
	if res[0].Err != nil || res[0].Receipt != "202 Accepted" || res[2].Err != nil || res[1].MessageID != "b2@node" {
		t.Errorf("results = %+v", res)
	}
	deliveryError(t, res[1].Err, sdk.Permanent)
	d, _ := tr.Describe(t.Context())
	if d.Batch {
		t.Error("Describe says Batch; the transport sends one request per message")
	}
}

// TestLimits: a long text is cut in the chat formats, saying so, and a
// long reply is cut in the error.
func TestLimits(t *testing.T) {
	rc := startReceiver(t, false)
	m := message("long@node")
	m.Text = strings.Repeat("é", 20000) // 40,000 bytes
	for _, format := range []string{"teams", "slack", "mattermost"} {
		tr := configure(t, map[string]any{"url": rc.hookURL(), "format": format})
		if _, err := sendOne(t, tr, m); err != nil {
			t.Fatal(err)
		}
		got := rc.got()
		body := got[len(got)-1].Body
		if !strings.Contains(string(body), "[cut by tocsin]") || len(body) > 30000 {
			t.Errorf("%s: %d bytes, want the text cut to 20,000 bytes with a note", format, len(body))
		}
	}
	tr := configure(t, map[string]any{"url": rc.hookURL(), "format": "slack"})
	rc.setAnswer(func(request) (int, http.Header, string) {
		return http.StatusBadGateway, nil, strings.Repeat("x", 70<<10)
	})
	_, err := sendOne(t, tr, message("reply@node"))
	de := deliveryError(t, err, sdk.Temporary)
	if len(de.Reply) > 1000 || !strings.Contains(de.Reply, "cut there") {
		t.Errorf("reply of %d bytes: %.200q...", len(de.Reply), de.Reply)
	}
}
