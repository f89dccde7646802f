package config

import (
	"github.com/tocsin-dev/tocsin/core/hcldecode"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// nameSuggestion returns the first of suggestions that is close to given
// (hcldecode.Suggestion), or "".
func nameSuggestion(given string, suggestions []string) string {
	return hcldecode.Suggestion(given, suggestions)
}

// secretName reports whether an argument named name probably holds a
// secret; the SDK holds the rule so plugins and the agent agree on it.
func secretName(name string) bool { return sdk.LooksSensitive(name) }
