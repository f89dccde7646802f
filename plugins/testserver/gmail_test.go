package testserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func gmailTestServer(t *testing.T) (*Gmail, *http.Client) {
	ca, err := NewCA()
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]struct {
		sub    string
		scopes []string
	}{
		"good":     {"ops@example.com", []string{GmailScopeSend}},
		"full":     {"ops@example.com", []string{GmailScopeFull}},
		"readonly": {"ops@example.com", []string{"https://www.googleapis.com/auth/gmail.readonly"}},
		"nosub":    {"", []string{GmailScopeSend}},
	}
	g := StartGmailT(t, ca, GmailOptions{Validate: func(tok string) (string, []string, error) {
		v, ok := tokens[tok]
		if !ok {
			return "", nil, errors.New("bad token")
		}
		return v.sub, v.scopes, nil
	}})
	return g, googleTestClient(ca)
}

const gmailTestMsg = "From: ops@example.com\r\nTo: oncall@example.com\r\nSubject: disk full\r\n\r\nbody\r\n"

func TestGmailSend(t *testing.T) {
	g, c := gmailTestServer(t)
	jsonBody := func(raw string) string {
		return `{"raw":"` + base64.URLEncoding.EncodeToString([]byte(raw)) + `"}`
	}
	tests := []struct {
		name   string
		upload bool
		path   string
		ctype  string
		token  string
		body   string
		fail   GmailFailure
		status int
		reason string
	}{
		{"upload ok", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "good", gmailTestMsg, 0, 200, ""},
		{"json ok", false, "/gmail/v1/users/ops@example.com/messages/send", "application/json", "full", jsonBody(gmailTestMsg), 0, 200, ""},
		{"json unpadded", false, "/gmail/v1/users/me/messages/send", "application/json", "good", `{"raw":"` + base64.RawURLEncoding.EncodeToString([]byte(gmailTestMsg)) + `"}`, 0, 200, ""},
		{"json unknown field", false, "/gmail/v1/users/me/messages/send", "application/json", "good", `{"raw":"eA","labelIds":[]}`, 0, 400, "invalid"},
		{"json std base64", false, "/gmail/v1/users/me/messages/send", "application/json", "good", `{"raw":"a+b/"}`, 0, 400, "invalidArgument"},
		{"no recipients", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "good", "Subject: x\r\n\r\nbody\r\n", 0, 400, "invalidArgument"},
		{"wrong media type", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "text/plain", "good", gmailTestMsg, 0, 400, "badContent"},
		{"no uploadType", true, "/upload/gmail/v1/users/me/messages/send", "message/rfc822", "good", gmailTestMsg, 0, 400, "badRequest"},
		{"too large", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "good", gmailTestMsg + strings.Repeat("x", GmailMaxMessageBytes), 0, 413, "uploadTooLarge"},
		{"bad token", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "nope", gmailTestMsg, 0, 401, "authError"},
		{"no token", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "", gmailTestMsg, 0, 401, "authError"},
		{"scope", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "readonly", gmailTestMsg, 0, 403, "insufficientPermissions"},
		{"no subject", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "nosub", gmailTestMsg, 0, 400, "failedPrecondition"},
		{"other user", true, "/upload/gmail/v1/users/ceo@example.com/messages/send?uploadType=media", "message/rfc822", "good", gmailTestMsg, 0, 403, "forbidden"},
		{"knob rate", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "good", gmailTestMsg, GmailRateLimitExceeded, 429, "rateLimitExceeded"},
		{"knob user rate", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "good", gmailTestMsg, GmailUserRateLimitExceeded, 429, "userRateLimitExceeded"},
		{"knob precondition", true, "/upload/gmail/v1/users/me/messages/send?uploadType=media", "message/rfc822", "good", gmailTestMsg, GmailFailedPrecondition, 400, "failedPrecondition"},
		{"knob auth", false, "/gmail/v1/users/me/messages/send", "application/json", "good", jsonBody(gmailTestMsg), GmailAuthError, 401, "authError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fail != 0 {
				g.FailNext(tt.fail)
			}
			req, _ := http.NewRequest("POST", g.URL()+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				ID       string   `json:"id"`
				ThreadID string   `json:"threadId"`
				LabelIDs []string `json:"labelIds"`
				Error    struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
					Errors  []struct {
						Domain, Reason, Message string
					} `json:"errors"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %+v", resp.StatusCode, tt.status, out)
			}
			if tt.status == 200 {
				if out.ID == "" || out.ThreadID != out.ID || len(out.LabelIDs) != 1 || out.LabelIDs[0] != "SENT" {
					t.Errorf("response %+v", out)
				}
				return
			}
			if out.Error.Code != tt.status || out.Error.Status == "" || out.Error.Message == "" || len(out.Error.Errors) != 1 ||
				out.Error.Errors[0].Reason != tt.reason || out.Error.Errors[0].Domain != "global" {
				t.Errorf("error %+v, want reason %s", out.Error, tt.reason)
			}
		})
	}
	msgs := g.Messages()
	if len(msgs) != 3 || !bytes.Equal(msgs[0].Raw, []byte(gmailTestMsg)) || !msgs[0].Upload || msgs[1].Upload ||
		msgs[1].UserID != "ops@example.com" || msgs[2].Subject != "ops@example.com" || !bytes.Equal(msgs[2].Raw, []byte(gmailTestMsg)) {
		t.Errorf("messages %+v", msgs)
	}
	if g.Requests() != len(tests) {
		t.Errorf("requests %d", g.Requests())
	}
}

func TestGmailWithGoogleOAuth(t *testing.T) {
	ca, _ := NewCA()
	o := StartGoogleOAuthT(t, ca, GoogleOAuthOptions{})
	g := StartGmailT(t, ca, GmailOptions{Validate: o.GmailValidator()})
	if _, err := StartGmail(ca, GmailOptions{}); err == nil {
		t.Error("StartGmail without Validate succeeded")
	}
	c := googleTestClient(ca)
	js, err := o.NewServiceAccount("alerts", []string{GmailScopeSend}, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var sa googleTestSA
	_ = json.Unmarshal(js, &sa)
	now := time.Now().Unix()
	send := func(sub string) (*http.Response, string) {
		claims := map[string]any{"iss": sa.ClientEmail, "scope": GmailScopeSend, "aud": sa.TokenURI, "exp": now + 3600, "iat": now - 10}
		if sub != "" {
			claims["sub"] = sub
		}
		status, out := googlePostForm(t, c, sa.TokenURI, url.Values{"grant_type": {GoogleGrantJWTBearer}, "assertion": {googleSignJWT(t, sa, claims)}}, [2]string{})
		if status != 200 {
			t.Fatalf("token: %d %v", status, out)
		}
		req, _ := http.NewRequest("POST", g.URL()+"/upload/gmail/v1/users/me/messages/send?uploadType=media", strings.NewReader(gmailTestMsg))
		req.Header.Set("Content-Type", "message/rfc822")
		req.Header.Set("Authorization", "Bearer "+out["access_token"].(string))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	if resp, body := send("ops@example.com"); resp.StatusCode != 200 {
		t.Errorf("delegated send: %d %s", resp.StatusCode, body)
	}
	if resp, body := send(""); resp.StatusCode != 400 || !strings.Contains(body, "failedPrecondition") {
		t.Errorf("undelegated send: %d %s", resp.StatusCode, body)
	}
	if m := g.Messages(); len(m) != 1 || m[0].Subject != "ops@example.com" {
		t.Errorf("messages %+v", m)
	}

	req, _ := http.NewRequest("POST", g.URL()+"/upload/gmail/v1/users/me/messages/send?uploadType=media", strings.NewReader(gmailTestMsg))
	req.Header.Set("Content-Type", "message/rfc822")
	req.Header.Set("Authorization", "Bearer ya29.unknown")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("status %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
