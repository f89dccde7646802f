package sdk

import (
	"fmt"
	"strings"
)

// Severity says whether a diagnostic stops the configuration. The zero
// value counts as an error.
type Severity int

// The severities.
const (
	SeverityError Severity = iota + 1
	SeverityWarning
)

// Diagnostic is a problem with a transport's settings, reported by
// Configure. Attribute names the setting so the agent can point at its line
// in the config file; it is empty when the problem is the block as a whole.
// Never put a sensitive value in a diagnostic.
type Diagnostic struct {
	Severity  Severity
	Attribute string
	Summary   string
	Detail    string
}

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// Errorf appends an error about attribute and returns the list. detail
// should tell the operator what to do.
func (d Diagnostics) Errorf(attribute, detail, summaryFormat string, args ...any) Diagnostics {
	return append(d, Diagnostic{Severity: SeverityError, Attribute: attribute, Summary: fmt.Sprintf(summaryFormat, args...), Detail: detail})
}

// Warnf appends a warning about attribute and returns the list.
func (d Diagnostics) Warnf(attribute, detail, summaryFormat string, args ...any) Diagnostics {
	return append(d, Diagnostic{Severity: SeverityWarning, Attribute: attribute, Summary: fmt.Sprintf(summaryFormat, args...), Detail: detail})
}

// HasErrors reports whether any diagnostic is an error.
func (d Diagnostics) HasErrors() bool {
	for _, x := range d {
		if x.Severity != SeverityWarning {
			return true
		}
	}
	return false
}

// Err returns the errors as one error, or nil when there are none.
func (d Diagnostics) Err() error {
	var parts []string
	for _, x := range d {
		if x.Severity == SeverityWarning {
			continue
		}
		s := x.Summary
		if x.Attribute != "" {
			s = x.Attribute + ": " + s
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("invalid settings: %s", strings.Join(parts, "; "))
}
