package main

import (
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// sdNotifier tells systemd how the agent is doing when it runs as a
// Type=notify service (cmd/agent/dist/tocsin.service): READY=1 once it
// serves, RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 when
// it stops, and WATCHDOG=1 keep-alives when the unit sets WatchdogSec.
// Outside systemd (no NOTIFY_SOCKET) it does nothing. The environment is
// left as it is: with NotifyAccess=main, systemd ignores what a plugin or
// a command check that inherited NOTIFY_SOCKET would send.
type sdNotifier struct {
	logger hclog.Logger
	// send is daemon.SdNotify without unsetting the environment.
	send func(state string) (bool, error)
	// watchdog is WatchdogSec as systemd passed it to this process
	// (WATCHDOG_USEC, when WATCHDOG_PID is unset or this process), or 0.
	watchdog time.Duration
}

// newSDNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID.
func newSDNotifier(logger hclog.Logger) *sdNotifier {
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		logger.Warn("systemd watchdog: WATCHDOG_USEC or WATCHDOG_PID is not a number; no keep-alives are sent", "error", err)
		wd = 0
	}
	return &sdNotifier{
		logger:   logger,
		send:     func(state string) (bool, error) { return daemon.SdNotify(false, state) },
		watchdog: wd,
	}
}

// notify sends state; a failure is logged (systemd then sees no
// readiness or keep-alive and acts on its timeouts).
func (n *sdNotifier) notify(state string) {
	if _, err := n.send(state); err != nil {
		first, _, _ := strings.Cut(state, "\n")
		n.logger.Warn("cannot notify systemd", "state", first, "error", err)
	}
}

// ready says the agent serves: plugins configured, listener up, or a
// reload over; status is what systemctl status shows (one line).
func (n *sdNotifier) ready(status string) {
	n.notify(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// reloading says a reload starts. MONOTONIC_USEC is the time of the
// request, which systemd 253 and later want with RELOADING=1.
func (n *sdNotifier) reloading() {
	n.notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
}

// stopping says the agent stops.
func (n *sdNotifier) stopping() { n.notify(daemon.SdNotifyStopping) }

// keepAliveEvery is how often the run loop sends a keep-alive: half the
// watchdog interval, as sd_watchdog_enabled(3) advises; 0 when systemd
// watches nothing.
func (n *sdNotifier) keepAliveEvery() time.Duration { return n.watchdog / 2 }

// keepAlive sends WATCHDOG=1 when systemd watches the agent.
func (n *sdNotifier) keepAlive() {
	if n.watchdog > 0 {
		n.notify(daemon.SdNotifyWatchdog)
	}
}
