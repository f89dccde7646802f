package pluginhost_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/delivery"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// instanceTransports is the dispatcher's view of one plugin instance, as
// the agent gives it.
type instanceTransports struct{ in *pluginhost.Instance }

func (t instanceTransports) From(string) (sdk.Address, error) {
	return sdk.Address{Address: "tocsin@example.com"}, nil
}

func (t instanceTransports) Send(ctx context.Context, _ string, msgs []*sdk.Message) ([]sdk.Result, error) {
	return t.in.Send(ctx, msgs)
}

func (t instanceTransports) Batch(string) bool { return true }

func (t instanceTransports) Rate(string) delivery.Rate { return delivery.Rate{} }

// BenchmarkDrain_OutboxThroughPlugin is (c): the same small messages,
// durably enqueued in a real outbox first, then drained by the dispatcher
// through the smtp-basic process to the sink. Compare its msgs/s with
// BenchmarkSend_PluginBatch: the outbox's price is the difference.
func BenchmarkDrain_OutboxThroughPlugin(b *testing.B) {
	host, port := sinkProcess(b)
	h := pluginhost.New(hclog.NewNullLogger(), pluginDirB(b))
	b.Cleanup(h.Close)
	in := h.Instance(pluginhost.Spec{Name: "bench", Plugin: "smtp-basic"})
	settings, err := sdk.SettingsFromMap(map[string]any{"host": host, "port": port, "security": "none"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if diags, err := in.Configure(ctx, sdk.Config{Transport: "bench", From: "tocsin@example.com", Settings: settings}); err != nil || diags.HasErrors() {
		b.Fatal(err, diags.Err())
	}
	ob, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ob.Close() })
	policy := delivery.DefaultPolicy()
	policy.BatchSize = benchBatch
	d := delivery.New(ob, instanceTransports{in}, policy, nil, hclog.NewNullLogger())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(runCtx) }()
	b.Cleanup(func() { stop(); _ = d.Stop(context.Background()); <-done })

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		entries := make([]*outbox.Entry, benchBatch)
		for j := range entries {
			entries[j] = &outbox.Entry{
				ID: fmt.Sprintf("drain-%d-%d@tocsin", i, j), Rule: "bench", Contact: "ops", Via: []string{"bench"},
				Mail: outbox.Mail{To: []sdk.Address{{Address: "ops@example.com"}}, Subject: fmt.Sprintf("bench %d/%d", i, j), Text: "a small alert body\n"},
			}
		}
		if err := ob.Enqueue(ctx, entries...); err != nil {
			b.Fatal(err)
		}
		d.Kick()
		for {
			st, err := ob.Stats()
			if err != nil {
				b.Fatal(err)
			}
			if st.Pending == 0 {
				break
			}
			if st.Dead > 0 {
				b.Fatal("dead letters in the benchmark")
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "msgs/s")
}
