package amclient

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Alert is one alert as Alertmanager's v2 API takes it (postableAlert in
// api/v2/openapi.yaml). Alertmanager identifies an alert by its labels
// alone: posting the same labels again updates that alert (the earliest
// StartsAt and the latest EndsAt win), so every instance of a cluster, and
// every re-post, shows it once.
type Alert struct {
	// Labels identify the alert; alertname names it. At least one is
	// required.
	Labels map[string]string `json:"labels"`
	// Annotations describe it (summary, description, ...); they are not
	// part of its identity, and the last post's win.
	Annotations map[string]string `json:"annotations,omitempty"`
	// StartsAt is when the alert began; zero lets Alertmanager use the
	// time it receives it (or EndsAt, when that is set).
	StartsAt time.Time `json:"startsAt,omitzero"`
	// EndsAt is when the alert stops being active unless it is posted
	// again: a time ahead keeps it firing until then, a time past
	// resolves it. Zero lets Alertmanager apply its resolve_timeout.
	EndsAt time.Time `json:"endsAt,omitzero"`
	// GeneratorURL links back to what made the alert.
	GeneratorURL string `json:"generatorURL,omitempty"`
}

// labelName is what Alertmanager 0.25 accepts as a label name (Prometheus'
// model.LabelName.IsValid).
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate reports what Alertmanager would refuse in a: no labels, a label
// name it does not take, a value that is not UTF-8, or an end before the
// start. Checking before posting gives the one bad alert its own error
// instead of a 400 for the whole request.
func (a Alert) Validate() error {
	if len(a.Labels) == 0 {
		return errors.New("the alert has no labels; Alertmanager needs at least alertname")
	}
	names := make([]string, 0, len(a.Labels))
	for n := range a.Labels {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !labelName.MatchString(n) {
			return fmt.Errorf("label name %q is not one Alertmanager takes: use letters, digits and underscores, not starting with a digit", n)
		}
		if !utf8.ValidString(a.Labels[n]) {
			return fmt.Errorf("the value of label %s is not UTF-8", n)
		}
	}
	for n, v := range a.Annotations {
		if !labelName.MatchString(n) {
			return fmt.Errorf("annotation name %q is not one Alertmanager takes: use letters, digits and underscores, not starting with a digit", n)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("the value of annotation %s is not UTF-8", n)
		}
	}
	if !a.StartsAt.IsZero() && !a.EndsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		return fmt.Errorf("the alert ends (%s) before it starts (%s)", a.EndsAt.Format(time.RFC3339), a.StartsAt.Format(time.RFC3339))
	}
	return nil
}
