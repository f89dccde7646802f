package pluginhost

import "time"

// SetConfigureTimeout shortens the bound of a replayed Configure for a
// test, and returns what restores it.
func SetConfigureTimeout(d time.Duration) (restore func()) {
	old := configureTimeout
	configureTimeout = d
	return func() { configureTimeout = old }
}
