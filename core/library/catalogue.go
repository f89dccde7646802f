package library

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	rulefiles "github.com/tocsin-dev/tocsin/rules"
)

// The needs a rule file's header may name besides a setting: whether the
// block's role is fixed, or read from the facts (so that the agent sees it
// change).
const (
	NeedStaticRole   = "static role"
	NeedObservedRole = "observed role"
	needNone         = "none"
)

// Rule is one rule of the failover library: its file and what the file's
// header says it needs.
type Rule struct {
	// Name is the rule's name, that of its file without ".hcl".
	Name string
	// File is the rule's file, named as in diagnostics (rules/NAME.hcl).
	File string
	// Src is the file's content.
	Src []byte
	// Needs is the setting the rule needs besides role, peer_url and
	// notify ("" for none), or NeedStaticRole or NeedObservedRole; a rule
	// whose need is not given is left out.
	Needs string
	// Notify is the setting that names the contacts the rule notifies:
	// "notify" unless its header says otherwise.
	Notify string
	// Err is the problem with the file's header, nil when it has none: a
	// defect of Tocsin, reported when the library is used.
	Err error
}

// Rules returns the rules of the failover library, sorted by name, each
// with what its file's header says. A header holds, among the comment
// lines at the top of the file:
//
//	# needs: SETTING      (or "none", "static role", "observed role"; once)
//	# notify: SETTING     (optional; the setting naming its contacts)
func Rules() []Rule {
	var out []Rule
	for _, f := range rulefiles.Files() {
		r := Rule{Name: strings.TrimSuffix(f.Name, ".hcl"), File: rulefiles.Dir + "/" + f.Name, Src: f.Src, Notify: "notify"}
		r.Needs, r.Notify, r.Err = parseHeader(f.Src)
		out = append(out, r)
	}
	return out
}

// RuleNames lists the names of the failover library's rules, sorted.
func RuleNames() []string {
	var names []string
	for _, r := range Rules() {
		names = append(names, r.Name)
	}
	return names
}

// parseHeader reads the needs and notify lines of a rule file's header:
// the comment lines before its first other line.
func parseHeader(src []byte) (needs, notify string, err error) {
	notify = "notify"
	needsSeen, notifySeen := false, false
	sc := bufio.NewScanner(bytes.NewReader(src))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		text, isComment := strings.CutPrefix(line, "#")
		if !isComment {
			break
		}
		key, value, ok := strings.Cut(strings.TrimSpace(text), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "needs":
			if needsSeen {
				return "", "", fmt.Errorf("the header says twice what the rule needs")
			}
			needsSeen = true
			switch {
			case value == needNone:
				needs = ""
			case value == NeedStaticRole || value == NeedObservedRole || isSetting(value):
				needs = value
			default:
				return "", "", fmt.Errorf("the header's needs %q is not a setting of the library, %q, %q or %q", value, needNone, NeedStaticRole, NeedObservedRole)
			}
		case "notify":
			if notifySeen || !isSetting(value) {
				return "", "", fmt.Errorf("the header's notify %q is not one setting of the library", value)
			}
			notifySeen = true
			notify = value
		}
	}
	if !needsSeen {
		return "", "", fmt.Errorf("the header does not say what the rule needs (a line \"# needs: SETTING\" or \"# needs: none\")")
	}
	return needs, notify, nil
}

// isSetting reports whether name is a setting of the failover library.
func isSetting(name string) bool {
	for _, a := range Schema.Attributes {
		if a.Name == name {
			return true
		}
	}
	return false
}
