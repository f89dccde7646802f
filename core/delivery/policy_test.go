package delivery

import (
	"math"
	"testing"
	"time"
)

func TestPolicy_backoff(t *testing.T) {
	p := Policy{Initial: 10 * time.Second, Max: 10 * time.Minute, Multiplier: 2, Jitter: 0.2}
	tests := []struct {
		name    string
		mutate  func(*Policy)
		attempt int
		r       float64
		want    time.Duration
	}{
		{name: "first retry", attempt: 1, r: 0.5, want: 10 * time.Second},
		{name: "second doubles", attempt: 2, r: 0.5, want: 20 * time.Second},
		{name: "sixth", attempt: 6, r: 0.5, want: 320 * time.Second},
		{name: "capped at max", attempt: 7, r: 0.5, want: 10 * time.Minute},
		{name: "huge attempt stays capped", attempt: 100000, r: 0.5, want: 10 * time.Minute},
		{name: "attempt 0 is the first", attempt: 0, r: 0.5, want: 10 * time.Second},
		{name: "jitter low end", attempt: 1, r: 0, want: 8 * time.Second},
		{name: "jitter high end", attempt: 1, r: 1, want: 12 * time.Second},
		{name: "jitter applies after the cap", attempt: 9, r: 1, want: 12 * time.Minute},
		{name: "no jitter ignores r", mutate: func(p *Policy) { p.Jitter = 0 }, attempt: 2, r: 0, want: 20 * time.Second},
		{name: "multiplier 1 is constant", mutate: func(p *Policy) { p.Multiplier = 1 }, attempt: 5, r: 0.5, want: 10 * time.Second},
		{name: "multiplier 3", mutate: func(p *Policy) { p.Multiplier = 3 }, attempt: 3, r: 0.5, want: 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := p
			if tt.mutate != nil {
				tt.mutate(&p)
			}
			if got := p.backoff(tt.attempt, tt.r); got != tt.want {
				t.Errorf("backoff(%d, %v) = %v, want %v", tt.attempt, tt.r, got, tt.want)
			}
		})
	}
}

func TestPolicy_withDefaults(t *testing.T) {
	def := DefaultPolicy()
	tests := []struct {
		name string
		in   Policy
		want Policy
	}{
		{name: "zero takes the defaults but no jitter", in: Policy{}, want: func() Policy { p := def; p.Jitter = 0; return p }()},
		{name: "defaults stay", in: def, want: def},
		{
			name: "set fields stay",
			in:   Policy{Initial: time.Second, Max: time.Minute, Multiplier: 1.5, Jitter: 0.1, MaxAge: time.Minute, BatchSize: 7, Concurrency: 2, SendsPerTransport: 3},
			want: Policy{Initial: time.Second, Max: time.Minute, Multiplier: 1.5, Jitter: 0.1, MaxAge: time.Minute, BatchSize: 7, Concurrency: 2, SendsPerTransport: 3},
		},
		{
			name: "invalid values are repaired",
			in:   Policy{Initial: -1, Max: -1, Multiplier: math.NaN(), Jitter: 3, MaxAge: -1, BatchSize: -1, Concurrency: -1, SendsPerTransport: -1},
			want: func() Policy { p := def; p.Jitter = 1; return p }(),
		},
		{
			name: "max below initial is raised",
			in:   func() Policy { p := def; p.Initial = time.Hour; return p }(),
			want: func() Policy { p := def; p.Initial = time.Hour; p.Max = time.Hour; return p }(),
		},
		{
			name: "multiplier below 1 and negative jitter",
			in:   func() Policy { p := def; p.Multiplier = 0.5; p.Jitter = -0.2; return p }(),
			want: func() Policy { p := def; p.Jitter = 0; return p }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.withDefaults(); got != tt.want {
				t.Errorf("withDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDefaultPolicy pins the documented defaults (README's delivery block
// and the configuration's): this package is their one owner.
func TestDefaultPolicy(t *testing.T) {
	want := Policy{Initial: 10 * time.Second, Max: 10 * time.Minute, Multiplier: 2, Jitter: 0.2, MaxAge: time.Hour, BatchSize: 25, Concurrency: 4, SendsPerTransport: 2}
	if got := DefaultPolicy(); got != want {
		t.Errorf("DefaultPolicy() = %+v, want %+v", got, want)
	}
	if DefaultDrainTimeout != 20*time.Second {
		t.Errorf("DefaultDrainTimeout = %v, want 20s", DefaultDrainTimeout)
	}
}
