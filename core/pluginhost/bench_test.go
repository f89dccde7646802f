package pluginhost_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	gomail "github.com/wneessen/go-mail"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// benchBatch is how many small messages one benchmark operation sends.
const benchBatch = 100

// The benchmarks below send the same small messages to the same loopback
// go-smtp server: (a) in-process with go-mail directly, the ceiling; (b)
// through the plugin host and the smtp-basic process over gRPC. Compare
// their msgs/s; `make bench` runs both.
//
// The server runs in a process of its own (this test binary, started
// again as a sink), as a real mail server would. In the benchmark's own
// process it would answer (a) faster than any real server can: SMTP is a
// chain of round trips, and a round trip within one Go process skips the
// wake-up of another process that (b), and every real deployment, pays.

// sinkEnv makes this test binary run as an SMTP sink instead of tests.
const sinkEnv = "TOCSIN_TEST_SMTP_SINK"

func TestMain(m *testing.M) {
	if os.Getenv(sinkEnv) == "1" {
		runSink()
		return
	}
	os.Exit(m.Run())
}

// runSink serves SMTP on 127.0.0.1, prints the address and serves until
// its standard input closes.
func runSink() {
	srv, err := testserver.Start(testserver.Options{MaxMessageBytes: 1 << 20})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
}

// sinkProcess starts the sink and returns its host and port.
func sinkProcess(b *testing.B) (string, int) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), sinkEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("sink: %v", err)
	}
	host, port, err := net.SplitHostPort(strings.TrimSpace(line))
	if err != nil {
		b.Fatalf("sink address %q: %v", line, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		b.Fatal(err)
	}
	return host, p
}

// BenchmarkSend_DirectGoMail is (a): go-mail in this process, one
// connection per batch.
func BenchmarkSend_DirectGoMail(b *testing.B) {
	host, port := sinkProcess(b)
	client, err := gomail.NewClient(host, gomail.WithPort(port), gomail.WithTLSPolicy(gomail.NoTLS))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msgs := make([]*gomail.Msg, benchBatch)
		for j := range msgs {
			m := gomail.NewMsg()
			if err := m.From("tocsin@example.com"); err != nil {
				b.Fatal(err)
			}
			if err := m.To("ops@example.com"); err != nil {
				b.Fatal(err)
			}
			m.Subject(fmt.Sprintf("bench %d/%d", i, j))
			m.SetMessageIDWithValue(fmt.Sprintf("bench-%d-%d@tocsin", i, j))
			m.SetDate()
			m.SetBodyString(gomail.TypeTextPlain, "a small alert body\n")
			msgs[j] = m
		}
		if err := client.DialAndSendWithContext(ctx, msgs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSend_PluginBatch is (b): the same messages as sdk.Messages
// through the plugin host to the smtp-basic process, one Send per batch.
func BenchmarkSend_PluginBatch(b *testing.B) {
	benchPlugin(b, benchBatch)
}

// BenchmarkSend_PluginSingle sends one message per Send call: what the
// batch saves.
func BenchmarkSend_PluginSingle(b *testing.B) {
	benchPlugin(b, 1)
}

func benchPlugin(b *testing.B, perSend int) {
	host, port := sinkProcess(b)
	h := pluginhost.New(hclog.NewNullLogger(), pluginDirB(b))
	b.Cleanup(h.Close)
	in := h.Instance(pluginhost.Spec{Name: "bench", Plugin: "smtp-basic"})
	settings, err := sdk.SettingsFromMap(map[string]any{"host": host, "port": port, "security": "none"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	diags, err := in.Configure(ctx, sdk.Config{Transport: "bench", From: "tocsin@example.com", Settings: settings})
	if err != nil || diags.HasErrors() {
		b.Fatal(err, diags.Err())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for start := 0; start < benchBatch; start += perSend {
			msgs := make([]*sdk.Message, perSend)
			for j := range msgs {
				msgs[j] = &sdk.Message{
					ID:      fmt.Sprintf("bench-%d-%d@tocsin", i, start+j),
					From:    sdk.Address{Address: "tocsin@example.com"},
					To:      []sdk.Address{{Address: "ops@example.com"}},
					Subject: fmt.Sprintf("bench %d/%d", i, start+j),
					Text:    "a small alert body\n",
				}
			}
			res, err := in.Send(ctx, msgs)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msgs/s")
}
