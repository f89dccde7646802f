// Package smtpsend sends sdk.Messages over SMTP with wneessen/go-mail. It is
// shared by the bundled SMTP transports (smtp-basic and the OAuth2 ones),
// which differ only in how they authenticate.
//
// A Sender keeps a small pool of logged-in connections (MaxConnections,
// closed after IdleTimeout unused) and spreads a batch over several of
// them at once; two Sends at once are served in the order they came, the
// second taking the connections the first frees. A Send of no messages is
// a warm-up: it dials a connection when none is idle (Sender.Warm) and
// sends nothing. Every failure becomes an *sdk.DeliveryError: SMTP 4xx
// replies and network trouble are temporary, 5xx replies are permanent,
// and each carries the server's code, its raw reply and a remedy for the
// operator.
package smtpsend
