package main

import (
	"context"
	"os"
	"syscall"
)

// stopSignals are the signals that stop the agent cleanly, by the cause
// signal.NotifyContext gives its context when one arrives.
var stopSignals = map[string]string{
	syscall.SIGTERM.String() + " signal received": "signal SIGTERM",
	os.Interrupt.String() + " signal received":    "signal SIGINT",
}

// stopReason says why the agent's run context ended, as the agent tells
// its peers: "signal SIGTERM", "signal SIGINT", else the context's cause.
func stopReason(ctx context.Context) string {
	cause := context.Cause(ctx)
	if cause == nil {
		return "stopped"
	}
	if r, ok := stopSignals[cause.Error()]; ok {
		return r
	}
	return cause.Error()
}
