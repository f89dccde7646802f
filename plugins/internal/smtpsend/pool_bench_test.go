package smtpsend

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// BenchmarkSender_Send sends a burst of 200 messages per iteration to an
// in-process server (STARTTLS, AUTH PLAIN) through Send, as the plugins
// do: as one Send of 200, or as 4 Sends of 50 at once (the agent's
// batches); over a pool of 4 connections (empty, or filled by a burst of
// 4 Sends at once beforehand), of 1, and with a new Sender (new
// connection) for every Send, as before the pool. The server is
// in-process and shares the CPU: compare the ratios, not the figures.
// With slow=1ms the server takes 1 ms to accept each message (as a real
// one spends writing it to its queue), so that waiting on the server, not
// the CPU, bounds the rate.
func BenchmarkSender_Send(b *testing.B) {
	ca, err := testserver.NewCA()
	if err != nil {
		b.Fatal(err)
	}
	caFile, err := ca.WriteCertFile(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	tc, err := ca.ServerTLSConfig()
	if err != nil {
		b.Fatal(err)
	}
	srv := testserver.StartT(b, testserver.Options{TLS: tc, Users: map[string]string{"alice": "s3cret"}})
	opts := func(maxConns int) Options {
		return Options{
			Host: srv.Host(), Port: srv.Port(), Security: SecuritySTARTTLS, CAFile: caFile, Timeout: time.Minute,
			Auth: gomail.SMTPAuthPlain, Username: "alice", Secret: secret("s3cret"),
			MaxConnections: maxConns, IdleTimeout: time.Minute,
		}
	}
	const burst = 200
	msgs := make([]*sdk.Message, burst)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("m%d@node", i))
	}
	type benchCase struct {
		name     string
		maxConns int
		sends    int
		fresh    bool // a new Sender per Send
		warm     bool // 4 Sends at once fill the pool first
		slow     bool // the server takes 1 ms per message
	}
	var cases []benchCase
	for _, slow := range []bool{false, true} {
		prefix := "slow=0/"
		if slow {
			prefix = "slow=1ms/"
		}
		cases = append(cases,
			benchCase{name: prefix + "pool=4/sends=1x200", maxConns: 4, sends: 1, slow: slow},
			benchCase{name: prefix + "pool=4,warm/sends=1x200", maxConns: 4, sends: 1, warm: true, slow: slow},
			benchCase{name: prefix + "pool=1/sends=1x200", maxConns: 1, sends: 1, slow: slow},
			benchCase{name: prefix + "pool=4/sends=4x50", maxConns: 4, sends: 4, slow: slow},
			benchCase{name: prefix + "pool=1/sends=4x50", maxConns: 1, sends: 4, slow: slow},
			benchCase{name: prefix + "newConnPerSend/sends=4x50", maxConns: 1, sends: 4, fresh: true, slow: slow},
		)
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			if bc.slow {
				srv.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
					if stage == testserver.StageData {
						time.Sleep(time.Millisecond)
					}
					return nil
				})
			} else {
				srv.SetFault(nil)
			}
			s, err := New(opts(bc.maxConns))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if bc.warm {
				// Fill the pool first: the measured bursts find its
				// connections open and logged in.
				var wg sync.WaitGroup
				for k := range 4 {
					wg.Go(func() { _, _ = s.Send(b.Context(), msgs[k*50:(k+1)*50]) })
				}
				wg.Wait()
				srv.Reset()
			}
			before := srv.Connections()
			per := burst / bc.sends
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				for k := range bc.sends {
					wg.Go(func() {
						sender := s
						if bc.fresh {
							sender, _ = New(opts(1))
							defer sender.Close()
						}
						results, err := sender.Send(b.Context(), msgs[k*per:(k+1)*per])
						if err != nil {
							b.Error(err)
							return
						}
						for _, r := range results {
							if r.Err != nil {
								b.Error(r.Err)
								return
							}
						}
					})
				}
				wg.Wait()
				srv.Reset()
			}
			b.StopTimer()
			b.ReportMetric(float64(burst*b.N)/b.Elapsed().Seconds(), "msg/s")
			b.ReportMetric(float64(srv.Connections()-before)/float64(b.N), "conns/burst")
		})
	}
}

// BenchmarkSender_lanes sends a burst of 200 messages per iteration as the
// agent's dispatcher does: two lanes, each sending a batch of 25, then
// taking record (the agent's fsync of the results and its next call) before
// its next batch, over a pool of 4 connections to a server that takes
// 2 ms per message. With the two batches in flight sharing the
// connections half and half, they end together and the connections idle
// for record every round; served one after the other, the second keeps
// them busy.
func BenchmarkSender_lanes(b *testing.B) {
	srv := testserver.StartT(b, testserver.Options{})
	srv.SetFault(func(stage testserver.Stage, _, _ int) *smtp.SMTPError {
		if stage == testserver.StageData {
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	})
	const burst, batch, record = 200, 25, 10 * time.Millisecond
	msgs := make([]*sdk.Message, burst)
	for i := range msgs {
		msgs[i] = message(fmt.Sprintf("m%d@node", i))
	}
	s, err := New(Options{Host: srv.Host(), Port: srv.Port(), Security: SecurityNone, Timeout: time.Minute, MaxConnections: 4, IdleTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for range b.N {
		var mu sync.Mutex
		next := 0
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for {
					mu.Lock()
					i := next
					next += batch
					mu.Unlock()
					if i >= burst {
						return
					}
					if _, err := s.Send(b.Context(), msgs[i:i+batch]); err != nil {
						b.Error(err)
						return
					}
					time.Sleep(record)
				}
			})
		}
		wg.Wait()
		srv.Reset()
	}
	b.StopTimer()
	b.ReportMetric(float64(burst*b.N)/b.Elapsed().Seconds(), "msg/s")
}
