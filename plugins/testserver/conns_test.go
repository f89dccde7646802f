package testserver

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// waitOpen waits until s has n connections open.
func waitOpen(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("Open() = %d, want %d", s.Open(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestServer_Open(t *testing.T) {
	t.Parallel()
	s := StartT(t, Options{})
	a := dial(t, s, modePlain, nil)
	b := dial(t, s, modePlain, nil)
	waitOpen(t, s, 2)
	if err := a.Quit(); err != nil {
		t.Fatal(err)
	}
	waitOpen(t, s, 1)
	c := dial(t, s, modePlain, nil)
	waitOpen(t, s, 2)
	if got := s.PeakOpen(); got != 2 {
		t.Errorf("PeakOpen() = %d, want 2", got)
	}
	if got := s.DropConnections(); got != 2 {
		t.Errorf("DropConnections() = %d, want 2", got)
	}
	waitOpen(t, s, 0)
	// The dropped clients find out at their next command.
	for _, cl := range []interface{ Noop() error }{b, c} {
		if err := cl.Noop(); err == nil {
			t.Error("NOOP on a dropped connection succeeded")
		}
	}
	if got := s.Connections(); got != 3 {
		t.Errorf("Connections() = %d, want 3", got)
	}
	// The listener still accepts.
	d := dial(t, s, modePlain, nil)
	if err := d.Noop(); err != nil {
		t.Errorf("NOOP after the drop: %v", err)
	}
}

func TestServer_RejectRcpt(t *testing.T) {
	t.Parallel()
	s := StartT(t, Options{RejectRcpt: func(to string) *smtp.SMTPError {
		if strings.HasPrefix(to, "nobody@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
		}
		return nil
	}})
	c := dial(t, s, modePlain, nil)
	if err := c.Mail("a@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ops@example.test"); err != nil {
		t.Errorf("RCPT ops: %v", err)
	}
	if err := c.Rcpt("nobody@example.test"); err == nil || !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "5.1.1 No such user") {
		t.Errorf("RCPT nobody: %v, want 550 5.1.1", err)
	}
}
