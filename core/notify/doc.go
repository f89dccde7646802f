// Package notify is Tocsin's message model: it turns what the agent wants
// to say into messages for the transports.
//
// A notification is stored in the outbox as an outbox.Entry (the rendered
// mail to one contact, under a Message-ID from NewMessageID, kept for
// every retry). The dispatcher (core/delivery) hands it to a transport as
// the sdk.Message that Message builds, from the transport's sender, which
// Sender parses from its from setting; `tocsin test-send` builds its mail
// the same way.
package notify
