package tokenstore

import (
	"bytes"
	"log/slog"
	"testing"
	"time"
)

// A Status logs the fields that are set and only those.
func TestStatus_LogValue(t *testing.T) {
	at := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    Status
		want string
	}{
		{"transport only", Status{Transport: "gmail"}, `s.transport=gmail`},
		{"all set", Status{Transport: "gmail", Account: "ops@example.com", Scopes: []string{"mail"}, TokenURL: "https://t.example/token", ObtainedAt: at, RefreshedAt: at.Add(time.Hour)},
			`s.transport=gmail s.account=ops@example.com s.scopes=[mail] s.token_url=https://t.example/token s.obtained_at=2025-06-01T08:00:00.000Z s.refreshed_at=2025-06-01T09:00:00.000Z`},
		{"empty scopes", Status{Transport: "gmail", Scopes: []string{}}, `s.transport=gmail`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
					return slog.Attr{}
				}
				return a
			}})
			slog.New(h).Info("", "s", tt.s)
			if got := bytes.TrimSpace(buf.Bytes()); string(got) != tt.want {
				t.Errorf("logged %s\nwant   %s", got, tt.want)
			}
		})
	}
}
