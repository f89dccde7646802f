package agent

import "runtime/debug"

// releaseMemory returns to the system what loading the configuration
// used: parsing needs several times the memory the parsed configuration
// keeps (for 10,000 rules, a peak of about 200 MB for 30 MB kept), which
// the runtime would otherwise keep for minutes. It costs one garbage
// collection, at start and at each reload.
//
// The agent sets no memory limit of its own: with one near its footprint
// the collector runs all the time and ticks slow down several times over.
// An operator who prefers a lower RSS to faster ticks sets GOMEMLIMIT.
func releaseMemory() { debug.FreeOSMemory() }
