// Command mailblast is the go-mail baseline of `make bench-compare`: it
// builds -n messages, then sends them all over one SMTP connection
// (STARTTLS or implicit TLS, AUTH PLAIN), with the same go-mail options
// as Tocsin's smtp-basic plugin (no NOOP before a message, no RSET after a
// successful one). It prints one line, "ready UNIXNANO", the moment the
// messages are built and the dial starts: the sender's alert time. Run
// several at once for a sender holding several connections.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mailblast:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		host     = flag.String("host", "127.0.0.1", "server host")
		port     = flag.Int("port", 587, "server port")
		implicit = flag.Bool("tls", false, "implicit TLS instead of STARTTLS")
		caFile   = flag.String("ca", "", "PEM file of the CA the server's certificate is signed by")
		user     = flag.String("user", "", "login, also the From address")
		pass     = flag.String("pass", "", "password")
		to       = flag.String("to", "", "recipient")
		n        = flag.Int("n", 1, "messages to send")
		tag      = flag.String("tag", "blast", "subject prefix and X-Bench-Sender header")
		first    = flag.Int("first", 0, "sequence number of the first message")
	)
	flag.Parse()
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("ca %s holds no certificate", *caFile)
	}
	msgs := make([]*gomail.Msg, *n)
	for i := range msgs {
		m := gomail.NewMsg()
		if err := m.From(*user); err != nil {
			return err
		}
		if err := m.To(*to); err != nil {
			return err
		}
		seq := strconv.Itoa(*first + i)
		m.Subject(*tag + " " + seq)
		m.SetGenHeader("X-Bench-Sender", *tag)
		m.SetGenHeader("X-Bench-Seq", seq)
		m.SetBodyString(gomail.TypeTextPlain, "alert "+seq+" of a bench-compare burst\n")
		msgs[i] = m
	}
	opts := []gomail.Option{
		gomail.WithPort(*port),
		gomail.WithTimeout(30 * time.Second),
		gomail.WithTLSConfig(&tls.Config{RootCAs: roots, ServerName: *host, MinVersion: tls.VersionTLS12}),
		gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
		gomail.WithUsername(*user),
		gomail.WithPassword(*pass),
		gomail.WithoutNoop(),
		gomail.WithoutRset(),
		gomail.WithTLSPolicy(gomail.TLSMandatory),
	}
	if *implicit {
		opts = append(opts, gomail.WithSSL())
	}
	c, err := gomail.NewClient(*host, opts...)
	if err != nil {
		return err
	}
	fmt.Printf("ready %d\n", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return c.DialAndSendWithContext(ctx, msgs...)
}
