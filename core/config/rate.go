package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a send limit: at most Messages per Per. The zero Rate is no
// limit.
type Rate struct {
	Messages int
	Per      time.Duration
}

// IsZero reports whether r sets no limit.
func (r Rate) IsZero() bool { return r.Messages == 0 }

// String returns r as written in a configuration, such as "30/1m0s".
func (r Rate) String() string {
	if r.IsZero() {
		return "none"
	}
	return fmt.Sprintf("%d/%s", r.Messages, r.Per)
}

// maxRatePer bounds the period of a rate limit: a longer one is more
// likely a typo than a plan.
const maxRatePer = 7 * 24 * time.Hour

// ParseRate parses a rate limit written MESSAGES/PERIOD, such as "30/1m"
// (Exchange Online's limit for a mailbox) or "10000/24h"; a period of
// one unit may drop the 1: "30/m". The error says how to write it.
func ParseRate(s string) (Rate, error) {
	const how = `write it as MESSAGES/PERIOD, such as "30/1m" or "2000/24h"`
	count, period, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q has no \"/\": %s", s, how)
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return Rate{}, fmt.Errorf("%q: %q is not a whole number of messages of at least 1; %s", s, count, how)
	}
	period = strings.TrimSpace(period)
	if period != "" && !strings.ContainsAny(period[:1], "0123456789.") {
		period = "1" + period
	}
	per, err := time.ParseDuration(period)
	if err != nil || per <= 0 || per > maxRatePer {
		return Rate{}, fmt.Errorf("%q: the period %q is not a duration from 1ns to 168h (a week); %s", s, period, how)
	}
	return Rate{Messages: n, Per: per}, nil
}
