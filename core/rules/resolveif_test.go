package rules

import (
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// TestEvaluate_ResolveIf: a rule that stops holding always resolves, but
// it mails the resolve only unless ResolveIf evaluates to false at that
// evaluation; an error or a non-bool never silences it.
func TestEvaluate_ResolveIf(t *testing.T) {
	tests := []struct {
		name      string
		resolveIf string // "" leaves it unset
		notified  bool
	}{
		{name: "unset", notified: true},
		{name: "true", resolveIf: `check.web.ok`, notified: true},
		{name: "false: the situation changed shape", resolveIf: `check.role.ok`, notified: false},
		{name: "an error notifies", resolveIf: `check.missing.ok`, notified: true},
		{name: "null notifies", resolveIf: `null`, notified: true},
		{name: "a non-bool notifies", resolveIf: `"no"`, notified: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Rule{Name: "r", When: expr(t, `check.web.ok == false`), Notify: []string{"ops"}, Subject: expr(t, `"web down"`), OnResolve: true}
			if tt.resolveIf != "" {
				r.ResolveIf = expr(t, tt.resolveIf)
			}
			now := time.Now()
			down := Facts{Checks: map[string]facts.Fact{"web": {Kind: facts.KindTCP, Error: "refused"}, "role": {Kind: facts.KindTCP, OK: true}}}
			up := Facts{Checks: map[string]facts.Fact{"web": {Kind: facts.KindTCP, OK: true}, "role": {Kind: facts.KindTCP, Error: "now the backup"}}}
			res := Evaluate(r, State{}, down.EvalContext(time.Now), now)
			if len(res.Notifications) != 1 {
				t.Fatalf("fire: %+v", res)
			}
			res = Evaluate(r, res.State, up.EvalContext(time.Now), now.Add(time.Minute))
			if len(res.Events) != 1 || res.Events[0] != EventResolve || res.State.Phase != Inactive {
				t.Fatalf("resolve: %+v", res)
			}
			if got := len(res.Notifications) == 1; got != tt.notified {
				t.Errorf("resolve notified = %v, want %v", got, tt.notified)
			}
		})
	}
}
