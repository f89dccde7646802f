package facts

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// divide divides, and panics when b is 0.
func divide(a, b int) int { return a / b }

// runFake runs spec with check standing in for every kind.
func runFake(ctx context.Context, spec Spec, now func() time.Time, grace time.Duration, check checkFunc) Fact {
	return run(ctx, spec, &env{now: now}, func(Kind) checkFunc { return check }, grace)
}

var tcpSpec = Spec{Name: "db", TCP: &TCPSpec{Address: "127.0.0.1:5432"}}

func TestRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    Spec
		timeout time.Duration
		check   checkFunc
		ok      bool
		errPart string
		limit   time.Duration
		extra   func(t *testing.T, f Fact)
	}{
		{
			name: "ok",
			spec: tcpSpec,
			check: func(context.Context, Spec, *env, map[string]cty.Value) error {
				return nil
			},
			ok: true,
		},
		{
			name: "values recorded",
			spec: tcpSpec,
			check: func(_ context.Context, _ Spec, _ *env, v map[string]cty.Value) error {
				v["address"] = cty.StringVal("changed")
				return errors.New("refused")
			},
			errPart: "refused",
			extra: func(t *testing.T, f Fact) {
				if str(t, f, "address") != "changed" {
					t.Errorf("address = %q", str(t, f, "address"))
				}
			},
		},
		{
			name: "invalid spec",
			spec: Spec{Name: "db", TCP: &TCPSpec{}},
			check: func(context.Context, Spec, *env, map[string]cty.Value) error {
				t.Error("an invalid spec ran")
				return nil
			},
			errPart: `check "db": tcp.address: must be set`,
		},
		{
			name: "panic",
			spec: tcpSpec,
			check: func(context.Context, Spec, *env, map[string]cty.Value) error {
				_ = divide(1, 0)
				return nil
			},
			errPart: "internal error: the tcp check panicked: runtime error: integer divide by zero",
			extra: func(t *testing.T, f Fact) {
				if strings.Contains(f.Error, "goroutine") || strings.Contains(f.Error, "\n") {
					t.Errorf("error carries a stack: %q", f.Error)
				}
				if str(t, f, "address") != "127.0.0.1:5432" {
					t.Errorf("values lost: %v", f.Values)
				}
			},
		},
		{
			name: "panic with a custom value",
			spec: tcpSpec,
			check: func(context.Context, Spec, *env, map[string]cty.Value) error {
				panic(errors.New("custom"))
			},
			errPart: "panicked: custom",
		},
		{
			name:    "timeout honoured by the check",
			spec:    tcpSpec,
			timeout: 100 * time.Millisecond,
			check: func(ctx context.Context, _ Spec, _ *env, _ map[string]cty.Value) error {
				<-ctx.Done()
				return ctx.Err()
			},
			errPart: "timed out after 100ms: context deadline exceeded",
			limit:   time.Second,
		},
		{
			name:    "error that is the timeout's cause is not repeated",
			spec:    tcpSpec,
			timeout: 50 * time.Millisecond,
			check: func(ctx context.Context, _ Spec, _ *env, _ map[string]cty.Value) error {
				<-ctx.Done()
				return context.Cause(ctx)
			},
			errPart: "timed out after 50ms",
			extra: func(t *testing.T, f Fact) {
				if f.Error != "timed out after 50ms" {
					t.Errorf("error = %q", f.Error)
				}
			},
		},
		{
			name:    "a check that ignores its timeout is given up on",
			spec:    tcpSpec,
			timeout: 50 * time.Millisecond,
			check: func(context.Context, Spec, *env, map[string]cty.Value) error {
				time.Sleep(500 * time.Millisecond)
				return nil
			},
			errPart: "timed out after 50ms, and the check did not stop within 100ms of it",
			limit:   time.Second,
		},
		{
			name: "an empty error message is still an error",
			spec: tcpSpec,
			check: func(context.Context, Spec, *env, map[string]cty.Value) error {
				return errors.New("")
			},
			errPart: "failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := tt.spec
			spec.Timeout = tt.timeout
			limit := tt.limit
			if limit == 0 {
				limit = 5 * time.Second
			}
			var f Fact
			within(t, limit, func() {
				f = runFake(t.Context(), spec, time.Now, 100*time.Millisecond, tt.check)
			})
			checkShape(t, f)
			wantOK(t, f, tt.ok, tt.errPart)
			if f.Check != "db" || f.Kind != KindTCP {
				t.Errorf("check %q kind %q", f.Check, f.Kind)
			}
			if tt.extra != nil {
				tt.extra(t, f)
			}
		})
	}
}

func TestRun_ParentCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f := runFake(ctx, tcpSpec, time.Now, time.Second, func(ctx context.Context, _ Spec, _ *env, _ map[string]cty.Value) error {
		<-ctx.Done()
		return ctx.Err()
	})
	wantOK(t, f, false, "context canceled")
}

func TestRun_Clock(t *testing.T) {
	t.Parallel()
	// Each reading of the clock is a second later than the one before.
	var mu sync.Mutex
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	f := runFake(t.Context(), tcpSpec, now, time.Second, func(context.Context, Spec, *env, map[string]cty.Value) error { return nil })
	if want := time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC); !f.Observed.Equal(want) {
		t.Errorf("Observed = %s, want %s", f.Observed, want)
	}
	if f.Latency != time.Second {
		t.Errorf("Latency = %s, want 1s", f.Latency)
	}
	if got := f.Object().GetAttr("observed").AsString(); got != "2026-01-02T03:04:07Z" {
		t.Errorf("observed = %q", got)
	}
}

func TestRun_NilClock(t *testing.T) {
	t.Parallel()
	before := time.Now()
	f := Run(t.Context(), Spec{Name: "bad"}, nil)
	if f.Observed.Before(before) {
		t.Errorf("Observed = %s, before the run", f.Observed)
	}
	wantOK(t, f, false, "no check kind set")
}

func TestReadCapped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		limit     int64
		want      string
		truncated bool
	}{
		{name: "shorter", in: "abc", limit: 10, want: "abc"},
		{name: "exact", in: "abc", limit: 3, want: "abc"},
		{name: "longer", in: "abcdef", limit: 3, want: "abc", truncated: true},
		{name: "long input", in: strings.Repeat("x", 100_000), limit: 70_000, want: strings.Repeat("x", 70_000), truncated: true},
		{name: "empty", in: "", limit: 3, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, truncated, err := readCapped(t.Context(), strings.NewReader(tt.in), tt.limit)
			if err != nil || string(got) != tt.want || truncated != tt.truncated {
				t.Errorf("readCapped = %d bytes, %v, %v; want %d bytes, %v", len(got), truncated, err, len(tt.want), tt.truncated)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := readCapped(ctx, strings.NewReader("abc"), 3); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestCapBuffer(t *testing.T) {
	t.Parallel()
	b := &capBuffer{max: 5}
	for _, s := range []string{"abc", "def", "ghi"} {
		if n, err := b.Write([]byte(s)); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	got, cut := b.Bytes()
	if string(got) != "abcde" || !cut {
		t.Errorf("Bytes = %q, %v", got, cut)
	}
}

func TestRun_PanicHook(t *testing.T) {
	t.Parallel()
	var got []byte
	e := &env{now: time.Now, panicked: func(s Spec, value any, stack []byte) {
		if s.Name != "db" {
			t.Errorf("hook for %q", s.Name)
		}
		got = stack
	}}
	f := run(t.Context(), tcpSpec, e, func(Kind) checkFunc {
		return func(context.Context, Spec, *env, map[string]cty.Value) error {
			_ = divide(1, 0)
			return nil
		}
	}, time.Second)
	wantOK(t, f, false, "integer divide by zero")
	if !strings.Contains(string(got), "facts.divide") {
		t.Errorf("stack does not show where:\n%s", got)
	}
}
