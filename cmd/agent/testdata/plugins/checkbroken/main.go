// Command checkbroken is a transport plugin that POSTs each message, as
// RFC 5322 bytes, to the url setting, and breaks the plugin contract in
// the one way its executable's name says, so that `tocsin plugin check`
// can be seen to catch it. Installed as tocsin-plugin-broken-BUG:
//
//   - good: no bug;
//   - leak: a malformed token is quoted in Configure's diagnostic;
//   - nocancel: the POST ignores the call's context;
//   - results: Send returns one result, whatever the batch;
//   - misclassify: a message that fails Validate gets a temporary error;
//   - errkinds: every refusal is a temporary error, a 400 too;
//   - garbage: prints a line that is no handshake, then waits;
//   - protocol: speaks plugin protocol 99, which no agent speaks.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func main() {
	bug := strings.TrimPrefix(filepath.Base(os.Args[0]), "tocsin-plugin-broken-")
	switch bug {
	case "garbage":
		fmt.Println("hello, I am not a plugin")
		time.Sleep(time.Minute)
		return
	case "protocol":
		logger := sdk.NewLogger()
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig:  sdk.Handshake,
			VersionedPlugins: map[int]plugin.PluginSet{99: {sdk.PluginName: sdk.Plugin(&transport{bug: bug}, sdk.WithLogger(logger))}},
			GRPCServer:       plugin.DefaultGRPCServer,
			Logger:           logger,
		})
		return
	}
	sdk.Serve(&transport{bug: bug})
}

type settings struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

type transport struct {
	bug string

	mu     sync.Mutex
	s      *settings
	logger hclog.Logger
}

func (t *transport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    "broken-" + t.bug,
		Version: "1.0.0",
		Summary: "POSTs each message to a URL, with a bug on purpose.",
		Schema: sdk.Schema{
			{Name: "url", Type: sdk.TypeString, Required: true, Description: "Where to POST the messages."},
			{Name: "token", Type: sdk.TypeString, Sensitive: true, Description: "Bearer token, starting with tk-."},
		},
	}, nil
}

func (t *transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	var s settings
	if err := cfg.Settings.Decode(&s); err != nil {
		return sdk.Diagnostics{}.Errorf("", "Fix the settings.", "Cannot decode the settings: %v", err), nil
	}
	var diags sdk.Diagnostics
	if !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
		diags = diags.Errorf("url", "Set url to an http:// or https:// URL.", "url is not an HTTP URL")
	}
	if s.Token != "" && !strings.HasPrefix(s.Token, "tk-") {
		if t.bug == "leak" {
			diags = diags.Errorf("token", "A token starts with tk-.", "token %q is malformed", s.Token)
		} else {
			diags = diags.Errorf("token", "A token starts with tk-.", "token is malformed")
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s, t.logger = nil, cfg.Logger
	if !diags.HasErrors() {
		t.s = &s
	}
	return diags, nil
}

func (t *transport) current() (*settings, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.s == nil {
		return nil, sdk.PermanentError(errors.New("not configured"), "", "Fix the transport's settings.")
	}
	return t.s, nil
}

func (t *transport) Check(context.Context) error {
	_, err := t.current()
	return err
}

func (t *transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	s, err := t.current()
	if err != nil {
		return nil, err
	}
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		out[i].MessageID = m.ID
		if err := ctx.Err(); err != nil && t.bug != "nocancel" {
			out[i].Err = sdk.TemporaryError(err, "", "")
			continue
		}
		raw, err := m.Bytes()
		if err != nil {
			if t.bug == "misclassify" {
				out[i].Err = sdk.TemporaryError(err, "", "")
			} else {
				out[i].Err = sdk.PermanentError(err, "", "Report this as a bug.")
			}
			continue
		}
		out[i].Err = t.post(ctx, s, raw)
		if out[i].Err == nil {
			out[i].Receipt = "posted"
		}
	}
	if t.bug == "results" && len(out) > 1 {
		out = out[:1]
	}
	return out, nil
}

func (t *transport) post(ctx context.Context, s *settings, raw []byte) error {
	if t.bug == "nocancel" {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(raw))
	if err != nil {
		return sdk.PermanentError(err, "", "Fix url.")
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sdk.TemporaryError(err, "", "")
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests && t.bug != "errkinds":
		return sdk.PermanentError(fmt.Errorf("POST answered %s", resp.Status), fmt.Sprint(resp.StatusCode), "Fix url or token.")
	case resp.StatusCode/100 != 2:
		return sdk.TemporaryError(fmt.Errorf("POST answered %s", resp.Status), fmt.Sprint(resp.StatusCode), "")
	}
	return nil
}
