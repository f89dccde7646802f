// Package xoauth2send is what the smtp-oauth-ms and smtp-oauth-google
// transports share: sending over SMTP with an OAuth 2.0 access token (SASL
// XOAUTH2), the settings both take, and the handling of a transport whose
// operator has not run `tocsin oauth login` yet.
//
// A [Sender] wraps an smtpsend.Sender whose secret is the access token of
// an oauth.Cache, so one token serves every send until it nears its
// expiry. When the server rejects the token (535) the cache is emptied;
// if the rejected token was an old one from the cache, the send is tried
// once more with a fresh token, so a token revoked or expired early on the
// provider's side costs no mail.
//
// [SMTPSettings] are the settings both transports take (host, port,
// security, username, token_grace, ca_file, timeout, helo) with their
// validation, and [Slot] holds what Check and Send use: a Sender, or the
// error they fail with until the transport is configured or logged in.
package xoauth2send
