package delivery

import (
	"math"
	"time"
)

// Policy is the retry policy. The agent reads it from its configuration;
// New gives every zero (or invalid) field its DefaultPolicy value, except
// Jitter, where zero means no jitter.
type Policy struct {
	// Initial is the delay before the first retry on a transport.
	Initial time.Duration
	// Max caps the backoff (before jitter).
	Max time.Duration
	// Multiplier grows the delay from one retry to the next.
	Multiplier float64
	// Jitter spreads each delay by up to this fraction either way (0.2:
	// from 80% to 120%), so entries that failed together do not retry
	// together. Zero means no jitter.
	Jitter float64
	// MaxAge is how long an entry may keep failing temporarily on one
	// transport before the next transport of its chain takes over.
	MaxAge time.Duration
	// BatchSize is the number of messages per Send for transports that
	// take several.
	BatchSize int
	// Concurrency is the number of Sends in flight at once, over all
	// transports.
	Concurrency int
	// SendsPerTransport is the number of Sends a transport that batches
	// has in flight at once when its lane holds that many batches (the
	// SDK lets a plugin be called concurrently). A pooling plugin spreads
	// them over its connections, which stay busy while the outcome of the
	// last batch is recorded. A transport that sends a message per call
	// has one Send in flight, so that a Retry-After stops the next.
	SendsPerTransport int
}

// DefaultDrainTimeout is how long a stopping agent waits, by default, for
// the sends in flight (Dispatcher.Stop's deadline) and for the
// notifications of its last evaluation: the delivery block's
// drain_timeout.
const DefaultDrainTimeout = 20 * time.Second

// DefaultPolicy returns the default policy: retries after 10s, 20s, 40s...
// up to 10m, with 20% jitter; the next transport after an hour of
// failures; batches of 25, two in flight through one transport (so that
// a crash sends at most 50 twice); 4 Sends at once in all.
func DefaultPolicy() Policy {
	return Policy{
		Initial:     10 * time.Second,
		Max:         10 * time.Minute,
		Multiplier:  2,
		Jitter:      0.2,
		MaxAge:      time.Hour,
		BatchSize:   25,
		Concurrency: 4,

		SendsPerTransport: 2,
	}
}

// withDefaults returns p with every zero or invalid field taken from
// DefaultPolicy, except Jitter, where zero means no jitter; a Jitter
// outside [0, 1] is clamped.
func (p Policy) withDefaults() Policy {
	def := DefaultPolicy()
	if p.Initial <= 0 {
		p.Initial = def.Initial
	}
	if p.Max <= 0 {
		p.Max = def.Max
	}
	p.Max = max(p.Max, p.Initial)
	if !(p.Multiplier >= 1) { // also catches NaN
		p.Multiplier = def.Multiplier
	}
	if math.IsNaN(p.Jitter) {
		p.Jitter = 0
	}
	p.Jitter = min(max(p.Jitter, 0), 1)
	if p.MaxAge <= 0 {
		p.MaxAge = def.MaxAge
	}
	if p.BatchSize <= 0 {
		p.BatchSize = def.BatchSize
	}
	if p.Concurrency <= 0 {
		p.Concurrency = def.Concurrency
	}
	if p.SendsPerTransport <= 0 {
		p.SendsPerTransport = def.SendsPerTransport
	}
	return p
}

// backoff returns the delay after the attempt-th failure on a transport
// (attempt >= 1): Initial * Multiplier^(attempt-1), capped at Max, then
// spread by Jitter with r, a number in [0, 1) (0.5 leaves it unchanged).
func (p Policy) backoff(attempt int, r float64) time.Duration {
	attempt = max(attempt, 1)
	d := float64(p.Initial) * math.Pow(p.Multiplier, float64(attempt-1))
	if math.IsNaN(d) {
		d = float64(p.Max)
	}
	d = min(d, float64(p.Max)) // also +Inf
	d *= 1 + p.Jitter*(2*r-1)
	return time.Duration(max(d, 0))
}
