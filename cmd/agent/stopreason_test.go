package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestStopReason: the reason the agent gives its peers names the signal
// that stopped it.
func TestStopReason(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("SIGTERM did not end the context")
		}
		if got := stopReason(ctx); got != "signal SIGTERM" {
			t.Errorf("stopReason = %q, want signal SIGTERM", got)
		}
	})
	for _, tc := range []struct {
		name  string
		cause error
		want  string
	}{
		{"interrupt", errors.New(os.Interrupt.String() + " signal received"), "signal SIGINT"},
		{"other cause", errors.New("parent gone"), "parent gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(tc.cause)
			if got := stopReason(ctx); got != tc.want {
				t.Errorf("stopReason = %q, want %q", got, tc.want)
			}
		})
	}
	if got := stopReason(context.Background()); got != "stopped" {
		t.Errorf("stopReason of a live context = %q, want stopped", got)
	}
}
