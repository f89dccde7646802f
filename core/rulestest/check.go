package rulestest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/agext/levenshtein"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// check compares the events of a timeline with the test's expectations
// and returns every difference, window by window.
func check(t *Test, events []Record) []Failure {
	var failures []Failure
	from := time.Duration(-1) // the first window includes the start
	for _, e := range t.Expects {
		var window []Record
		for _, r := range events {
			if r.Offset > from && r.Offset <= e.Offset {
				window = append(window, r)
			}
		}
		fail := func(format string, args ...any) {
			failures = append(failures, Failure{Range: e.Range, Offset: e.Offset, Message: fmt.Sprintf(format, args...)})
		}
		for _, l := range expectLists {
			var want []string
			for _, ref := range e.Events[l.event] {
				want = append(want, ref.Name)
			}
			sort.Strings(want)
			var got []Record
			for _, r := range window {
				if r.Event == l.event {
					got = append(got, r)
				}
			}
			gotNames := make([]string, len(got))
			for i, r := range got {
				gotNames[i] = r.Rule
			}
			sort.Strings(gotNames)
			if !slices.Equal(want, gotNames) {
				fail("want %s %s, got %s", l.attr, nameList(want), recordList(got))
			}
		}
		for _, rule := range sortedKeys(e.Subject) {
			checkText(window, rule, "subject", e.Subject[rule], func(n *rules.Notification) string { return n.Subject }, fail)
		}
		for _, rule := range sortedKeys(e.Text) {
			checkText(window, rule, "text", e.Text[rule], func(n *rules.Notification) string { return n.Text }, fail)
		}
		for _, ref := range e.Silent {
			var resolves []Record
			for _, r := range window {
				if r.Rule == ref.Name && r.Event == rules.EventResolve {
					resolves = append(resolves, r)
				}
			}
			if len(resolves) == 0 {
				fail("want a silent resolve of %s, got none", ref.Name)
			}
			for _, r := range resolves {
				if r.Notification != nil {
					fail("%s resolved at %s with a notification (%q); want it silent", ref.Name, FormatOffset(r.Offset), r.Notification.Subject)
				}
			}
		}
		for _, rule := range sortedKeys(e.Attach) {
			want := e.Attach[rule]
			sent := notifications(window, rule)
			if len(sent) == 0 {
				fail("want a notification of %s attaching %s, got none", rule, nameList(want))
				continue
			}
			for _, r := range sent {
				if !slices.Equal(r.Notification.Attach, want) {
					fail("%s (%s at %s) attaches %s; want %s", rule, r.Event, FormatOffset(r.Offset), nameList(r.Notification.Attach), nameList(want))
				}
			}
		}
		from = e.Offset
	}
	return failures
}

// checkText checks that every notification of rule in window has substr
// in the part that get returns.
func checkText(window []Record, rule, part, substr string, get func(*rules.Notification) string, fail func(string, ...any)) {
	sent := notifications(window, rule)
	if len(sent) == 0 {
		fail("want a notification of %s with %q in its %s, got none", rule, substr, part)
		return
	}
	for _, r := range sent {
		if s := get(r.Notification); !strings.Contains(s, substr) {
			fail("the %s of %s (%s at %s) is %q; want it to contain %q", part, rule, r.Event, FormatOffset(r.Offset), s, substr)
		}
	}
}

// notifications returns the records of rule in window that carry a
// notification.
func notifications(window []Record, rule string) []Record {
	var out []Record
	for _, r := range window {
		if r.Rule == rule && r.Notification != nil {
			out = append(out, r)
		}
	}
	return out
}

// nameList formats names as "[a, b]", or "none".
func nameList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// recordList formats records as "[a at 10m, b at 15m: error]", or "none".
func recordList(recs []Record) string {
	if len(recs) == 0 {
		return "none"
	}
	parts := make([]string, len(recs))
	for i, r := range recs {
		parts[i] = fmt.Sprintf("%s at %s", r.Rule, FormatOffset(r.Offset))
		if r.Err != "" {
			parts[i] += ": " + r.Err
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// suggest returns the first of known that is close to given (an edit
// distance under 3, as hclsyntax suggests), or "".
func suggest(given string, known []string) string {
	for _, s := range known {
		if levenshtein.Distance(given, s, nil) < 3 {
			return s
		}
	}
	return ""
}
