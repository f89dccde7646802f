package config

import (
	"github.com/agext/levenshtein"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// nameSuggestion returns the first of suggestions that is close to given
// (an edit distance under 3, as hclsyntax does), or "".
func nameSuggestion(given string, suggestions []string) string {
	for _, s := range suggestions {
		if levenshtein.Distance(given, s, nil) < 3 {
			return s
		}
	}
	return ""
}

// secretName reports whether an argument named name probably holds a
// secret; the SDK holds the rule so plugins and the agent agree on it.
func secretName(name string) bool { return sdk.LooksSensitive(name) }
