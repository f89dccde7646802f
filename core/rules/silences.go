package rules

import (
	"time"

	"github.com/zclconf/go-cty/cty"
)

// SilenceType is the type of each element of agent.silences: a silence in
// force on this agent (see the agent's tocsin silence). target says what it
// covers ("rule NAME", "node NAME" or "all rules"), until when it ends
// (RFC 3339), by who set it and comment why.
var SilenceType = cty.Object(map[string]cty.Type{
	"id": cty.String, "target": cty.String, "until": cty.String, "by": cty.String, "comment": cty.String,
})

// SilenceVar is one element of agent.silences.
type SilenceVar struct {
	ID, Target, By, Comment string
	Until                   time.Time
}

// SilencesValue is agent.silences: a list of [SilenceType], in the order
// given (empty when none holds).
func SilencesValue(ss []SilenceVar) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(SilenceType)
	}
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.ObjectVal(map[string]cty.Value{
			"id":      cty.StringVal(s.ID),
			"target":  cty.StringVal(s.Target),
			"until":   cty.StringVal(s.Until.UTC().Format(time.RFC3339)),
			"by":      cty.StringVal(s.By),
			"comment": cty.StringVal(s.Comment),
		})
	}
	return cty.ListVal(vs)
}
