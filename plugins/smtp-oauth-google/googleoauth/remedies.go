package googleoauth

import (
	"fmt"

	"github.com/tocsin-dev/tocsin/plugins/internal/smtpsend"
)

// delegationPath is where a Workspace admin grants domain-wide delegation.
const delegationPath = "Admin console > Security > Access and data control > API controls > Domain-wide delegation"

// Remedies returns what to do about Gmail's SMTP replies, for a service
// account (serviceAccount) or a user's login, naming the mailbox. They
// come before smtpsend's generic remedies; all these replies are
// permanent.
func Remedies(serviceAccount bool, mailbox string) []smtpsend.Remedy {
	rejected := fmt.Sprintf("Google rejected the token for %s: username must be the Google account that signed in with tocsin oauth login. If it is, the login was revoked or lacks the scope %s: run tocsin oauth login again.", mailbox, Scope)
	if serviceAccount {
		rejected = fmt.Sprintf("Google rejected the service account's token for %s: username must equal subject, and the service account's client ID needs the scope %s under %s (changes can take up to 24 hours).", mailbox, Scope, delegationPath)
	}
	appPassword := "Google asked for an application-specific password: a password login reached it, which this transport never makes, so check that host is " + DefaultHost + ". For a password login use smtp-basic with an app password; otherwise use smtp-oauth-google or gmail with OAuth."
	return []smtpsend.Remedy{
		{Code: "535", Enhanced: "5.7.8", Text: rejected},
		{Code: "535", Enhanced: "5.7.1", Text: rejected},
		{Code: "535", Text: rejected},
		{Code: "534", Enhanced: "5.7.9", Text: appPassword},
		{Code: "530", Text: fmt.Sprintf("Gmail wants a login before mail: use host %s with security = \"starttls\" on port 587 or \"tls\" on port 465.", DefaultHost)},
		{Enhanced: "5.7.1", Text: fmt.Sprintf("Gmail refused the message by policy (its reply says why): From must be %s or one of its verified \"Send mail as\" addresses, and the content must not look like spam.", mailbox)},
	}
}
