package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// refDetails loads ruleBase with decls and one rule whose condition is
// when, and returns each error diagnostic as "summary: detail".
func refDetails(t *testing.T, decls, when string) []string {
	t.Helper()
	path := writeConfig(t, ruleBase+decls+"rule \"r\" {\n  when    = "+when+"\n  notify  = [contact.ops]\n  subject = \"x\"\n}\n")
	_, diags := loadWith(path, nil)
	var out []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d.Summary+": "+d.Detail)
		}
	}
	return out
}

// TestLoad_ReferenceDetails pins what an operator reads about a reference
// that names nothing: the names that exist, and a "Did you mean" exactly
// when one of them is within two edits of the misspelt name.
func TestLoad_ReferenceDetails(t *testing.T) {
	const (
		checksAndPeer = "check \"web\" {\n  http = \"http://127.0.0.1/\"\n}\ncheck \"database\" {\n  tcp = \"127.0.0.1:5432\"\n}\npeer \"primary\" {\n  url = \"http://127.0.0.1:9870\"\n}\n"
		outboxFields  = "dead, failing, failing_for, oldest_age, pending, store_error, store_failing_for, store_failures, tests"
	)
	tests := []struct {
		name, decls, when string
		want              []string
	}{
		{
			name: "misspelt variable",
			when: "chek.web.ok",
			want: []string{`Unknown variable: There is no variable "chek" here; rules read node, check, peer, agent, outbox, credential. Did you mean "check"?`},
		},
		{
			name: "variable like none",
			when: "zzzzzz.web.ok",
			want: []string{`Unknown variable: There is no variable "zzzzzz" here; rules read node, check, peer, agent, outbox, credential.`},
		},
		{
			name:  "misspelt check: the checks are listed, not the peers",
			decls: checksAndPeer,
			when:  "check.wbe.ok",
			want:  []string{`Unknown check: No check block is named "wbe". Did you mean "web"? Declared: database, web.`},
		},
		{
			name:  "check like none",
			decls: checksAndPeer,
			when:  "check.zzzzzz.ok",
			want:  []string{`Unknown check: No check block is named "zzzzzz". Declared: database, web.`},
		},
		{
			name: "no check declared",
			when: "check.web.ok",
			want: []string{`Unknown check: No check block is named "web".`},
		},
		{
			name:  "misspelt peer: the peers are listed, not the checks",
			decls: checksAndPeer,
			when:  "peer.primry.reachable",
			want:  []string{`Unknown peer: No peer block is named "primry". Did you mean "primary"? Declared: primary.`},
		},
		{
			name:  "no peer declared",
			decls: "check \"web\" {\n  http = \"http://127.0.0.1/\"\n}\n",
			when:  "peer.web.reachable",
			want:  []string{`Unknown peer: No peer block is named "web".`},
		},
		{
			name: "misspelt agent field",
			when: "agent.stoping",
			want: []string{`Unknown fact: agent has no field "stoping". Did you mean "stopping"? Its fields: failing_rules, node, previous_role, role, role_since, silences, started, stopping, version.`},
		},
		{
			name: "agent field like none",
			when: "agent.zzzzzzzz",
			want: []string{`Unknown fact: agent has no field "zzzzzzzz". Its fields: failing_rules, node, previous_role, role, role_since, silences, started, stopping, version.`},
		},
		{
			name: "misspelt outbox field",
			when: "outbox.pendng > 0",
			want: []string{`Unknown fact: outbox has no field "pendng". Did you mean "pending"? Its fields: ` + outboxFields + `.`},
		},
		{
			name: "outbox field like none",
			when: "outbox.zzzzzzzz > 0",
			want: []string{`Unknown fact: outbox has no field "zzzzzzzz". Its fields: ` + outboxFields + `.`},
		},
		{
			name: "misspelt field of a failing transport, by index",
			when: `outbox.failing["relay"].failurs > 0`,
			want: []string{`Unknown fact: outbox.failing.relay has no field "failurs". Did you mean "failures"? Its fields: failing_for, failures, last_error.`},
		},
		{
			name: "misspelt field of a failing transport, all by index",
			when: `outbox.failing["relay"]["failurs"] > 0`,
			want: []string{`Unknown fact: outbox.failing.relay has no field "failurs". Did you mean "failures"? Its fields: failing_for, failures, last_error.`},
		},
		{
			name: "misspelt outbox field, by index",
			when: `outbox["pendng"] > 0`,
			want: []string{`Unknown fact: outbox has no field "pendng". Did you mean "pending"? Its fields: ` + outboxFields + `.`},
		},
		{
			name: "no check declared, by index",
			when: `check["web"].ok`,
			want: []string{`Unknown check: No check block is named "web".`},
		},
		{
			name: "misspelt agent field, by index",
			when: `agent["stoping"]`,
			want: []string{`Unknown fact: agent has no field "stoping". Did you mean "stopping"? Its fields: failing_rules, node, previous_role, role, role_since, silences, started, stopping, version.`},
		},
		{
			name: "misspelt field of a transport's credential",
			when: "credential.relay.days_lef < 30",
			want: []string{`Unknown fact: credential.relay has no field "days_lef". Did you mean "days_left"? Its fields: days_left, expires, obtained_at, refreshed_at, source, what.`},
		},
		{
			name: "the fields of a credential read over all of them",
			when: `length([for n, c in credential : n if c.days_left <= 30]) > 0`,
		},
		{
			// A number names no field: the reference check leaves it to
			// the evaluation, which says what is wrong.
			name: "outbox indexed by a number",
			when: `outbox[0] > 0`,
			want: []string{`Invalid index: The given key does not identify an element in this collection value. An object only supports looking up attributes by name, not by numeric index.`},
		},
		{
			name: "known field of a failing transport, all by index",
			when: `outbox.failing["relay"]["failures"] > 0`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameLines(t, "errors", refDetails(t, tt.decls, tt.when), tt.want)
		})
	}
}

// TestLoad_OutboxIndexedByNumber: a failing transport's streak indexed by
// a number is no field name; the reference check leaves it to the
// evaluation, which reports the index.
func TestLoad_OutboxIndexedByNumber(t *testing.T) {
	got := refDetails(t, "", `outbox.failing["relay"][0] > 0`)
	if len(got) != 1 || strings.HasPrefix(got[0], "Unknown fact") {
		t.Errorf("errors: %q", got)
	}
}

// TestTypedTraversal_KeysItCannotJudge: an index step whose key is not a
// known string (a traversal built by code, not parsed) ends the check
// without a diagnostic; a known string key is judged like a field name.
func TestTypedTraversal_KeysItCannotJudge(t *testing.T) {
	index := func(key cty.Value) hcl.Traversal {
		return hcl.Traversal{hcl.TraverseRoot{Name: "outbox"}, hcl.TraverseIndex{Key: key}}
	}
	for name, key := range map[string]cty.Value{
		"unknown string": cty.UnknownVal(cty.String),
		"null string":    cty.NullVal(cty.String),
		"null":           cty.NullVal(cty.DynamicPseudoType),
		"number":         cty.NumberIntVal(0),
		"bool":           cty.True,
	} {
		if d := typedTraversal(index(key), rules.OutboxType); d != nil {
			t.Errorf("%s key: %s: %s", name, d.Summary, d.Detail)
		}
	}
	if d := typedTraversal(index(cty.StringVal("pendng")), rules.OutboxType); d == nil || !strings.Contains(d.Detail, `Did you mean "pending"?`) {
		t.Errorf("a string key is not judged: %v", d)
	}
}
