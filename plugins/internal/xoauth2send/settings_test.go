package xoauth2send_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/xoauth2send"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// diag is the part of a diagnostic the tests compare.
type diag struct {
	Severity  sdk.Severity
	Attribute string
	Summary   string
}

func diagsOf(d sdk.Diagnostics) []diag {
	var out []diag
	for _, x := range d {
		out = append(out, diag{x.Severity, x.Attribute, x.Summary})
	}
	return out
}

func TestSMTPSettings_Check(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from     string
		mut      func(*xoauth2send.SMTPSettings)
		want     []diag
		wantPort int
		wantUser string
	}{
		{name: "defaults", from: "Alerts <alerts@example.com>", wantPort: 587, wantUser: "alerts@example.com"},
		{name: "tls defaults to 465", from: "alerts@example.com", mut: func(s *xoauth2send.SMTPSettings) { s.Security = "tls" }, wantPort: 465, wantUser: "alerts@example.com"},
		{name: "explicit port and username", from: "alerts@example.com", mut: func(s *xoauth2send.SMTPSettings) { s.Port = 2525; s.Username = "box@example.com" }, wantPort: 2525, wantUser: "box@example.com"},
		{
			name: "no username and no from", wantPort: 587,
			want: []diag{{sdk.SeverityError, "username", "No mailbox to log in as"}},
		},
		{
			name: "username with a display name", from: "alerts@example.com", wantPort: 587, wantUser: "Box <box@example.com>",
			mut:  func(s *xoauth2send.SMTPSettings) { s.Username = "Box <box@example.com>" },
			want: []diag{{sdk.SeverityError, "username", `Username "Box <box@example.com>" is not an email address`}},
		},
		{
			name: "security none warns", from: "alerts@example.com", wantPort: 25, wantUser: "alerts@example.com",
			mut:  func(s *xoauth2send.SMTPSettings) { s.Security = "none" },
			want: []diag{{sdk.SeverityWarning, "security", "The access token is sent without TLS"}},
		},
		{
			name: "pool settings out of range", from: "alerts@example.com", wantPort: 587, wantUser: "alerts@example.com",
			mut: func(s *xoauth2send.SMTPSettings) {
				s.MaxConnections = 21
				s.IdleTimeout = sdk.Duration(-time.Second)
			},
			want: []diag{
				{sdk.SeverityError, "max_connections", "Max connections 21 is out of range"},
				{sdk.SeverityError, "idle_timeout", "Idle timeout must be positive"},
			},
		},
		{
			name: "every error at once", from: "alerts@example.com", wantPort: 70000, wantUser: "alerts@example.com",
			mut: func(s *xoauth2send.SMTPSettings) {
				s.Host = " "
				s.Port = 70000
				s.Security = "ssl"
				s.TokenGrace = sdk.Duration(-time.Second)
				s.Timeout = 0
			},
			want: []diag{
				{sdk.SeverityError, "host", "Host is empty"},
				{sdk.SeverityError, "port", "Port 70000 is out of range"},
				{sdk.SeverityError, "security", `Unknown security "ssl"`},
				{sdk.SeverityError, "token_grace", "Token grace is negative"},
				{sdk.SeverityError, "timeout", "Timeout must be positive"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := xoauth2send.DefaultSMTPSettings("smtp.example.com")
			if tt.mut != nil {
				tt.mut(&s)
			}
			diags := s.Check(tt.from, nil)
			if got := diagsOf(diags); !slices.Equal(got, tt.want) {
				t.Errorf("diagnostics:\n got  %+v\n want %+v", got, tt.want)
			}
			for _, d := range diags {
				if d.Detail == "" {
					t.Errorf("diagnostic %q has no detail", d.Summary)
				}
			}
			if s.Port != tt.wantPort || s.Username != tt.wantUser {
				t.Errorf("port %d, username %q; want %d, %q", s.Port, s.Username, tt.wantPort, tt.wantUser)
			}
		})
	}
}

func TestCheckFrom(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, username string
		warn           bool
	}{
		{from: "alerts@example.com", username: "alerts@example.com"},
		{from: "Tocsin <Alerts@Example.com>", username: "alerts@example.com"},
		{from: "", username: "alerts@example.com"},
		{from: "noreply@example.com", username: "alerts@example.com", warn: true},
	}
	for _, tt := range tests {
		diags := xoauth2send.CheckFrom(tt.from, tt.username, "Provider says no.", nil)
		if got := len(diags) == 1; got != tt.warn {
			t.Errorf("from %q, username %q: diagnostics %+v, want a warning %v", tt.from, tt.username, diags, tt.warn)
			continue
		}
		if tt.warn {
			d := diags[0]
			if d.Severity != sdk.SeverityWarning || d.Attribute != "username" || d.Summary != "From noreply@example.com is not the mailbox alerts@example.com logs in as" || d.Detail != "Provider says no." {
				t.Errorf("diagnostic %+v", d)
			}
		}
	}
}
