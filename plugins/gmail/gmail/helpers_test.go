package gmail_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/gmail/gmail"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// mailbox is the Workspace user the tests send as.
const mailbox = "ops@example.com"

// google is Google's side for a test: the OAuth endpoints and the Gmail
// API, over real TLS with certificates from one throw-away CA.
type google struct {
	ca     *testserver.CA
	caFile string
	oauth  *testserver.GoogleOAuth
	gmail  *testserver.Gmail
	dir    string
}

func startGoogle(t *testing.T, opts testserver.GoogleOAuthOptions) *google {
	t.Helper()
	ca, err := testserver.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, err := ca.WriteCertFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	o := testserver.StartGoogleOAuthT(t, ca, opts)
	g := testserver.StartGmailT(t, ca, testserver.GmailOptions{Validate: o.GmailValidator()})
	return &google{ca: ca, caFile: caFile, oauth: o, gmail: g, dir: dir}
}

// writeFile writes b to a new file in the test's directory.
func (g *google) writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(g.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serviceAccount creates a service account with domain-wide delegation for
// scopes (nil: any) and subjects, and returns the path of its JSON key and
// its private key (a secret).
func (g *google) serviceAccount(t *testing.T, scopes []string, subjects ...string) (path, privateKey string) {
	t.Helper()
	js, err := g.oauth.NewServiceAccount("tocsin-alerts", scopes, subjects...)
	if err != nil {
		t.Fatal(err)
	}
	var key struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(js, &key); err != nil {
		t.Fatal(err)
	}
	return g.writeFile(t, "service-account.json", js), key.PrivateKey
}

// client registers an OAuth client of type Desktop app and returns the
// path of its JSON, its ID and its secret.
func (g *google) client(t *testing.T) (path, id, secret string) {
	t.Helper()
	js, err := g.oauth.NewInstalledClient()
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Installed struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		} `json:"installed"`
	}
	if err := json.Unmarshal(js, &c); err != nil {
		t.Fatal(err)
	}
	return g.writeFile(t, "client.json", js), c.Installed.ClientID, c.Installed.ClientSecret
}

// refreshToken issues a refresh token for the client, acting for subject.
func (g *google) refreshToken(t *testing.T, clientID, subject string, scopes ...string) string {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{gmail.ScopeSend}
	}
	rt, err := g.oauth.NewRefreshToken(clientID, subject, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// saSettings are the settings of a service account transport.
func (g *google) saSettings(keyFile, subject string) map[string]any {
	return map[string]any{
		"service_account_file": keyFile,
		"subject":              subject,
		"api_endpoint":         g.gmail.URL(),
		"ca_file":              g.caFile,
		"timeout":              "10s",
	}
}

// clientSettings are the settings of an OAuth client transport.
func (g *google) clientSettings(clientFile string) map[string]any {
	return map[string]any{
		"client_file":  clientFile,
		"api_endpoint": g.gmail.URL(),
		"ca_file":      g.caFile,
		"timeout":      "10s",
	}
}

func settings(t *testing.T, m map[string]any) sdk.Settings {
	t.Helper()
	s, err := sdk.SettingsFromMap(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// config is the sdk.Config of a transport named "gmail" sending from
// mailbox.
func config(t *testing.T, m map[string]any, credential string) sdk.Config {
	t.Helper()
	return sdk.Config{Transport: "gmail", From: mailbox, Settings: settings(t, m), Credential: credential, SaveCredential: func(string) {}}
}

// configure configures a new transport and fails the test on an error or
// an error diagnostic.
func configure(t *testing.T, cfg sdk.Config) (*gmail.Transport, sdk.Diagnostics) {
	t.Helper()
	tr := gmail.New("test")
	diags, err := tr.Configure(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if diags.HasErrors() {
		t.Fatalf("Configure: %v", diags.Err())
	}
	return tr, diags
}

func message(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Name: "Tocsin", Address: mailbox},
		To:      []sdk.Address{{Name: "On call", Address: "oncall@example.com"}},
		Subject: "disk full on " + id,
		Text:    "The disk is full.\n",
	}
}

// Content of the rich message.
const (
	richText     = "Disk /var is 97% full on db-1.\n"
	richHTML     = "<p>Disk <b>/var</b> is 97% full on db-1.</p>"
	richFilename = "df.txt"
)

var richAttachment = []byte("Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 20G 19G 600M 97% /var\n\x00\x01\xfe\xff")

// richMessage has To and Cc recipients, text and HTML, and an attachment.
func richMessage(id string) *sdk.Message {
	m := message(id)
	m.Cc = []sdk.Address{{Address: "dba@example.com"}}
	m.Subject = "Disk almost full: db-1 /var (97 %) — ünïcödé"
	m.Text = richText
	m.HTML = richHTML
	m.Attachments = []sdk.Attachment{{Filename: richFilename, ContentType: "application/octet-stream", Data: richAttachment}}
	return m
}

// part is a leaf of a MIME message, its body decoded.
type part struct {
	mediaType string
	filename  string
	body      []byte
}

// parseMessage parses a raw RFC 822 message with net/mail and
// mime/multipart and returns its header and leaf parts.
func parseMessage(t *testing.T, raw []byte) (mail.Header, []part) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	parts, err := walk(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Header.Get("Content-Disposition"), m.Body)
	if err != nil {
		t.Fatalf("parse MIME: %v\n%s", err, raw)
	}
	return m.Header, parts
}

func walk(contentType, encoding, disposition string, body io.Reader) ([]part, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var out []part
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			// NextPart decodes quoted-printable itself and drops the header.
			sub, err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	switch strings.ToLower(encoding) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	name := params["name"]
	if _, dp, err := mime.ParseMediaType(disposition); err == nil && dp["filename"] != "" {
		name = dp["filename"]
	}
	return []part{{mediaType: mt, filename: name, body: b}}, nil
}

// checkRich checks a received rich message against richMessage(id).
func checkRich(t *testing.T, raw []byte, id string) {
	t.Helper()
	h, parts := parseMessage(t, raw)
	want := richMessage(id)
	if got := h.Get("Message-Id"); got != "<"+id+">" {
		t.Errorf("Message-ID = %q, want <%s>", got, id)
	}
	dec := new(mime.WordDecoder)
	if subject, err := dec.DecodeHeader(h.Get("Subject")); err != nil || subject != want.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, want.Subject)
	}
	for _, c := range []struct {
		header string
		want   []sdk.Address
	}{{"From", []sdk.Address{want.From}}, {"To", want.To}, {"Cc", want.Cc}} {
		got, err := h.AddressList(c.header)
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%s = %v (%v), want %v", c.header, got, err, c.want)
			continue
		}
		for i := range got {
			if got[i].Address != c.want[i].Address || got[i].Name != c.want[i].Name {
				t.Errorf("%s[%d] = %v, want %v", c.header, i, got[i], c.want[i])
			}
		}
	}
	if h.Get("Bcc") != "" {
		t.Errorf("Bcc header %q in a message without Bcc", h.Get("Bcc"))
	}
	var text, html, attachment int
	for _, p := range parts {
		switch {
		case p.filename == richFilename:
			attachment++
			if !bytes.Equal(p.body, richAttachment) {
				t.Errorf("attachment = %q, want %q", p.body, richAttachment)
			}
		case p.mediaType == "text/plain":
			text++
			if got := strings.ReplaceAll(string(p.body), "\r\n", "\n"); got != richText {
				t.Errorf("text part = %q, want %q", got, richText)
			}
		case p.mediaType == "text/html":
			html++
			if got := strings.TrimSpace(string(p.body)); got != richHTML {
				t.Errorf("HTML part = %q, want %q", got, richHTML)
			}
		}
	}
	if text != 1 || html != 1 || attachment != 1 {
		t.Errorf("got %d text, %d HTML and %d attachment parts, want one each: %+v", text, html, attachment, parts)
	}
}

// deliveryError returns err as a *sdk.DeliveryError or fails the test.
func deliveryError(t *testing.T, err error) *sdk.DeliveryError {
	t.Helper()
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *sdk.DeliveryError", err, err)
	}
	return de
}

// noSecrets fails the test when a secret appears in any of texts.
func noSecrets(t *testing.T, secrets []string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("a secret (%.6s…) leaked into %q", s, text)
			}
		}
	}
}

// keyBody is a distinctive piece of a PEM private key: its second line.
func keyBody(pemKey string) string {
	lines := strings.Split(pemKey, "\n")
	if len(lines) < 3 {
		return pemKey
	}
	return lines[1]
}
