package library

import "testing"

func TestDescribeSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec, want string
	}{
		{spec: DefaultHeartbeat, want: "every day at 08:00"},
		{spec: "@every 1m", want: "every minute"},
		{spec: "@every 5m", want: "every 5 minutes"},
		{spec: "@every 90s", want: "every 90 seconds"},
		{spec: "@every 24h", want: "every day"},
		{spec: "@every 1500ms", want: "every 1.5s"},
		{spec: "@daily", want: "every day at 00:00"},
		{spec: "@hourly", want: "every hour"},
		{spec: "30 7 * * 1", want: "every Monday at 07:30"},
		{spec: "30 7 * * 7", want: "every Sunday at 07:30"},
		{spec: "0 0 8 * * *", want: "every day at 08:00"},
		{spec: "CRON_TZ=Europe/Paris 0 8 * * *", want: "every day at 08:00 (Europe/Paris)"},
		{spec: "15 * * * *", want: "every hour"},
		{spec: "0 8 * * 1-5", want: `on the schedule "0 8 * * 1-5"`},
		{spec: "0 */4 1-7 * *", want: `on the schedule "0 */4 1-7 * *"`},
		{spec: "", want: `on the schedule ""`},
	}
	for _, tt := range tests {
		if got := DescribeSchedule(tt.spec); got != tt.want {
			t.Errorf("DescribeSchedule(%q) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}
