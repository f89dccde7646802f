package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// AlertLabels are the labels the agent sets on every rule's alert
// (sdk.Alert.Labels); a rule's own labels cannot set them. alertname is
// the rule's name as Alertmanager reads it, which the alertmanager
// transport sets.
var AlertLabels = []string{"alertname", "node", "role", "severity"}

// labelName is a label name Prometheus and Alertmanager accept.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// decodeLabels decodes a rule's labels: a map of label names to
// non-empty strings, as Prometheus labels go. Names are checked for what
// Alertmanager accepts, and may not be one the agent sets itself.
func decodeLabels(attr *hcl.Attribute, ctx *hcl.EvalContext) (map[string]string, hcl.Diagnostics) {
	v, diags := attrValue(attr, ctx, cty.Map(cty.String))
	if diags.HasErrors() {
		return nil, diags
	}
	if v.IsNull() || v.LengthInt() == 0 {
		return nil, nil
	}
	out := map[string]string{}
	names := []string{}
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		names = append(names, k.AsString())
		if val.IsNull() {
			diags = append(diags, attrError(attr, "Invalid label", fmt.Sprintf("The label %q is null; give it a value or leave it out.", k.AsString())))
			continue
		}
		out[k.AsString()] = val.AsString()
	}
	sort.Strings(names)
	for _, n := range names {
		switch {
		case slices.Contains(AlertLabels, n):
			diags = append(diags, attrError(attr, "Reserved label",
				fmt.Sprintf("The label %q is set by Tocsin on every alert (%s); choose another name.", n, strings.Join(AlertLabels, ", "))))
		case strings.HasPrefix(n, "__") || !labelName.MatchString(n):
			diags = append(diags, attrError(attr, "Invalid label name",
				fmt.Sprintf("%q is not a label name Alertmanager accepts: use letters, digits and underscores, not starting with a digit or with two underscores, such as \"team\" or \"service\".", n)))
		case strings.TrimSpace(out[n]) == "":
			diags = append(diags, attrError(attr, "Empty label",
				fmt.Sprintf("The label %q is empty; Alertmanager treats an empty label as no label. Give it a value or leave it out.", n)))
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return out, diags
}
