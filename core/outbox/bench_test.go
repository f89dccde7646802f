package outbox

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchOutbox opens an outbox for a benchmark, synced unless noSync.
func benchOutbox(b *testing.B, noSync bool) *Outbox {
	b.Helper()
	o, err := Open(filepath.Join(b.TempDir(), "outbox.db"), Options{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = o.Close() })
	return o
}

// reportRate reports notifications per second and, for writes, how many
// entries each commit (fsync) carried.
func reportRate(b *testing.B, o *Outbox, notifications int, commits int64) {
	b.ReportMetric(float64(notifications)/b.Elapsed().Seconds(), "notifications/s")
	if commits > 0 {
		b.ReportMetric(float64(notifications)/float64(commits), "entries/commit")
	}
}

// BenchmarkEnqueue_Synced measures durable enqueues of one 4 KB
// notification per call from many goroutines at once (rules firing
// together), group-committed: each call returns once its entry is synced.
// The nosync rows show what the fsyncs cost.
func BenchmarkEnqueue_Synced(b *testing.B) {
	procs := runtime.GOMAXPROCS(0)
	for _, callers := range []int{1, 16, 64, 256} {
		for _, noSync := range []bool{false, true} {
			name := "callers=" + strconv.Itoa(max(callers, procs))
			if noSync {
				name += "/nosync"
			}
			b.Run(name, func(b *testing.B) {
				o := benchOutbox(b, noSync)
				var seq atomic.Int64
				ctx := context.Background()
				before := o.commits.Load()
				b.SetParallelism(max(1, callers/procs))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						e := newEntry(fmt.Sprintf("%d@bench", seq.Add(1)))
						if err := o.Enqueue(ctx, e); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				reportRate(b, o, b.N, o.commits.Load()-before)
			})
		}
	}
}

// BenchmarkEnqueue_Batch100 measures one caller enqueueing 100
// notifications per call (a rule firing for 100 events at once), synced.
func BenchmarkEnqueue_Batch100(b *testing.B) {
	o := benchOutbox(b, false)
	ctx := context.Background()
	seq := 0
	batch := make([]*Entry, 100)
	before := o.commits.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for j := range batch {
			seq++
			batch[j] = newEntry(strconv.Itoa(seq) + "@bench")
		}
		b.StartTimer()
		if err := o.Enqueue(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b, o, b.N*len(batch), o.commits.Load()-before)
}

// BenchmarkDue measures Due(100) on an outbox of 10,000 pending entries,
// half of them due: the dispatcher's poll.
func BenchmarkDue(b *testing.B) {
	o := benchOutbox(b, true)
	ctx := context.Background()
	now := time.Now()
	for i := 0; i < 10_000; i += 500 {
		var batch []*Entry
		for j := i; j < i+500; j++ {
			e := newEntry(fmt.Sprintf("%05d@bench", j))
			e.NextAttempt = now.Add(time.Duration(j-5_000) * time.Second)
			batch = append(batch, e)
		}
		if err := o.Enqueue(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		due, next, err := o.Due(100)
		if err != nil || len(due) != 100 || next.After(now) {
			b.Fatalf("Due = %d entries, next %v, %v", len(due), next, err)
		}
	}
	b.StopTimer()
	reportRate(b, o, b.N*100, 0)
}
