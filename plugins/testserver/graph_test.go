package testserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

const graphTestBody = `{"message":{"subject":"disk full","body":{"contentType":"Text","content":"hi"},
"toRecipients":[{"emailAddress":{"address":"oncall@example.com","name":"On call"}}],
"ccRecipients":[{"emailAddress":{"address":"cc@example.com"}}],
"bccRecipients":[{"emailAddress":{"address":"bcc@example.com"}}],
"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentType":"text/plain","contentBytes":"aGVsbG8="}],
"internetMessageHeaders":[{"name":"X-Tocsin-Alert","value":"disk"}]},"saveToSentItems":false}`

func TestGraphSendMail(t *testing.T) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	g := StartGraphT(t, ca, GraphOptions{Validate: func(tok string) ([]string, error) {
		switch tok {
		case "app":
			return []string{GraphRoleMailSend}, nil
		case "delegated":
			return []string{"User.Read"}, nil
		}
		return nil, errors.New("bad token")
	}, MaxRequestBytes: 1 << 20})
	g.DisableMailbox("NoExchange@example.com")
	c := googleTestClient(ca)
	mime := base64.StdEncoding.EncodeToString([]byte("To: a@example.com\r\nSubject: x\r\n\r\nbody\r\n"))
	withMsg := func(from, to string) string { return strings.Replace(graphTestBody, from, to, 1) }
	tests := []struct {
		name     string
		user     string
		ctype    string
		token    string
		body     string
		throttle bool
		status   int
		code     string
	}{
		{"ok", "ops@example.com", "application/json", "app", graphTestBody, false, 202, ""},
		{"ok minimal", "0f4c1b2a-id", "application/json", "app", `{"message":{"subject":"s","body":{"contentType":"HTML","content":"<b>x</b>"},"toRecipients":[{"emailAddress":{"address":"a@example.com"}}]}}`, false, 202, ""},
		{"ok mime", "ops@example.com", "text/plain", "app", mime, false, 202, ""},
		{"bad mime", "ops@example.com", "text/plain", "app", "!!!", false, 400, "ErrorMimeContentInvalidBase64String"},
		{"unknown field", "ops@example.com", "application/json", "app", withMsg(`"subject"`, `"importance":"high","subject"`), false, 400, "RequestBodyRead"},
		{"unknown top field", "ops@example.com", "application/json", "app", withMsg(`"saveToSentItems"`, `"foo":1,"saveToSentItems"`), false, 400, "RequestBodyRead"},
		{"bad content type", "ops@example.com", "application/json", "app", withMsg(`"Text"`, `"Markdown"`), false, 400, "RequestBodyRead"},
		{"bad header", "ops@example.com", "application/json", "app", withMsg(`X-Tocsin-Alert`, `Tocsin-Alert`), false, 400, "InvalidInternetMessageHeader"},
		{"bad attachment type", "ops@example.com", "application/json", "app", withMsg(`fileAttachment`, `itemAttachment`), false, 400, "RequestBodyRead"},
		{"bad base64", "ops@example.com", "application/json", "app", withMsg(`aGVsbG8=`, `***`), false, 400, "RequestBodyRead"},
		{"no recipients", "ops@example.com", "application/json", "app", `{"message":{"subject":"s","body":{"contentType":"Text","content":"x"}}}`, false, 400, "ErrorInvalidRecipients"},
		{"no message", "ops@example.com", "application/json", "app", `{}`, false, 400, "ErrorInvalidParameter"},
		{"no token", "ops@example.com", "application/json", "", graphTestBody, false, 401, "InvalidAuthenticationToken"},
		{"bad token", "ops@example.com", "application/json", "nope", graphTestBody, false, 401, "InvalidAuthenticationToken"},
		{"no Mail.Send", "ops@example.com", "application/json", "delegated", graphTestBody, false, 403, "ErrorAccessDenied"},
		{"no mailbox", "noexchange@example.com", "application/json", "app", graphTestBody, false, 404, "MailboxNotEnabledForRESTAPI"},
		{"too large", "ops@example.com", "application/json", "app", withMsg(`"hi"`, `"`+strings.Repeat("x", 1<<20)+`"`), false, 413, "RequestEntityTooLarge"},
		{"throttled", "ops@example.com", "application/json", "app", graphTestBody, true, 429, "ApplicationThrottled"},
		{"content type", "ops@example.com", "application/xml", "app", graphTestBody, false, 415, "UnsupportedMediaType"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.throttle {
				g.Throttle(1, 7*time.Second)
			}
			req, _ := http.NewRequest("POST", g.URL()+"/v1.0/users/"+tt.user+"/sendMail", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			req.Header.Set("client-request-id", "c-1")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 202 {
				var b [1]byte
				if n, _ := resp.Body.Read(b[:]); n != 0 {
					t.Error("202 with a body")
				}
				return
			}
			var out struct {
				Error struct {
					Code, Message string
					InnerError    map[string]string `json:"innerError"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			ie := out.Error.InnerError
			if out.Error.Code != tt.code || out.Error.Message == "" || ie["date"] == "" || ie["request-id"] == "" || ie["client-request-id"] != "c-1" {
				t.Errorf("error %+v, want %s", out.Error, tt.code)
			}
			if tt.throttle && resp.Header.Get("Retry-After") != "7" {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		})
	}
	msgs := g.Messages()
	if len(msgs) != 3 {
		t.Fatalf("messages %+v", msgs)
	}
	m := msgs[0]
	if m.User != "ops@example.com" || m.SaveToSentItems || m.Message.Subject != "disk full" ||
		m.Message.ToRecipients[0].EmailAddress.Name != "On call" || len(m.Message.BccRecipients) != 1 ||
		string(m.Message.Attachments[0].ContentBytes) != "hello" || m.Message.InternetMessageHeaders[0].Value != "disk" {
		t.Errorf("message %+v", m)
	}
	if !msgs[1].SaveToSentItems || msgs[1].Message.Body.ContentType != "HTML" || !strings.HasPrefix(string(msgs[2].MIME), "To: a@example.com") {
		t.Errorf("messages %+v", msgs[1:])
	}
	if g.Requests() != len(tests) {
		t.Errorf("requests %d", g.Requests())
	}
}
