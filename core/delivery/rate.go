package delivery

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a transport's token bucket for the Rate it was made for.
type limiter struct {
	rate Rate
	lim  *rate.Limiter
}

// allowance takes up to n messages from the budget of transport t, whose
// Rate is r, and returns how many may go now: n when r is zero. When none
// may, it returns 0 and the time the next one may. batches says whether t
// takes several messages per Send. d.mu must be held.
func (d *Dispatcher) allowance(t string, n int, r Rate, batches bool) (int, time.Time) {
	if r.Messages <= 0 || r.Per <= 0 {
		delete(d.limits, t)
		return n, time.Time{}
	}
	l := d.limits[t]
	if l == nil || l.rate != r {
		// New, or changed by a reload: a full bucket at the new rate.
		burst := 1
		if batches {
			burst = min(r.Messages, d.p.BatchSize)
		}
		l = &limiter{rate: r, lim: rate.NewLimiter(rate.Limit(float64(r.Messages)/r.Per.Seconds()), burst)}
		d.limits[t] = l
	}
	now := d.now()
	tokens := l.lim.TokensAt(now)
	if tokens < 1 {
		wait := time.Duration(math.Ceil((1 - tokens) / float64(l.lim.Limit()) * float64(time.Second)))
		return 0, now.Add(wait)
	}
	n = min(n, int(tokens))
	l.lim.AllowN(now, n)
	delete(d.throttled, t)
	return n, time.Time{}
}

// Hold is why a transport sends nothing now, and until when.
type Hold struct {
	// PausedUntil is the end of a provider's Retry-After; zero if none.
	PausedUntil time.Time
	// ThrottledUntil is when the transport's Rate lets the next message
	// go; zero if it lets one go now.
	ThrottledUntil time.Time
}

// Holds returns the transports that may not send now, by name.
func (d *Dispatcher) Holds() map[string]Hold {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]Hold{}
	for t, until := range d.paused {
		if until.After(now) {
			h := out[t]
			h.PausedUntil = until
			out[t] = h
		}
	}
	for t, until := range d.throttled {
		if until.After(now) {
			h := out[t]
			h.ThrottledUntil = until
			out[t] = h
		}
	}
	return out
}
