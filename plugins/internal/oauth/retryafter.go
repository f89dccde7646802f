package oauth

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter bounds the wait [RetryAfter] returns, so that a wild
// header cannot park mail for longer than a day.
const MaxRetryAfter = 24 * time.Hour

// RetryAfter reads a Retry-After value, whole seconds or an HTTP date,
// into a wait from now, at most [MaxRetryAfter]; 0 when there is none or
// it cannot be read.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
