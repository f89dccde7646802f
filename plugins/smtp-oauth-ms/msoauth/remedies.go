package msoauth

import (
	"fmt"

	"github.com/tocsin-dev/tocsin/plugins/internal/smtpsend"
)

// Remedies returns what to do about Microsoft 365's SMTP replies, for the
// given mode, naming the app and the mailbox in the commands to run. They
// come before smtpsend's generic remedies; all these replies are
// permanent.
func Remedies(mode, clientID, mailbox string) []smtpsend.Remedy {
	perTenant := "Set-TransportConfig -SmtpClientAuthenticationDisabled $false"
	perMailbox := fmt.Sprintf("Set-CASMailbox -Identity %s -SmtpClientAuthenticationDisabled $false", mailbox)
	rejected := fmt.Sprintf("Microsoft rejected the app's token for %s. The app's Exchange service principal may be missing: create it in Exchange Online PowerShell with New-ServicePrincipal -AppId %s -ObjectId <object ID from Microsoft Entra ID > Enterprise applications, not from App registrations>. Or it has no rights on the mailbox: Add-MailboxPermission -Identity %s -User <that service principal> -AccessRights FullAccess. The app also needs the Office 365 Exchange Online application permission SMTP.SendAsApp with admin consent.", mailbox, clientID, mailbox)
	if mode == ModeDelegated {
		rejected = fmt.Sprintf("Microsoft rejected the user's token for %s: username must be the mailbox of the user who signed in with tocsin oauth login, that user needs an Exchange Online mailbox, and the app needs the delegated permission SMTP.Send with consent. If all that holds, run tocsin oauth login again.", mailbox)
	}
	sendAs := fmt.Sprintf("From must be an address %s may send as: set the transport's from to %s, or grant the mailbox Send As on the From address: Add-RecipientPermission -Identity <from address> -Trustee %s -AccessRights SendAs.", mailbox, mailbox, mailbox)
	return []smtpsend.Remedy{
		{Code: "535", Enhanced: "5.7.139", Contains: "disabled for the tenant", Text: fmt.Sprintf("SMTP AUTH is turned off for the tenant. In Exchange Online PowerShell turn it on for this mailbox only (%s) or for the whole tenant (%s), or send through the graph transport, which does not use SMTP AUTH.", perMailbox, perTenant)},
		{Code: "535", Enhanced: "5.7.139", Contains: "security defaults", Text: "The tenant's security defaults block SMTP AUTH: turn security defaults off (Microsoft Entra admin center > Overview > Properties > Manage security defaults) and protect sign-ins with Conditional Access instead, or send through the graph transport."},
		{Code: "535", Enhanced: "5.7.139", Contains: "criteria", Text: fmt.Sprintf("Microsoft does not let %s use SMTP AUTH: turn on Authenticated SMTP for it (%s, or Microsoft 365 admin center > Users > Mail > Manage email apps), and check that the account is enabled and licensed and that no Conditional Access policy blocks the sign-in.", mailbox, perMailbox)},
		{Code: "535", Enhanced: "5.7.139", Text: fmt.Sprintf("Microsoft 365 refused SMTP AUTH: check that it is on for the mailbox (%s) and the tenant (%s), and that security defaults do not block it.", perMailbox, perTenant)},
		{Code: "535", Text: rejected},
		{Code: "530", Enhanced: "5.7.57", Text: fmt.Sprintf("Microsoft 365 refused mail from a session that has not logged in: use host %s, port 587 and security = \"starttls\", and check that SMTP AUTH is on for the mailbox (%s).", DefaultHost, perMailbox)},
		{Enhanced: "5.7.60", Text: sendAs},
		{Enhanced: "5.2.252", Text: sendAs},
		{Contains: "SendAsDenied", Text: sendAs},
	}
}
