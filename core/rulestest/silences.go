package rulestest

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/tocsin-dev/tocsin/core/rules"
)

// silenceInput is what a facts block's silences may give of each silence:
// target and until, the rest optional.
var silenceInput = cty.ObjectWithOptionalAttrs(map[string]cty.Type{
	"id": cty.String, "target": cty.String, "until": cty.String, "by": cty.String, "comment": cty.String,
}, []string{"id", "by", "comment"})

// bindSilences reads a facts block's silences: agent.silences from the
// block's offset on, such as
// silences = [{ target = "rule takeover", until = "2026-11-23T10:00:00Z" }].
func bindSilences(fb *Facts) ([]rules.SilenceVar, hcl.Diagnostics) {
	bad := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid silences",
			Detail:   detail + `. silences is a list of objects such as silences = [{ target = "rule takeover", until = "2026-11-23T10:00:00Z", by = "alice", comment = "firmware update" }].`,
			Subject:  fb.SilencesRange.Ptr(),
		}}
	}
	v, err := convert.Convert(fb.Silences, cty.List(silenceInput))
	if err != nil {
		return nil, bad(err.Error())
	}
	if v.IsNull() || !v.IsWhollyKnown() {
		return nil, bad("silences is null or unknown")
	}
	var out []rules.SilenceVar
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		str := func(name string) string {
			a := e.GetAttr(name)
			if a.IsNull() {
				return ""
			}
			return a.AsString()
		}
		if str("target") == "" {
			return nil, bad("a silence has no target")
		}
		until, err := time.Parse(time.RFC3339, str("until"))
		if err != nil {
			return nil, bad(fmt.Sprintf("until %q is not an RFC 3339 time", str("until")))
		}
		id := str("id")
		if id == "" {
			id = fmt.Sprintf("s%d", len(out)+1)
		}
		out = append(out, rules.SilenceVar{ID: id, Target: str("target"), Until: until, By: str("by"), Comment: str("comment")})
	}
	return out, nil
}
