package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Notification is what format = "json" sends, and what body_template
// reads: the message's fields, with the rule, event and severity that the
// agent puts in its X-Tocsin- headers.
type Notification struct {
	// ID is the Message-ID, the same on every retry.
	ID   string    `json:"id"`
	Date time.Time `json:"date"`
	// From is the transport's from; To and Cc the contact's addresses.
	From    string   `json:"from"`
	To      []string `json:"to"`
	Cc      []string `json:"cc,omitempty"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html,omitempty"`
	// Rule, Event (firing, resolved, ...) and Severity are empty for a
	// message that no rule sent, such as a test-send.
	Rule     string `json:"rule,omitempty"`
	Event    string `json:"event,omitempty"`
	Severity string `json:"severity,omitempty"`
	// Headers are the message's extra headers, by name.
	Headers     map[string]string `json:"headers,omitempty"`
	Attachments []Attachment      `json:"attachments,omitempty"`
}

// Attachment is an attached file; Data is base64 in JSON.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Data        []byte `json:"data"`
}

// NotificationOf returns m as a Notification. Bcc is left out: a webhook
// posts where others read.
func NotificationOf(m *sdk.Message) Notification {
	n := Notification{
		ID:      m.ID,
		Date:    m.Date,
		From:    m.From.String(),
		To:      addresses(m.To),
		Cc:      addresses(m.Cc),
		Subject: m.Subject,
		Text:    m.Text,
		HTML:    m.HTML,
	}
	if n.Date.IsZero() {
		n.Date = time.Now()
	}
	n.Date = n.Date.UTC()
	for _, h := range m.Headers {
		if n.Headers == nil {
			n.Headers = map[string]string{}
		}
		n.Headers[h.Name] = h.Value
		switch strings.ToLower(h.Name) {
		case "x-tocsin-rule":
			n.Rule = h.Value
		case "x-tocsin-event":
			n.Event = h.Value
		case "x-tocsin-severity":
			n.Severity = h.Value
		}
	}
	for _, a := range m.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		n.Attachments = append(n.Attachments, Attachment{Filename: a.Filename, ContentType: ct, Data: a.Data})
	}
	return n
}

func addresses(l []sdk.Address) []string {
	var out []string
	for _, a := range l {
		out = append(out, a.String())
	}
	return out
}

// templateFuncs are the functions body_template may call besides Go's.
var templateFuncs = template.FuncMap{
	// json writes v as JSON: a string quoted and escaped, a list as an
	// array.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// sampleNotification is what body_template is tried on at Configure:
// quotes, backslashes and line breaks in every text, so a template that
// does not escape them fails there, not at the first alert.
var sampleNotification = Notification{
	ID:       "20260101T000000.0000@node.example",
	Date:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	From:     `"Tocsin" <tocsin@node.example>`,
	To:       []string{`"On call" <oncall@example.com>`},
	Subject:  `[FIRING] "disk" \ full`,
	Text:     "line 1 \"quoted\"\nline 2 \\ tab\t",
	HTML:     `<p class="x">html</p>`,
	Rule:     `disk "full"`,
	Event:    "firing",
	Severity: "critical",
	Headers:  map[string]string{"X-Tocsin-Rule": `disk "full"`},
}

// parseTemplate parses body_template and checks that it makes valid JSON
// for a sample notification whose texts hold quotes and line breaks.
func parseTemplate(src string) (*template.Template, error) {
	t, err := template.New("body_template").Funcs(templateFuncs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	if _, err := execTemplate(t, sampleNotification); err != nil {
		return nil, err
	}
	return t, nil
}

// execTemplate runs t on n and checks that the output is one JSON value.
func execTemplate(t *template.Template, n Notification) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, n); err != nil {
		return nil, err
	}
	if !json.Valid(b.Bytes()) {
		var v any
		err := json.Unmarshal(b.Bytes(), &v)
		return nil, fmt.Errorf("its output is not valid JSON (%v)", err)
	}
	return b.Bytes(), nil
}

// maxChatText bounds the text of the chat presets: Teams takes about 28 KB
// in a message, Slack 40,000 characters of text and 3,000 in a section.
const maxChatText = 20000

// cut shortens s to at most n bytes on a rune boundary, saying so.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const note = " … [cut by tocsin]"
	n -= len(note)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + note
}

// body builds the request body for m in format f.
func (s *sender) body(m *sdk.Message) ([]byte, error) {
	n := NotificationOf(m)
	switch s.format {
	case FormatTeams:
		return json.Marshal(teamsBody(n))
	case FormatSlack:
		return json.Marshal(slackBody(n, s.blocks))
	case FormatMattermost:
		return json.Marshal(mattermostBody(n, s.username))
	default:
		if s.tmpl != nil {
			return execTemplate(s.tmpl, n)
		}
		return json.Marshal(n)
	}
}

// AdaptiveCardContentType is the contentType of an Adaptive Card attachment.
const AdaptiveCardContentType = "application/vnd.microsoft.card.adaptive"

// teamsBody is the message a Teams workflow's "When a Teams webhook
// request is received" trigger takes: type "message" with one attachment
// holding an Adaptive Card (version 1.4, which Teams renders), posted
// by the workflow's "Post card in a chat or channel" step.
func teamsBody(n Notification) map[string]any {
	title := map[string]any{"type": "TextBlock", "text": n.Subject, "weight": "Bolder", "size": "Medium", "wrap": true, "style": "heading"}
	switch strings.ToLower(n.Severity) {
	case "critical", "error":
		title["color"] = "Attention"
	case "warning":
		title["color"] = "Warning"
	}
	if n.Event == "resolved" {
		title["color"] = "Good"
	}
	body := []any{title}
	if t := strings.TrimRight(n.Text, "\n"); t != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": cut(t, maxChatText), "wrap": true})
	}
	if facts := facts(n); len(facts) > 0 {
		var fs []any
		for _, f := range facts {
			fs = append(fs, map[string]string{"title": f[0], "value": f[1]})
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": fs})
	}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": AdaptiveCardContentType,
			"contentUrl":  nil,
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
				"msteams": map[string]string{"width": "Full"},
			},
		}},
	}
}

// facts are the rule, event and severity that are set, as title/value.
func facts(n Notification) [][2]string {
	var f [][2]string
	for _, kv := range [][2]string{{"Rule", n.Rule}, {"Event", n.Event}, {"Severity", n.Severity}} {
		if kv[1] != "" {
			f = append(f, kv)
		}
	}
	return f
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackBody is an incoming webhook's payload: text (shown in
// notifications, and the message itself without blocks) and, with blocks,
// a header, the text as a section and the facts as context.
func slackBody(n Notification, blocks bool) map[string]any {
	text := "*" + slackEscape.Replace(n.Subject) + "*"
	if t := strings.TrimRight(n.Text, "\n"); t != "" {
		text += "\n" + slackEscape.Replace(cut(t, maxChatText))
	}
	b := map[string]any{"text": text}
	if !blocks {
		return b
	}
	// A header takes 150 characters of plain text, a section 3000.
	bl := []any{map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": cutRunes(n.Subject, 150), "emoji": true}}}
	if t := strings.TrimRight(n.Text, "\n"); t != "" {
		bl = append(bl, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": cutRunes(slackEscape.Replace(t), 3000)}})
	}
	if f := facts(n); len(f) > 0 {
		var els []any
		for _, kv := range f {
			els = append(els, map[string]any{"type": "mrkdwn", "text": "*" + kv[0] + ":* " + slackEscape.Replace(kv[1])})
		}
		bl = append(bl, map[string]any{"type": "context", "elements": els})
	}
	b["blocks"] = bl
	return b
}

// cutRunes shortens s to at most n characters, ending with an ellipsis.
func cutRunes(s string, n int) string {
	if s == "" {
		return " " // Slack refuses an empty text object
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// mattermostBody is a Mattermost incoming webhook's payload: Markdown
// text, the subject as a heading, and the facts below the text.
func mattermostBody(n Notification, username string) map[string]any {
	var sb strings.Builder
	sb.WriteString("#### " + strings.ReplaceAll(n.Subject, "\n", " ") + "\n")
	if t := strings.TrimRight(n.Text, "\n"); t != "" {
		sb.WriteString("\n" + cut(t, maxChatText) + "\n")
	}
	if f := facts(n); len(f) > 0 {
		var parts []string
		for _, kv := range f {
			parts = append(parts, "**"+kv[0]+":** "+kv[1])
		}
		sb.WriteString("\n" + strings.Join(parts, " · ") + "\n")
	}
	b := map[string]any{"text": sb.String()}
	if username != "" {
		b["username"] = username
	}
	return b
}
