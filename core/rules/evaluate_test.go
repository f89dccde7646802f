package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
)

func expr(t *testing.T, src string) hcl.Expression {
	t.Helper()
	e, diags := hclsyntax.ParseExpression([]byte(src), "rule.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return e
}

func peerFact(version string) facts.Fact {
	return facts.Fact{Check: "primary", Kind: facts.KindPeer, OK: true, Values: map[string]cty.Value{"version": cty.StringVal(version)}}
}

// TestEvaluate_Timeline walks one rule through pending, firing, a repeat
// and a resolve, and checks what each step would mail.
func TestEvaluate_Timeline(t *testing.T) {
	r := &Rule{
		Name:      "version_mismatch",
		When:      expr(t, `peer.primary.version != node.version`),
		For:       10 * time.Minute,
		Repeat:    time.Hour,
		Notify:    []string{"ops"},
		Severity:  "critical",
		Subject:   expr(t, `"Version ${rule.state}: ${node.version} here, ${peer.primary.version} on the primary"`),
		Text:      expr(t, `"since ${rule.since}"`),
		HTML:      expr(t, `"<p>${peer.primary.version}</p>"`),
		OnResolve: true,
	}
	r.Prepare()
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at      time.Duration
		primary string
		events  []Event
		subject string
	}{
		{at: 0, primary: "7.1", events: nil},
		{at: time.Minute, primary: "<b>7.2</b>", events: nil}, // pending
		{at: 5 * time.Minute, primary: "<b>7.2</b>", events: nil},
		{at: 11 * time.Minute, primary: "<b>7.2</b>", events: []Event{EventFire}, subject: "Version firing: 7.1 here, <b>7.2</b> on the primary"},
		{at: 30 * time.Minute, primary: "<b>7.2</b>", events: nil},
		{at: 71 * time.Minute, primary: "<b>7.2</b>", events: []Event{EventRepeat}},
		{at: 80 * time.Minute, primary: "7.1", events: []Event{EventResolve}, subject: "Resolved: Version resolved: 7.1 here, 7.1 on the primary"},
	}
	var st State
	for _, s := range steps {
		ctx := Facts{Node: map[string]cty.Value{"version": cty.StringVal("7.1")}, Peers: map[string]facts.Fact{"primary": peerFact(s.primary)}}.EvalContext(func() time.Time { return t0.Add(s.at) })
		res := Evaluate(r, st, ctx, t0.Add(s.at))
		if res.Err != nil {
			t.Fatalf("at %v: %v", s.at, res.Err)
		}
		if len(res.Events) != len(s.events) || (len(s.events) > 0 && res.Events[0] != s.events[0]) {
			t.Fatalf("at %v: events %v, want %v", s.at, res.Events, s.events)
		}
		if len(res.Notifications) != len(s.events) {
			t.Fatalf("at %v: %d notifications", s.at, len(res.Notifications))
		}
		if s.subject != "" && res.Notifications[0].Subject != s.subject {
			t.Errorf("at %v: subject %q, want %q", s.at, res.Notifications[0].Subject, s.subject)
		}
		for _, n := range res.Notifications {
			if strings.Contains(n.HTML, "<b>") {
				t.Errorf("at %v: HTML not escaped: %q", s.at, n.HTML)
			}
			if n.Event == EventFire && n.Text != "since 2026-11-23T10:01:00Z" {
				t.Errorf("text = %q", n.Text)
			}
			if n.Severity != "critical" || len(n.Contacts) != 1 {
				t.Errorf("notification = %+v", n)
			}
		}
		st = res.State
	}
}

func TestEvaluate_ResolveWithoutMail(t *testing.T) {
	r := &Rule{Name: "r", When: expr(t, `check.web.ok == false`), Notify: []string{"ops"}, Subject: expr(t, `"web down"`)}
	now := time.Now()
	down := Facts{Checks: map[string]facts.Fact{"web": {Kind: facts.KindTCP, OK: false, Error: "refused"}}}
	up := Facts{Checks: map[string]facts.Fact{"web": {Kind: facts.KindTCP, OK: true}}}
	res := Evaluate(r, State{}, down.EvalContext(time.Now), now)
	if len(res.Notifications) != 1 {
		t.Fatalf("fire: %+v", res)
	}
	res = Evaluate(r, res.State, up.EvalContext(time.Now), now.Add(time.Minute))
	if len(res.Events) != 1 || res.Events[0] != EventResolve || len(res.Notifications) != 0 {
		t.Errorf("resolve without on_resolve: %+v", res)
	}
}

func TestEvaluate_TemplateErrorStillNotifies(t *testing.T) {
	r := &Rule{Name: "r", Severity: "warning", When: expr(t, `true`), Notify: []string{"ops"}, Subject: expr(t, `"x ${check.missing.ok}"`)}
	res := Evaluate(r, State{}, Facts{}.EvalContext(time.Now), time.Now())
	if len(res.Notifications) != 1 {
		t.Fatalf("%+v", res)
	}
	n := res.Notifications[0]
	if n.Subject != "[warning] r firing" || !strings.Contains(n.Text, "could not render") || !strings.Contains(n.Text, "rule.hcl:1:") {
		t.Errorf("notification = %+v", n)
	}
}

func TestEvalNode(t *testing.T) {
	fields := map[string]hcl.Expression{
		"role":    expr(t, `"backup"`),
		"version": expr(t, `trimspace(check.version.stdout)`),
		"broken":  expr(t, `check.nope.stdout`),
	}
	checks := map[string]facts.Fact{"version": {Kind: facts.KindCommand, OK: true, Values: map[string]cty.Value{"stdout": cty.StringVal("7.1\n")}}}
	node, err := EvalNode(fields, checks, nil, Functions(time.Now))
	if err == nil || !strings.Contains(err.Error(), "node.broken") {
		t.Errorf("err = %v", err)
	}
	if node["role"].AsString() != "backup" || node["version"].AsString() != "7.1" || !node["broken"].IsNull() {
		t.Errorf("node = %#v", node)
	}
}

// TestEvaluate_PendingClearedHasNoSince: a rule whose condition stops
// holding before For is inactive with no "since", and when it holds again
// its "since" is the new start, not the old one.
func TestEvaluate_PendingClearedHasNoSince(t *testing.T) {
	r := &Rule{Name: "r", When: expr(t, `check.web.ok == false`), For: 5 * time.Minute, Notify: []string{"ops"}, Text: expr(t, `"since ${rule.since}"`)}
	r.Prepare()
	down := Facts{Checks: map[string]facts.Fact{"web": {Kind: facts.KindTCP, OK: false, Error: "refused"}}}
	up := Facts{Checks: map[string]facts.Fact{"web": {Kind: facts.KindTCP, OK: true}}}
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Duration
		facts Facts
		phase Phase
		since time.Duration // -1: zero
		text  string        // of the notification, if any
	}{
		{at: 0, facts: down, phase: Pending, since: 0},
		{at: 3 * time.Minute, facts: up, phase: Inactive, since: -1},
		{at: 4 * time.Minute, facts: up, phase: Inactive, since: -1},
		{at: 20 * time.Minute, facts: down, phase: Pending, since: 20 * time.Minute},
		{at: 25 * time.Minute, facts: down, phase: Firing, since: 20 * time.Minute, text: "since 2026-11-23T10:20:00Z"},
	}
	var st State
	for _, s := range steps {
		now := t0.Add(s.at)
		res := Evaluate(r, st, s.facts.EvalContext(func() time.Time { return now }), now)
		if res.Err != nil {
			t.Fatalf("at %v: %v", s.at, res.Err)
		}
		st = res.State
		if st.Phase != s.phase {
			t.Fatalf("at %v: phase %s, want %s", s.at, st.Phase, s.phase)
		}
		want := time.Time{}
		if s.since >= 0 {
			want = t0.Add(s.since)
		}
		if !st.ActiveSince.Equal(want) {
			t.Fatalf("at %v (%s): ActiveSince %v, want %v", s.at, st.Phase, st.ActiveSince, want)
		}
		var text string
		if len(res.Notifications) > 0 {
			text = res.Notifications[0].Text
		}
		if text != s.text {
			t.Fatalf("at %v: notification text %q, want %q", s.at, text, s.text)
		}
	}
}
