package graph

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// MessageIDHeader carries the message's ID (our Message-ID): Graph sets
// the Message-ID itself.
const MessageIDHeader = "X-Tocsin-Message-ID"

// MaxAttachmentBytes is the most attachment data one sendMail request may
// carry, counted base64-encoded as it travels: Graph takes attachments
// under 3 MB in the request and needs an upload session above that.
const MaxAttachmentBytes = 3 << 20

// sendMailRequest is the JSON body of POST /users/{id}/sendMail.
type sendMailRequest struct {
	Message         message `json:"message"`
	SaveToSentItems bool    `json:"saveToSentItems"`
}

// message is Graph's message resource, with the fields this transport sets.
type message struct {
	Subject                string           `json:"subject"`
	Body                   itemBody         `json:"body"`
	ToRecipients           []recipient      `json:"toRecipients,omitempty"`
	CcRecipients           []recipient      `json:"ccRecipients,omitempty"`
	BccRecipients          []recipient      `json:"bccRecipients,omitempty"`
	ReplyTo                []recipient      `json:"replyTo,omitempty"`
	Attachments            []fileAttachment `json:"attachments,omitempty"`
	InternetMessageHeaders []header         `json:"internetMessageHeaders,omitempty"`
}

// itemBody is a message body; ContentType is "Text" or "HTML".
type itemBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

type recipient struct {
	EmailAddress emailAddress `json:"emailAddress"`
}

type emailAddress struct {
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// fileAttachment is a #microsoft.graph.fileAttachment. encoding/json
// writes ContentBytes as standard base64, as Graph wants.
type fileAttachment struct {
	ODataType    string `json:"@odata.type"`
	Name         string `json:"name"`
	ContentType  string `json:"contentType"`
	ContentBytes []byte `json:"contentBytes"`
}

// header is an internetMessageHeader; Graph takes only names starting X-.
type header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// newRequest maps m to a sendMail request. It returns the names of the
// headers of m it had to drop because Graph refuses them.
func newRequest(m *sdk.Message, saveToSentItems bool) (*sendMailRequest, []string) {
	body := itemBody{ContentType: "Text", Content: m.Text}
	if m.HTML != "" {
		body = itemBody{ContentType: "HTML", Content: m.HTML}
	}
	msg := message{
		Subject:       oneLine(m.Subject),
		Body:          body,
		ToRecipients:  recipients(m.To),
		CcRecipients:  recipients(m.Cc),
		BccRecipients: recipients(m.Bcc),
		ReplyTo:       recipients(m.ReplyTo),
		InternetMessageHeaders: []header{
			{Name: MessageIDHeader, Value: m.ID},
		},
	}
	for i, a := range m.Attachments {
		name := oneLine(a.Filename)
		if strings.TrimSpace(name) == "" {
			name = fmt.Sprintf("attachment-%d", i+1)
		}
		ct := oneLine(a.ContentType)
		if ct == "" {
			ct = "application/octet-stream"
		}
		msg.Attachments = append(msg.Attachments, fileAttachment{
			ODataType:    "#microsoft.graph.fileAttachment",
			Name:         name,
			ContentType:  ct,
			ContentBytes: a.Data,
		})
	}
	var dropped []string
	for _, h := range m.Headers {
		if !strings.HasPrefix(strings.ToUpper(h.Name), "X-") || strings.EqualFold(h.Name, MessageIDHeader) {
			dropped = append(dropped, h.Name)
			continue
		}
		msg.InternetMessageHeaders = append(msg.InternetMessageHeaders, header{Name: h.Name, Value: oneLine(h.Value)})
	}
	return &sendMailRequest{Message: msg, SaveToSentItems: saveToSentItems}, dropped
}

// attachmentBytes is the size of the request's attachments as they travel,
// base64-encoded.
func (r *sendMailRequest) attachmentBytes() int {
	n := 0
	for _, a := range r.Message.Attachments {
		n += base64.StdEncoding.EncodedLen(len(a.ContentBytes))
	}
	return n
}

func recipients(l []sdk.Address) []recipient {
	if len(l) == 0 {
		return nil
	}
	out := make([]recipient, len(l))
	for i, a := range l {
		out[i] = recipient{EmailAddress: emailAddress{Address: a.Address, Name: oneLine(a.Name)}}
	}
	return out
}

// oneLine turns every CR and LF in s into a space: Exchange writes these
// values into header fields of the message it builds.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}
