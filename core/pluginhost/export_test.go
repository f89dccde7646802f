package pluginhost

import "time"

// SetConfigureTimeout shortens the bound of a replayed Configure for a
// test, and returns what restores it.
func SetConfigureTimeout(d time.Duration) (restore func()) {
	old := configureTimeout
	configureTimeout = d
	return func() { configureTimeout = old }
}

// SetExitWait sets how long a broken call waits to see the plugin exit,
// for a test, and returns what restores it.
func SetExitWait(d time.Duration) (restore func()) {
	old := exitWait
	exitWait = d
	return func() { exitWait = old }
}
