// Command smtpsink is the mail server of .ci/package-test: dev mode's sink
// (core/devsink) on a free port of 127.0.0.1, run on its own so that the
// installed package's agent, running as the tocsin user, has somewhere to
// send. It writes its host:port to -addr-file once it listens, prints each
// mail it receives, and exits 0 once -count mails with -subject in their
// subject have arrived, or 1 when -timeout passes first.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tocsin-dev/tocsin/core/devsink"
)

func main() { os.Exit(run()) }

func run() int {
	dir := flag.String("dir", "", "directory to save each mail in (required)")
	addrFile := flag.String("addr-file", "", "file to write the sink's host:port to (required)")
	count := flag.Int("count", 1, "exit 0 once this many matching mails arrived")
	subject := flag.String("subject", "", "count only mails whose subject contains this")
	timeout := flag.Duration("timeout", time.Minute, "exit 1 when the mails have not arrived by then")
	flag.Parse()
	if *dir == "" || *addrFile == "" {
		fmt.Fprintln(os.Stderr, "smtpsink: -dir and -addr-file are required")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	sink, err := devsink.Start(*dir, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "smtpsink: %v\n", err)
		return 1
	}
	defer func() {
		closeCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = sink.Close(closeCtx)
	}()
	mails := sink.Subscribe()
	if err := os.WriteFile(*addrFile, []byte(sink.Addr().String()+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "smtpsink: write address: %v\n", err)
		return 1
	}
	fmt.Printf("smtpsink: listening on %s, waiting for %d mail(s)\n", sink.Addr(), *count)

	got := 0
	for got < *count {
		select {
		case m := <-mails:
			if strings.Contains(m.Subject, *subject) {
				got++
			}
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "smtpsink: %d of %d mail(s) with %q in the subject arrived before %v\n", got, *count, *subject, context.Cause(ctx))
			return 1
		}
	}
	fmt.Printf("smtpsink: %d mail(s) arrived\n", got)
	return 0
}
