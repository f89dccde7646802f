package main

import (
	"fmt"
	"io"
	"time"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// writeCredentials prints what validate knows of each transport's
// credential, as the rules read it (credential.NAME): when it expires and
// where that comes from, and a stored login's times. Transports of which
// nothing is known are left out; nothing is printed when none is known.
func writeCredentials(w io.Writer, cfg *config.Config, facts map[string]rules.CredentialFact, now time.Time) {
	var lines []string
	for _, tc := range cfg.Transports {
		f, ok := facts[tc.Name]
		if !ok || f.Source == "" {
			continue
		}
		line := fmt.Sprintf("  %s: %s", tc.Name, f.What)
		if days, ok := f.DaysLeft(now); ok {
			verb := "expires"
			if !f.Expires.After(now) {
				verb = "expired"
			}
			line += fmt.Sprintf(" %s %s (%s; from %s)", verb, f.Expires.UTC().Format(time.RFC3339), daysLeft(days), f.Source)
		}
		if !f.ObtainedAt.IsZero() {
			line += fmt.Sprintf("; login obtained %s", f.ObtainedAt.UTC().Format(time.RFC3339))
			if !f.RefreshedAt.IsZero() {
				line += fmt.Sprintf(", last rotated %s", f.RefreshedAt.UTC().Format(time.RFC3339))
			}
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "Credentials (credential.NAME in rules; credential_expiring warns 30, 7 and 1 day ahead):")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// daysLeft says days in words.
func daysLeft(days int) string {
	switch {
	case days < -1:
		return fmt.Sprintf("%d days ago", -days)
	case days < 0:
		return "1 day ago"
	case days == 0:
		return "less than a day left"
	case days == 1:
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", days)
}
