package config

import (
	"strings"

	"github.com/agext/levenshtein"
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

// secretWords are the parts of an argument name that mark its value as
// secret when no schema says otherwise.
var secretWords = []string{"password", "secret", "token", "key"}

// secretName reports whether an argument named name probably holds a
// secret.
func secretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
