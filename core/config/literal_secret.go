package config

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// literalSecretWarnings warns about each secret written as a plain string
// in body: the value of an argument or object key whose name looks secret
// (sdk.LooksSensitive). The configuration is then as secret as the
// password, and ends up in backups, version control and bug reports.
func literalSecretWarnings(body *hclsyntax.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.Attribute:
			if secretName(n.Name) && isLiteralString(n.Expr) {
				diags = append(diags, literalSecretWarning(n.Name, n.Expr.Range()))
			}
		case *hclsyntax.ObjectConsExpr:
			for _, item := range n.Items {
				if item.KeyExpr == nil || item.ValueExpr == nil {
					continue
				}
				if k := objectKey(item.KeyExpr); secretName(k) && isLiteralString(item.ValueExpr) {
					diags = append(diags, literalSecretWarning(k, item.ValueExpr.Range()))
				}
			}
		}
		return nil
	})
	return diags
}

// isLiteralString reports whether expr is a string written out in full
// (quoted or heredoc, no interpolation, not empty).
func isLiteralString(expr hclsyntax.Expression) bool {
	switch e := expr.(type) {
	case *hclsyntax.TemplateExpr:
		if !e.IsStringLiteral() {
			return false
		}
		v, diags := e.Value(nil)
		return !diags.HasErrors() && v.IsKnown() && !v.IsNull() && v.AsString() != ""
	case *hclsyntax.LiteralValueExpr:
		return false // numbers, bools and null are not secrets
	}
	return false
}

// literalSecretWarning is the warning for the secret setting name written
// as a literal at rng.
func literalSecretWarning(name string, rng hcl.Range) *hcl.Diagnostic {
	env := "TOCSIN_" + strings.ToUpper(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name))
	return &hcl.Diagnostic{
		Severity: hcl.DiagWarning,
		Summary:  "Secret written in the configuration",
		Detail: fmt.Sprintf("%q is written here as plain text, so the configuration file is as secret as it is, and copies of the file (backups, version control, bug reports) carry it. "+
			"Read it from the environment with %s = env(%q), or from a file that only the agent can read with %s = file(\"/etc/tocsin/%s\").",
			name, name, env, name, strings.ToLower(env[len("TOCSIN_"):])),
		Subject: rng.Ptr(),
	}
}
