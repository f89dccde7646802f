package gmail_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/gmail/gmail"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// These tests run the real tocsin-plugin-gmail binary through the agent's
// plugin host, over go-plugin's gRPC, as the agent does.

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startPlugin returns an instance of the built gmail plugin for a transport
// named "gmail", logging (the plugin's stderr included) to the returned
// buffer.
func startPlugin(t *testing.T) (*pluginhost.Instance, *syncBuffer) {
	t.Helper()
	dir := sdktest.PluginDir(t, map[string]string{"gmail": "github.com/tocsin-dev/tocsin/plugins/gmail"})
	logs := &syncBuffer{}
	h := pluginhost.New(hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs}), dir)
	t.Cleanup(h.Close)
	return h.Instance(pluginhost.Spec{Name: "gmail", Plugin: "gmail"}), logs
}

func pluginCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sendRich sends a rich message through in, checks it arrived intact and
// returns what Gmail received.
func sendRich(t *testing.T, in *pluginhost.Instance, g *testserver.Gmail, id string) testserver.GmailMessage {
	t.Helper()
	results, err := in.Send(pluginCtx(t), []*sdk.Message{richMessage(id)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(results) != 1 || results[0].Err != nil || results[0].MessageID != id {
		t.Fatalf("results = %+v", results)
	}
	msgs := g.Messages()
	if len(msgs) == 0 {
		t.Fatal("Gmail received nothing")
	}
	got := msgs[len(msgs)-1]
	if results[0].Receipt != "gmail id "+got.ID {
		t.Errorf("receipt = %q, want %q", results[0].Receipt, "gmail id "+got.ID)
	}
	if !got.Upload || got.UserID != "me" || got.Subject != mailbox {
		t.Errorf("received by upload %v for %q acting for %q; want a media upload for \"me\" acting for %s", got.Upload, got.UserID, got.Subject, mailbox)
	}
	checkRich(t, got.Raw, id)
	return got
}

func TestPlugin_serviceAccount(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	keyFile, privateKey := g.serviceAccount(t, []string{gmail.ScopeSend}, mailbox)
	in, logs := startPlugin(t)
	diags, err := in.Configure(pluginCtx(t), config(t, g.saSettings(keyFile, mailbox), ""))
	if err != nil || len(diags) != 0 {
		t.Fatalf("Configure: %+v, %v", diags, err)
	}
	if err := in.Check(pluginCtx(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	sendRich(t, in, g.gmail, "sa-rich@tocsin.test")
	if c := g.oauth.Counts(); c.Token != 1 || c.JWTBearer != 1 {
		t.Errorf("token requests %+v, want one JWT-bearer grant for Check and Send", c)
	}
	if lc, err := in.LoginConfig(pluginCtx(t)); !errors.Is(err, sdk.ErrNoLogin) || !strings.Contains(err.Error(), "service account") {
		t.Errorf("LoginConfig = %+v, %v; want an error: a service account needs no login", lc, err)
	}
	noSecrets(t, []string{keyBody(privateKey), "PRIVATE KEY-----"}, logs.String())
}

func TestPlugin_client(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	clientFile, clientID, clientSecret := g.client(t)
	refresh := g.refreshToken(t, clientID, mailbox)
	in, logs := startPlugin(t)
	diags, err := in.Configure(pluginCtx(t), config(t, g.clientSettings(clientFile), refresh))
	if err != nil || len(diags) != 0 {
		t.Fatalf("Configure: %+v, %v", diags, err)
	}
	lc, err := in.LoginConfig(pluginCtx(t))
	if err != nil {
		t.Fatalf("LoginConfig: %v", err)
	}
	if lc.ClientID != clientID || lc.ClientSecret != clientSecret || lc.AuthURL != g.oauth.AuthURL() || lc.TokenURL != g.oauth.TokenURL() ||
		!slices.Equal(lc.Scopes, []string{gmail.ScopeSend}) || lc.AuthParams["access_type"] != "offline" || lc.AuthParams["prompt"] != "consent" ||
		lc.DeviceAuthURL != "" || lc.NoDeviceReason == "" || len(lc.CACertsPEM) == 0 || lc.Account != mailbox {
		t.Errorf("login config over gRPC: %+v", lc)
	}
	if err := in.Check(pluginCtx(t)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	sendRich(t, in, g.gmail, "client-rich@tocsin.test")
	if c := g.oauth.Counts(); c.Token != 1 || c.RefreshToken != 1 {
		t.Errorf("token requests %+v, want one refresh grant for Check and Send", c)
	}
	noSecrets(t, []string{refresh, clientSecret}, logs.String())
}

// TestPlugin_noRefreshToken: before `tocsin oauth login`, the plugin
// configures with a warning and refuses to send, naming the command.
func TestPlugin_noRefreshToken(t *testing.T) {
	t.Parallel()
	g := startGoogle(t, testserver.GoogleOAuthOptions{})
	clientFile, _, _ := g.client(t)
	in, _ := startPlugin(t)
	diags, err := in.Configure(pluginCtx(t), config(t, g.clientSettings(clientFile), ""))
	const cmd = "tocsin oauth login -config PATH -transport gmail"
	if err != nil || len(diags) != 1 || diags[0].Severity != sdk.SeverityWarning || !strings.Contains(diags[0].Detail, cmd) {
		t.Fatalf("Configure: %+v, %v; want one warning naming %q", diags, err, cmd)
	}
	if _, err := in.LoginConfig(pluginCtx(t)); err != nil {
		t.Errorf("LoginConfig before login: %v", err)
	}
	_, err = in.Send(pluginCtx(t), []*sdk.Message{message("no-login@tocsin.test")})
	de := deliveryError(t, err)
	if de.Kind != sdk.Permanent || !strings.Contains(de.Remedy, cmd) {
		t.Errorf("Send error = %v (remedy %q); want permanent, naming %q", err, de.Remedy, cmd)
	}
	if n := g.oauth.Counts().Token + g.gmail.Requests(); n != 0 {
		t.Errorf("%d requests reached Google", n)
	}
}

// TestPlugin_rotation: a refresh token the token endpoint rotates reaches
// the agent's SaveCredential with the Send that rotated it, and a plugin
// started again after a crash refreshes with the new one.
func TestPlugin_rotation(t *testing.T) {
	t.Parallel()
	r := startRotating(t)
	in, logs := startPlugin(t)
	var mu sync.Mutex
	var saved []string
	cfg := config(t, r.settings(), r.initial)
	cfg.SaveCredential = func(v string) {
		mu.Lock()
		saved = append(saved, v)
		mu.Unlock()
	}
	if diags, err := in.Configure(pluginCtx(t), cfg); err != nil || len(diags) != 0 {
		t.Fatalf("Configure: %+v, %v", diags, err)
	}
	for i, id := range []string{"rotate-1@tocsin.test", "rotate-2@tocsin.test"} {
		if i == 1 {
			in.Kill() // the next call starts the plugin again
		}
		results, err := in.Send(pluginCtx(t), []*sdk.Message{message(id)})
		if err != nil || results[0].Err != nil {
			t.Fatalf("send %d: %v, %+v", i, err, results)
		}
	}
	if in.Starts() != 2 {
		t.Errorf("plugin started %d times, want 2", in.Starts())
	}
	mu.Lock()
	defer mu.Unlock()
	used := r.used()
	if len(used) != 2 || used[0] != r.initial || len(saved) != 2 || used[1] != saved[0] {
		t.Errorf("refresh tokens used %d (the first the initial one: %v), saved %d; the second refresh must use the first saved token", len(used), len(used) > 0 && used[0] == r.initial, len(saved))
	}
	noSecrets(t, append([]string{r.initial, r.secret}, saved...), logs.String())
}
