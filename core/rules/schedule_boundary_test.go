package rules

import (
	"context"
	"testing"
	"time"
)

// TestParseSchedule_everyAlignment: "@every" with a whole number of seconds
// runs on whole seconds (robfig/cron's Every drops the sub-second part of
// the time it starts from), while an interval with a fraction of a second
// is added exactly, so it is not rounded away.
func TestParseSchedule_everyAlignment(t *testing.T) {
	from := time.Date(2025, 6, 1, 0, 0, 0, 250_000_000, time.UTC) // 00:00:00.250
	tests := []struct {
		spec string
		next time.Time
	}{
		{spec: "@every 1s", next: time.Date(2025, 6, 1, 0, 0, 1, 0, time.UTC)},
		{spec: "@every 5s", next: time.Date(2025, 6, 1, 0, 0, 5, 0, time.UTC)},
		{spec: "@every 2m", next: time.Date(2025, 6, 1, 0, 2, 0, 0, time.UTC)},
		{spec: "@every 1.5s", next: time.Date(2025, 6, 1, 0, 0, 1, 750_000_000, time.UTC)},
		{spec: "@every 100ms", next: time.Date(2025, 6, 1, 0, 0, 0, 350_000_000, time.UTC)},
		{spec: "@every 1m0.5s", next: time.Date(2025, 6, 1, 0, 1, 0, 750_000_000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			s, err := ParseSchedule(tt.spec)
			if err != nil {
				t.Fatalf("ParseSchedule: %v", err)
			}
			if got := s.Next(from); !got.Equal(tt.next) {
				t.Errorf("Next(%s) = %s, want %s", from.Format(time.StampMilli), got.Format(time.StampMilli), tt.next.Format(time.StampMilli))
			}
		})
	}
}

// TestNewScheduler_location: a spec without a time zone prefix runs at
// its wall-clock time in the scheduler's location, time.Local when none is
// given. The next run is read from the started scheduler, whose run loop
// has computed it before it answers.
func TestNewScheduler_location(t *testing.T) {
	// An offset no machine's local zone has, so it cannot pass by chance.
	odd := time.FixedZone("UTC+05:17", 5*3600+17*60)
	tests := []struct {
		name string
		loc  *time.Location
		want *time.Location
	}{
		{name: "given", loc: odd, want: odd},
		{name: "nil means local", loc: nil, want: time.Local},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewScheduler(nil, tt.loc)
			id, err := s.Add("0 8 * * *", func(context.Context) {})
			if err != nil {
				t.Fatal(err)
			}
			s.Start()
			t.Cleanup(func() {
				if err := s.Stop(context.Background()); err != nil {
					t.Error(err)
				}
			})
			next := s.cron.Entry(id).Next.In(tt.want)
			if next.Hour() != 8 || next.Minute() != 0 || next.Second() != 0 {
				t.Errorf("next run at %s in %s, want 08:00:00 there", next.Format(time.TimeOnly), tt.want)
			}
		})
	}
}
