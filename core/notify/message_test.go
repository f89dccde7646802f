package notify

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func TestSender(t *testing.T) {
	tests := []struct {
		name    string
		from    string
		want    sdk.Address
		wantErr string
	}{
		{name: "bare address", from: "alerts@example.com", want: sdk.Address{Address: "alerts@example.com"}},
		{name: "display name", from: `"Tocsin, Alerts" <alerts@example.com>`, want: sdk.Address{Name: "Tocsin, Alerts", Address: "alerts@example.com"}},
		{name: "not an address", from: "alerts at example.com", wantErr: "transport relay: from: mail: no angle-addr"},
		{name: "empty", from: "", wantErr: "transport relay: from: mail: no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Sender("relay", tt.from)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Sender error = %v, want %q", err, tt.wantErr)
				}
				if got != (sdk.Address{}) {
					t.Errorf("address %+v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sender: %v", err)
			}
			if got != tt.want {
				t.Errorf("Sender = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	to := []sdk.Address{{Name: "Ops Team", Address: "ops@example.com"}, {Address: "oncall@example.com"}}
	headers := []sdk.Header{{Name: "X-Tocsin-Rule", Value: "disk"}}
	attachments := []sdk.Attachment{{Filename: "tail.log", ContentType: "text/plain", Data: []byte("x\n")}}
	from := sdk.Address{Name: "Tocsin Alerts", Address: "alerts@example.com"}
	e := &outbox.Entry{
		ID: "id@node-1.example", Rule: "disk", Event: "fire", Contact: "ops", Via: []string{"primary", "backup"}, Hop: 1,
		Mail:       outbox.Mail{To: to, Subject: "Disk full on web-1", Text: "The disk is full.", HTML: "<p>The disk is full.</p>", Headers: headers, Attachments: attachments},
		State:      outbox.Pending,
		EnqueuedAt: now, NextAttempt: now.Add(time.Hour), Attempts: 3, TotalAttempts: 7,
	}
	got := Message(e, from)
	want := &sdk.Message{
		ID: "id@node-1.example", Date: now, From: from, To: to,
		Subject: "Disk full on web-1", Text: "The disk is full.", HTML: "<p>The disk is full.</p>",
		Headers: headers, Attachments: attachments,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Message =\n %+v\nwant\n %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the message does not validate: %v", err)
	}
}

func TestForContact(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := outbox.Mail{Subject: "disk", Text: "full"}
	tests := []struct {
		name    string
		email   []string
		wantTo  []sdk.Address
		wantErr string
	}{
		{name: "two addresses", email: []string{"Ops Team <ops@example.com>", "oncall@example.com"},
			wantTo: []sdk.Address{{Name: "Ops Team", Address: "ops@example.com"}, {Address: "oncall@example.com"}}},
		{name: "a bad address", email: []string{"ops@example.com", "not an address"}, wantErr: `contact ops: address "not an address": `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			via := []string{"primary", "backup"}
			e, err := ForContact("node-a", "ops", tt.email, via, m, now)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("ForContact = %+v, %v; want an error starting %q", e, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Mail.To, tt.wantTo) || e.Mail.Subject != "disk" || e.Mail.Text != "full" {
				t.Errorf("mail %+v, want %v and m's content", e.Mail, tt.wantTo)
			}
			if e.Contact != "ops" || !reflect.DeepEqual(e.Via, via) || !e.EnqueuedAt.Equal(now) || !strings.HasSuffix(e.ID, "@node-a") {
				t.Errorf("entry %+v, want contact ops, via %v, enqueued at %v, an ID of node-a", e, via, now)
			}
			via[0] = "changed"
			if e.Via[0] != "primary" {
				t.Error("the entry shares the contact's via list")
			}
			if m.To != nil {
				t.Error("ForContact changed the caller's mail")
			}
		})
	}
}
