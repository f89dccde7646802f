// Package oauth is the OAuth 2.0 token machinery the OAuth2 transports
// (smtp-oauth-ms, smtp-oauth-google, graph, gmail) share.
//
// A transport builds a [Fetcher] for its credential:
//
//   - [MicrosoftApp.Fetcher]: Microsoft identity platform client
//     credentials, with a client secret or a certificate (client assertion);
//   - [Refresher]: the refresh-token grant of a delegated login (Microsoft or
//     Google), keeping rotated refresh tokens and reporting them;
//   - [GoogleServiceAccount]: a Google service account's JWT-bearer grant,
//     with domain-wide delegation to a subject.
//
// It wraps the Fetcher in a [Cache], which shares one access token between
// all sends and fetches a new one only when the cached one is about to
// expire, and turns every failure into an operator-facing
// *sdk.DeliveryError with [Classify].
//
// HTTP goes through [HTTPClient], which trusts the system roots plus a
// transport's ca_file. Nothing in this package logs, and no error it
// returns contains a client secret, a private key, a refresh token or an
// access token.
package oauth
