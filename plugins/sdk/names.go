package sdk

import (
	"regexp"
	"strings"
)

var (
	pluginNameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	attributeNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

// ValidPluginName reports whether name can name a plugin: lower-case
// letters, digits and hyphens, not starting with a hyphen. It is the NAME
// of the executable tocsin-plugin-NAME and of plugin = "NAME" in a
// transport block.
func ValidPluginName(name string) bool { return pluginNameRE.MatchString(name) }

// ValidAttributeName reports whether name can be written as an argument
// in an HCL config block.
func ValidAttributeName(name string) bool { return attributeNameRE.MatchString(name) }

// SensitiveWords are the parts of a setting's name that make the agent
// treat its value as a secret even where no schema says so (for example
// when printing a file that does not parse). A schema attribute whose name
// contains one must be Sensitive.
var SensitiveWords = []string{"password", "secret", "token", "key"}

// NotSecretSuffixes end setting names that describe a secret without
// holding it: a path, a URL, a variable name, a duration, the hash of a
// random token (token_sha256: it cannot be turned back), an expiry date.
// "token_url", "key_file", "token_grace", "token_key_env" and
// "client_secret_expires" are not secrets.
var NotSecretSuffixes = []string{"_file", "_path", "_dir", "_url", "_uri", "_env", "_grace", "_timeout", "_ttl", "_interval", "_sha256", "_expires"}

// LooksSensitive reports whether a setting named name holds a secret by
// its name: it contains one of SensitiveWords, in any case, and does not
// end with one of NotSecretSuffixes.
func LooksSensitive(name string) bool {
	name = strings.ToLower(name)
	for _, suf := range NotSecretSuffixes {
		if strings.HasSuffix(name, suf) {
			return false
		}
	}
	for _, w := range SensitiveWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
