package gmail_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/gmail/gmail"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// sendOne sends m and returns its result, failing the test on a batch
// error.
func sendOne(t *testing.T, tr *gmail.Transport, m *sdk.Message) sdk.Result {
	t.Helper()
	results, err := tr.Send(t.Context(), []*sdk.Message{m})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(results) != 1 || results[0].MessageID != m.ID {
		t.Fatalf("results = %+v", results)
	}
	return results[0]
}

func TestTransport_Send(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, _ := g.serviceAccount(t, []string{gmail.ScopeSend}, mailbox)
	clientFile, clientID, _ := g.client(t)
	tests := []struct {
		name       string
		settings   map[string]any
		credential string
		wantGrant  func(testserver.GoogleOAuthCounts) int
	}{
		{
			name:      "service account",
			settings:  g.saSettings(keyFile, mailbox),
			wantGrant: func(c testserver.GoogleOAuthCounts) int { return c.JWTBearer },
		},
		{
			name:       "client and refresh token",
			settings:   g.clientSettings(clientFile),
			credential: g.refreshToken(t, clientID, mailbox),
			wantGrant:  func(c testserver.GoogleOAuthCounts) int { return c.RefreshToken },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.oauth.Counts()
			tr, diags := configure(t, config(t, tt.settings, tt.credential))
			if len(diags) != 0 {
				t.Fatalf("diagnostics: %+v", diags)
			}
			if err := tr.Check(t.Context()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			id := strings.ReplaceAll(tt.name, " ", "-") + "@tocsin.test"
			r := sendOne(t, tr, richMessage(id))
			if r.Err != nil {
				t.Fatalf("Send: %v", r.Err)
			}
			msgs := g.gmail.Messages()
			got := msgs[len(msgs)-1]
			if r.Receipt != "gmail id "+got.ID {
				t.Errorf("receipt = %q, want %q", r.Receipt, "gmail id "+got.ID)
			}
			if !got.Upload || got.UserID != "me" || got.Subject != mailbox {
				t.Errorf("received by upload %v for user %q acting for %q; want a media upload for \"me\" acting for %s", got.Upload, got.UserID, got.Subject, mailbox)
			}
			checkRich(t, got.Raw, id)
			if !bytes.Contains(got.Raw, []byte("User-Agent: Tocsin gmail/test\r\n")) {
				t.Errorf("no User-Agent naming the plugin in:\n%s", got.Raw)
			}
			after := g.oauth.Counts()
			if n := tt.wantGrant(after) - tt.wantGrant(before); n != 1 || after.Token-before.Token != 1 {
				t.Errorf("Check and Send made %d token requests (%d of the mode's grant), want 1", after.Token-before.Token, n)
			}
		})
	}
}

// TestTransport_Send_tokenCaching sends 50 messages, concurrently, within
// one token's lifetime: one token request serves them all.
func TestTransport_Send_tokenCaching(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, _ := g.serviceAccount(t, []string{gmail.ScopeSend}, mailbox)
	tr, _ := configure(t, config(t, g.saSettings(keyFile, mailbox), ""))
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			results, err := tr.Send(t.Context(), []*sdk.Message{message(fmt.Sprintf("cache-%d@tocsin.test", i))})
			if err == nil {
				err = results[0].Err
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Send: %v", err)
	}
	if got := len(g.gmail.Messages()); got != n {
		t.Errorf("Gmail received %d messages, want %d", got, n)
	}
	if c := g.oauth.Counts(); c.Token != 1 {
		t.Errorf("%d sends made %d token requests, want 1", n, c.Token)
	}
}

// TestTransport_Send_renewsBeforeExpiry uses tokens that live 5 s with a
// token_grace of 4 s: a send 1.1 s after the first fetches a new token
// (the old one expires within the grace), and no send meets an expired
// token.
func TestTransport_Send_renewsBeforeExpiry(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{TokenLifetime: 5 * time.Second})
	keyFile, _ := g.serviceAccount(t, nil, mailbox)
	m := g.saSettings(keyFile, mailbox)
	m["token_grace"] = "4s"
	tr, _ := configure(t, config(t, m, ""))
	for i, wantTokens := range []int{1, 1, 2} {
		if i == 2 {
			time.Sleep(1100 * time.Millisecond)
		}
		if r := sendOne(t, tr, message(fmt.Sprintf("renew-%d@tocsin.test", i))); r.Err != nil {
			t.Fatalf("send %d: %v", i, r.Err)
		}
		if got := g.oauth.Counts().Token; got != wantTokens {
			t.Errorf("after send %d: %d token requests, want %d", i, got, wantTokens)
		}
	}
	if n := g.gmail.Requests(); n != 3 {
		t.Errorf("Gmail had %d requests for 3 sends: a send was refused and retried", n)
	}
}

// TestTransport_Send_errors provokes each error from the stand-ins and
// checks its classification and remedy.
func TestTransport_Send_errors(t *testing.T) {
	t.Parallel()
	const readonly = "https://www.googleapis.com/auth/gmail.readonly"
	tests := []struct {
		name string
		// setup returns the settings and credential, and may queue
		// failures on the Gmail server.
		setup       func(t *testing.T, g *google) (map[string]any, string)
		wantKind    sdk.Kind
		wantCode    string
		wantReply   string
		wantRemedy  []string
		wantGmail   int  // requests that reach Gmail
		checkFailed bool // Check fails too (a token error)
	}{
		{
			name: "undelegated subject",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				keyFile, _ := g.serviceAccount(t, nil, mailbox)
				return g.saSettings(keyFile, "ceo@example.com"), ""
			},
			wantKind: sdk.Permanent, wantCode: "unauthorized_client", wantReply: "unauthorized_client",
			wantRemedy:  []string{"Domain-wide delegation", "client ID"},
			checkFailed: true,
		},
		{
			name: "scope not delegated",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				keyFile, _ := g.serviceAccount(t, []string{readonly}, mailbox)
				return g.saSettings(keyFile, mailbox), ""
			},
			wantKind: sdk.Permanent, wantCode: "unauthorized_client",
			wantRemedy:  []string{"Domain-wide delegation"},
			checkFailed: true,
		},
		{
			name: "insufficientPermissions: delegated only for another scope",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				keyFile, _ := g.serviceAccount(t, []string{readonly}, mailbox)
				m := g.saSettings(keyFile, mailbox)
				m["scopes"] = []string{readonly}
				return m, ""
			},
			wantKind: sdk.Permanent, wantCode: "insufficientPermissions", wantReply: "403 PERMISSION_DENIED: Request had insufficient authentication scopes.",
			wantRemedy: []string{"gmail.send", "Domain-wide delegation", "client ID"},
			wantGmail:  1,
		},
		{
			name: "insufficientPermissions: client logged in for another scope",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				clientFile, clientID, _ := g.client(t)
				m := g.clientSettings(clientFile)
				m["scopes"] = []string{readonly}
				return m, g.refreshToken(t, clientID, mailbox, readonly)
			},
			wantKind: sdk.Permanent, wantCode: "insufficientPermissions",
			wantRemedy: []string{"tocsin oauth login", "gmail.send"},
			wantGmail:  1,
		},
		{
			name: "failedPrecondition",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				keyFile, _ := g.serviceAccount(t, nil, mailbox)
				g.gmail.FailNext(testserver.GmailFailedPrecondition)
				return g.saSettings(keyFile, mailbox), ""
			},
			wantKind: sdk.Permanent, wantCode: "failedPrecondition", wantReply: "400 FAILED_PRECONDITION: Precondition check failed.",
			wantRemedy: []string{"subject", "no mailbox", "Gmail is enabled"},
			wantGmail:  1,
		},
		{
			name: "rate limit",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				keyFile, _ := g.serviceAccount(t, nil, mailbox)
				g.gmail.FailNext(testserver.GmailRateLimitExceeded)
				return g.saSettings(keyFile, mailbox), ""
			},
			wantKind: sdk.Temporary, wantCode: "rateLimitExceeded", wantReply: "429 RESOURCE_EXHAUSTED: Rate Limit Exceeded",
			wantRemedy: []string{"sending limits", "hours"},
			wantGmail:  1,
		},
		{
			name: "user rate limit",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				keyFile, _ := g.serviceAccount(t, nil, mailbox)
				g.gmail.FailNext(testserver.GmailUserRateLimitExceeded)
				return g.saSettings(keyFile, mailbox), ""
			},
			wantKind: sdk.Temporary, wantCode: "userRateLimitExceeded",
			wantRemedy: []string{"hours"},
			wantGmail:  1,
		},
		{
			name: "401 twice",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				keyFile, _ := g.serviceAccount(t, nil, mailbox)
				g.gmail.FailNext(testserver.GmailAuthError, testserver.GmailAuthError)
				return g.saSettings(keyFile, mailbox), ""
			},
			wantKind: sdk.Temporary, wantCode: "authError", wantReply: "401 UNAUTHENTICATED",
			wantRemedy: []string{"retries"},
			wantGmail:  2,
		},
		{
			name: "revoked refresh token",
			setup: func(t *testing.T, g *google) (map[string]any, string) {
				clientFile, clientID, _ := g.client(t)
				rt := g.refreshToken(t, clientID, mailbox)
				g.oauth.RevokeRefreshToken(rt)
				return g.clientSettings(clientFile), rt
			},
			wantKind: sdk.Permanent, wantCode: "invalid_grant", wantReply: "expired or revoked",
			wantRemedy:  []string{"tocsin oauth login"},
			checkFailed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := startGoogle(t, testserver.GoogleOAuthOptions{})
			m, credential := tt.setup(t, g)
			tr, _ := configure(t, config(t, m, credential))
			msgs := []*sdk.Message{message("err-1@tocsin.test"), message("err-2@tocsin.test")}
			results, err := tr.Send(t.Context(), msgs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if len(results) != 2 {
				t.Fatalf("results = %+v", results)
			}
			de := deliveryError(t, results[0].Err)
			if de.Kind != tt.wantKind || de.Code != tt.wantCode {
				t.Errorf("error %v: kind %v, code %q; want %v, %q", de, de.Kind, de.Code, tt.wantKind, tt.wantCode)
			}
			if !strings.Contains(de.Reply, tt.wantReply) {
				t.Errorf("reply = %q, want it to contain %q", de.Reply, tt.wantReply)
			}
			for _, w := range tt.wantRemedy {
				if !strings.Contains(de.Remedy, w) {
					t.Errorf("remedy %q does not mention %q", de.Remedy, w)
				}
			}
			// The error concerns the credential or the mailbox: the
			// second message is not tried.
			if results[1].Err != results[0].Err {
				t.Errorf("second message: %v; want the first one's error", results[1].Err)
			}
			if got := g.gmail.Requests(); got != tt.wantGmail {
				t.Errorf("Gmail had %d requests, want %d", got, tt.wantGmail)
			}
			if len(g.gmail.Messages()) != 0 {
				t.Errorf("Gmail accepted %d messages", len(g.gmail.Messages()))
			}
			checkErr := tr.Check(t.Context())
			if tt.checkFailed {
				if c := deliveryError(t, checkErr); c.Code != tt.wantCode || c.Kind != tt.wantKind {
					t.Errorf("Check error = %v, want the send's", checkErr)
				}
			} else if checkErr != nil {
				t.Errorf("Check: %v", checkErr)
			}
		})
	}
}

// TestTransport_Send_retriesUnauthorized: a token Gmail rejects is
// dropped, a new one fetched, and the message sent.
func TestTransport_Send_retriesUnauthorized(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, _ := g.serviceAccount(t, nil, mailbox)
	tr, _ := configure(t, config(t, g.saSettings(keyFile, mailbox), ""))
	g.gmail.FailNext(testserver.GmailAuthError)
	if r := sendOne(t, tr, message("retry@tocsin.test")); r.Err != nil {
		t.Fatalf("Send: %v", r.Err)
	}
	if got := g.oauth.Counts().Token; got != 2 {
		t.Errorf("%d token requests, want 2 (the first token, and one after the 401)", got)
	}
	if got := g.gmail.Requests(); got != 2 || len(g.gmail.Messages()) != 1 {
		t.Errorf("Gmail had %d requests and accepted %d messages; want 2 and 1", got, len(g.gmail.Messages()))
	}
}

// TestTransport_Send_batch: a message that cannot be sent fails alone, the
// batch goes on; a message with only Bcc recipients carries them in a Bcc
// header.
func TestTransport_Send_batch(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, _ := g.serviceAccount(t, nil, mailbox)
	tr, _ := configure(t, config(t, g.saSettings(keyFile, mailbox), ""))
	// Not 35 MiB: building that takes seconds under the race detector.
	const limit = 64 << 10
	tr.SetMaxMessageBytes(limit)

	invalid := message("invalid@tocsin.test")
	invalid.To = nil
	big := message("big@tocsin.test")
	big.Attachments = []sdk.Attachment{{Filename: "core.bin", Data: make([]byte, limit*3/4)}}
	if _, err := rand.Read(big.Attachments[0].Data); err != nil {
		t.Fatal(err)
	}
	bccOnly := message("bcc@tocsin.test")
	bccOnly.To = nil
	bccOnly.Bcc = []sdk.Address{{Name: "Audit, Team", Address: "audit@example.com"}, {Address: "ciso@example.com"}}
	msgs := []*sdk.Message{message("first@tocsin.test"), invalid, big, bccOnly}

	results, err := tr.Send(t.Context(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	for _, i := range []int{0, 3} {
		if results[i].Err != nil || !strings.HasPrefix(results[i].Receipt, "gmail id ") {
			t.Errorf("message %d: %+v", i, results[i])
		}
	}
	if de := deliveryError(t, results[1].Err); de.Kind != sdk.Permanent || !strings.Contains(de.Error(), "no recipient") {
		t.Errorf("message without recipient: %v, want a permanent error", de)
	}
	if de := deliveryError(t, results[2].Err); de.Kind != sdk.Permanent || de.Code != "uploadTooLarge" || !strings.Contains(de.Remedy, "35 MiB") || !strings.Contains(de.Error(), fmt.Sprintf("more than the %d", limit)) {
		t.Errorf("message over 35 MiB: %v (remedy %q), want permanent uploadTooLarge", de, de.Remedy)
	}
	got := g.gmail.Messages()
	if len(got) != 2 || g.gmail.Requests() != 2 {
		t.Fatalf("Gmail had %d requests and accepted %d messages, want 2 and 2", g.gmail.Requests(), len(got))
	}
	// Gmail takes Bcc recipients from the header (and removes it).
	h, _ := parseMessage(t, got[1].Raw)
	bcc, err := h.AddressList("Bcc")
	if err != nil || len(bcc) != 2 || bcc[0].Address != "audit@example.com" || bcc[0].Name != "Audit, Team" || bcc[1].Address != "ciso@example.com" {
		t.Errorf("Bcc = %v (%v), want both Bcc recipients", bcc, err)
	}
	if h.Get("To") != "" {
		t.Errorf("To = %q in a Bcc-only message", h.Get("To"))
	}
}

// TestTransport_Send_batchEnds: an error about the mailbox ends the batch,
// and a cancelled context stops it with temporary errors.
func TestTransport_Send_batchEnds(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, _ := g.serviceAccount(t, nil, mailbox)
	tr, _ := configure(t, config(t, g.saSettings(keyFile, mailbox), ""))
	msgs := []*sdk.Message{message("a@tocsin.test"), message("b@tocsin.test"), message("c@tocsin.test")}

	g.gmail.FailNext(testserver.GmailUserRateLimitExceeded)
	results, err := tr.Send(t.Context(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if de := deliveryError(t, r.Err); de.Kind != sdk.Temporary || de.Code != "userRateLimitExceeded" || r.MessageID != msgs[i].ID {
			t.Errorf("result %d = %+v, want the rate limit", i, r)
		}
	}
	if got := g.gmail.Requests(); got != 1 {
		t.Errorf("Gmail had %d requests, want 1: the rate limit ends the batch", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	results, err = tr.Send(ctx, msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err == nil || !sdk.IsTemporary(r.Err) {
			t.Errorf("cancelled result %d = %+v, want a temporary error", i, r)
		}
	}
	if got := g.gmail.Requests(); got != 1 {
		t.Errorf("a cancelled Send reached Gmail")
	}
}

// TestTransport_noRefreshToken: a client without a stored refresh token
// configures with a warning, and Check and Send fail permanently, naming
// the login command, without asking Google.
func TestTransport_noRefreshToken(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	clientFile, _, _ := g.client(t)
	cfg := config(t, g.clientSettings(clientFile), "")
	cfg.Transport = "google-api"
	tr, diags := configure(t, cfg)
	const cmd = `tocsin oauth login -config PATH -transport google-api`
	if len(diags) != 1 || diags[0].Severity != sdk.SeverityWarning || !strings.Contains(diags[0].Summary, `"google-api"`) || !strings.Contains(diags[0].Detail, cmd) {
		t.Fatalf("diagnostics = %+v, want a warning naming %q", diags, cmd)
	}
	results, sendErr := tr.Send(t.Context(), []*sdk.Message{message("no-token@tocsin.test")})
	if results != nil {
		t.Errorf("results %+v with a batch error", results)
	}
	for name, err := range map[string]error{"Check": tr.Check(t.Context()), "Send": sendErr} {
		de := deliveryError(t, err)
		if de.Kind != sdk.Permanent || !strings.Contains(de.Error(), `no refresh token stored for transport "google-api"`) || !strings.Contains(de.Remedy, cmd) {
			t.Errorf("%s error = %v (remedy %q); want permanent, naming %q", name, err, de.Remedy, cmd)
		}
	}
	if _, err := tr.LoginConfig(t.Context()); err != nil {
		t.Errorf("LoginConfig before login: %v", err)
	}
	if n := g.oauth.Counts().Token + g.gmail.Requests(); n != 0 {
		t.Errorf("%d requests reached Google", n)
	}
}

// TestTransport_Send_rotation: a refresh token the token endpoint replaces
// goes to SaveCredential, and the next refresh uses it.
func TestTransport_Send_rotation(t *testing.T) {
	t.Parallel()
	r := startRotating(t)
	var mu sync.Mutex
	var saved []string
	cfg := config(t, r.settings(), r.initial)
	cfg.SaveCredential = func(v string) {
		mu.Lock()
		saved = append(saved, v)
		mu.Unlock()
	}
	tr, _ := configure(t, cfg)
	for i := range 3 {
		if res := sendOne(t, tr, message(fmt.Sprintf("rotate-%d@tocsin.test", i))); res.Err != nil {
			t.Fatalf("send %d: %v", i, res.Err)
		}
		// Gmail answers 401 to the next send: its token is refreshed.
		r.gmail.FailNext(testserver.GmailAuthError)
	}
	mu.Lock()
	defer mu.Unlock()
	used := r.used()
	if len(used) != 3 || used[0] != r.initial || len(saved) != 3 {
		t.Fatalf("refresh tokens used %d, saved %d; want 3 and 3", len(used), len(saved))
	}
	for i := 1; i < 3; i++ {
		if used[i] != saved[i-1] {
			t.Errorf("refresh %d used token %d, not the one saved before it", i, i)
		}
	}
}

func TestMessage_headerInjection(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, _ := g.serviceAccount(t, nil, mailbox)
	tr, _ := configure(t, config(t, g.saSettings(keyFile, mailbox), ""))
	m := message("inject@tocsin.test")
	m.Bcc = []sdk.Address{{Name: "x\r\nX-Evil: 1", Address: "a@example.com\r\nX-Evil: 2"}}
	if r := sendOne(t, tr, m); r.Err != nil {
		t.Fatal(r.Err)
	}
	raw := g.gmail.Messages()[0].Raw
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("X-Evil") != "" {
		t.Errorf("a Bcc value added a header:\n%s", raw)
	}
}
