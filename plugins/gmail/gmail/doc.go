// Package gmail is the gmail transport: it sends mail through the Gmail
// API's users.messages.send, uploading each message as RFC 822 bytes
// (POST {api_endpoint}/upload/gmail/v1/users/me/messages/send?uploadType=media,
// Content-Type message/rfc822, at most 35 MiB).
//
// It authenticates in one of two ways, chosen by which file is set:
//
//   - service_account_file: a service account's JSON key, with subject
//     naming the mailbox to send as. The service account's client ID needs
//     domain-wide delegation for the scopes in the Google Admin console.
//     Without a subject Gmail answers failedPrecondition, because a service
//     account has no mailbox.
//   - client_file: an OAuth client's JSON as Google Cloud console downloads
//     it ("installed" or "web"), used with the refresh token that
//     `tocsin oauth login` stores for the transport. The transport
//     implements [sdk.Authorizer] for that login, and hands a rotated
//     refresh token back to the agent through Config.SaveCredential.
//
// The token endpoint is the token_uri of the JSON file. Access tokens are
// cached and shared by all sends, and renewed token_grace before they
// expire; a token Gmail rejects (401) is dropped and the send retried
// once with a new one.
//
// Errors keep Gmail's raw reply and carry a remedy: insufficientPermissions,
// failedPrecondition and domainPolicy are permanent; rate limits (429,
// userRateLimitExceeded, rateLimitExceeded) and 5xx are temporary, with
// Retry-After when Gmail sends one. Token endpoint errors are classified by
// package oauth.
package gmail
