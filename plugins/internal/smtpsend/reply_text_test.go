package smtpsend

import (
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/testserver"
)

// TestSender_Send_replyTextWhole: go-mail reports a per-message reply as
// "<what it was doing>: <reply>[, <more errors>], affected recipient(s):
// …, affected message ID: …". Reply is the server's first reply alone and
// whole: none of go-mail's additions, and nothing cut from the server's
// own text, even when that text holds go-mail's ", affected " or a second
// rejection follows it.
func TestSender_Send_replyTextWhole(t *testing.T) {
	t.Parallel()
	addressRemedy := genericRemedy(t, "", "5.1.", "")
	tests := []struct {
		name  string
		stage testserver.Stage
		reply *smtp.SMTPError
		to    []sdk.Address
		want  *sdk.DeliveryError
	}{
		{
			name:  "', affected ' in the server's text at RCPT",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "Mailbox disabled, affected users were told"},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.2.1", Reply: "550 5.2.1 Mailbox disabled, affected users were told"},
		},
		{
			name:  "', affected ' in the server's text at MAIL",
			stage: testserver.StageMail,
			reply: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Queue busy, affected senders retry"},
			want:  &sdk.DeliveryError{Kind: sdk.Temporary, Code: "451 4.3.0", Reply: "451 4.3.0 Queue busy, affected senders retry", Remedy: busyRemedy},
		},
		{
			name:  "two recipients rejected",
			stage: testserver.StageRcpt,
			reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"},
			to:    []sdk.Address{{Address: "a@example.test"}, {Address: "b@example.test"}},
			want:  &sdk.DeliveryError{Kind: sdk.Permanent, Code: "550 5.1.1", Reply: "550 5.1.1 No such user", Remedy: addressRemedy},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.StartT(t, testserver.Options{Fault: func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
				if stage == tt.stage {
					return tt.reply
				}
				return nil
			}})
			s := newSender(t, Options{Host: srv.Host(), Port: srv.Port(), Security: SecurityNone})
			m := message("one@node")
			if tt.to != nil {
				m.To = tt.to
			}
			results, err := s.Send(t.Context(), []*sdk.Message{m})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkDeliveryError(t, results[0].Err, tt.want)
		})
	}
}
