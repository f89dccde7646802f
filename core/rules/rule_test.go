package rules

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

func TestRule_Holds(t *testing.T) {
	vars := map[string]cty.Value{
		"node": cty.ObjectVal(map[string]cty.Value{
			"version": cty.StringVal("4.2"),
		}),
		"peer": cty.ObjectVal(map[string]cty.Value{
			"primary": cty.ObjectVal(map[string]cty.Value{
				"version": cty.StringVal("4.1"),
				"flag":    cty.NullVal(cty.Bool),
				"later":   cty.UnknownVal(cty.Bool),
			}),
		}),
	}
	tests := []struct {
		name    string
		src     string
		want    bool
		wantErr []string
	}{
		{name: "true", src: `peer.primary.version != node.version`, want: true},
		{name: "false", src: `peer.primary.version == node.version`, want: false},
		{name: "literal", src: `true`, want: true},
		{name: "non-bool", src: `node.version`, wantErr: []string{`rule "r"`, "rules.hcl:1:1", "must be a bool, not string"}},
		{name: "number", src: `1 + 1`, wantErr: []string{"must be a bool, not number"}},
		{name: "null", src: `peer.primary.flag`, wantErr: []string{`rule "r"`, "rules.hcl:1:1", "null"}},
		{name: "unknown value", src: `peer.primary.later`, wantErr: []string{"not known"}},
		{name: "unknown variable", src: `true && chek.web.ok`, wantErr: []string{`rule "r"`, "rules.hcl:1:9", "Unknown variable"}},
		{name: "missing attribute", src: `peer.backup.version == "1"`, wantErr: []string{"rules.hcl:1:5", "Unsupported attribute"}},
		{name: "function error", src: `age("x") > 1`, wantErr: []string{"rules.hcl:1:6", "RFC 3339"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Rule{Name: "r", When: mustExpr(t, tt.src)}
			got, err := r.Holds(evalCtx(vars))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Holds = %v, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Holds: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Holds = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRule_Holds_NoPanic(t *testing.T) {
	var nilRule *Rule
	if _, err := nilRule.Holds(nil); err == nil {
		t.Error("nil rule: want an error")
	}
	if _, err := (&Rule{Name: "x"}).Holds(nil); err == nil || !strings.Contains(err.Error(), "no when") {
		t.Errorf("no condition: got %v", err)
	}
	if _, err := (&Rule{Name: "x", When: mustExpr(t, "a")}).Holds(nil); err == nil {
		t.Error("nil context with a variable: want an error")
	}
}

func TestRule_Reads(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want bool
	}{
		{name: "nothing", rule: Rule{}},
		{name: "other roots", rule: Rule{When: mustExpr(t, `node.role == "backup"`), Subject: mustTemplate(t, `${agent.node}`)}},
		{name: "condition", rule: Rule{When: mustExpr(t, `outbox.pending > 0`)}, want: true},
		{name: "subject", rule: Rule{When: mustExpr(t, `true`), Subject: mustTemplate(t, `${outbox.dead} dead`)}, want: true},
		{name: "text", rule: Rule{Text: mustTemplate(t, `%{ for n, s in outbox.failing }${n}%{ endfor }`)}, want: true},
		{name: "html", rule: Rule{HTML: mustTemplate(t, `<p>${outbox.oldest_age}</p>`)}, want: true},
		{name: "attachment", rule: Rule{Attach: []hcl.Expression{mustExpr(t, `"/var/log/a"`), mustExpr(t, `outbox.failing.relay.last_error`)}}, want: true},
		{name: "a field named outbox is not the root", rule: Rule{When: mustExpr(t, `node.outbox == "x"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rule.Reads("outbox"); got != tt.want {
				t.Errorf("Reads(outbox) = %v, want %v", got, tt.want)
			}
		})
	}
}
