package config

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// redacted replaces a secret value in rendered output.
const redacted = "(sensitive)"

// minSecretLen is the shortest decoded secret scrubbed from message text;
// shorter ones would blank out ordinary words.
const minSecretLen = 4

// WriteDiagnostics renders diags for an operator, each as its severity and
// summary, the file:line:col of its subject with that source line, and its
// detail. Values of sensitive settings (those DecodeSettings learned from
// the plugins' schemas, and arguments whose name contains "password",
// "secret", "token" or "key") are printed as "(sensitive)". It works on the
// partial Config that Load returns with errors; c may be nil.
func (c *Config) WriteDiagnostics(w io.Writer, diags hcl.Diagnostics) error {
	if c == nil {
		return WriteDiagnostics(w, nil, diags)
	}
	r := newRenderer(c.Sources)
	for name, rs := range c.sensitive {
		r.sensitive[name] = append([]hcl.Range(nil), rs...)
	}
	for _, t := range c.Transports {
		for _, rng := range t.sensitiveRanges {
			r.sensitive[rng.Filename] = append(r.sensitive[rng.Filename], rng)
		}
		r.secrets = append(r.secrets, t.secrets...)
	}
	return r.write(w, diags)
}

// WriteDiagnostics renders diags like Config.WriteDiagnostics, for when
// there is no Config; sources maps file names as in the ranges to their
// bytes and may be nil. Only the argument-name rule decides what is
// sensitive.
func WriteDiagnostics(w io.Writer, sources map[string][]byte, diags hcl.Diagnostics) error {
	return newRenderer(sources).write(w, diags)
}

// renderer writes diagnostics with redacted source lines.
type renderer struct {
	sources   map[string][]byte
	sensitive map[string][]hcl.Range // file -> ranges of secret values
	secrets   []string               // decoded secret values
	lines     map[string][]int       // file -> byte offset of each line start
}

func newRenderer(sources map[string][]byte) *renderer {
	return &renderer{
		sources:   sources,
		sensitive: map[string][]hcl.Range{},
		lines:     map[string][]int{},
	}
}

func (r *renderer) write(w io.Writer, diags hcl.Diagnostics) error {
	bw := bufio.NewWriter(w)
	for _, d := range diags {
		if d == nil {
			continue
		}
		sev := "Error"
		if d.Severity == hcl.DiagWarning {
			sev = "Warning"
		}
		fmt.Fprintf(bw, "%s: %s\n\n", sev, scrubSecrets(d.Summary, r.secrets))
		if s := d.Subject; s != nil && s.Filename != "" {
			fmt.Fprintf(bw, "  on %s:%d:%d:\n", s.Filename, s.Start.Line, s.Start.Column)
			if line, ok := r.line(s.Filename, s.Start.Line); ok {
				fmt.Fprintf(bw, "%6d: %s\n", s.Start.Line, line)
			}
			bw.WriteString("\n")
		}
		if d.Detail != "" {
			fmt.Fprintf(bw, "%s\n\n", scrubSecrets(d.Detail, r.secrets))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write diagnostics: %w", err)
	}
	return nil
}

// line returns source line n (1-based) of file with secrets redacted.
func (r *renderer) line(file string, n int) (string, bool) {
	src, ok := r.sources[file]
	if !ok {
		return "", false
	}
	starts, ok := r.lines[file]
	if !ok {
		starts = lineStarts(src)
		r.lines[file] = starts
	}
	if n < 1 || n > len(starts) {
		return "", false
	}
	start := starts[n-1]
	end := len(src)
	if n < len(starts) {
		end = starts[n] - 1 // the '\n'
	}
	if _, ok := r.sensitive[file]; !ok {
		r.sensitive[file] = sourceHeuristicRanges(file, src)
	}

	// Collect the parts of the line covered by a secret value.
	type span struct{ lo, hi int }
	var spans []span
	for _, rng := range r.sensitive[file] {
		lo, hi := max(rng.Start.Byte, start), min(rng.End.Byte, end)
		if lo < hi {
			spans = append(spans, span{lo - start, hi - start})
		}
	}
	text := string(src[start:end])
	if len(spans) > 0 {
		sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
		merged := spans[:1]
		for _, sp := range spans[1:] {
			if last := &merged[len(merged)-1]; sp.lo <= last.hi {
				last.hi = max(last.hi, sp.hi)
			} else {
				merged = append(merged, sp)
			}
		}
		var b strings.Builder
		at := 0
		for _, sp := range merged {
			b.WriteString(text[at:sp.lo])
			b.WriteString(redacted)
			at = sp.hi
		}
		b.WriteString(text[at:])
		text = b.String()
	} else {
		// Nothing parsed covers this line: it may be the broken line of a
		// file that did not parse. Fall back to the look of the text.
		text = redactByName(text)
	}
	text = strings.TrimRight(text, "\r")
	return scrubSecrets(text, r.secrets), true
}

// lineStarts returns the byte offset at which each line of src starts.
func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// secretAssignRE finds "name =" or "name:" where name looks secret; the
// rest of the line is its value.
var secretAssignRE = regexp.MustCompile(`(?i)[A-Za-z0-9_-]*(password|secret|token|key)[A-Za-z0-9_-]*"?\s*[=:]\s*`)

// redactByName hides what follows an assignment to a secret-looking name.
func redactByName(line string) string {
	loc := secretAssignRE.FindStringIndex(line)
	if loc == nil || loc[1] == len(line) {
		return line
	}
	return line[:loc[1]] + redacted
}

// sourceHeuristicRanges parses src to find the values the name rule
// marks secret.
func sourceHeuristicRanges(file string, src []byte) []hcl.Range {
	f, _ := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if f == nil {
		return nil
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	return heuristicRanges(body)
}

// heuristicRanges returns the ranges of the values of arguments and object
// keys whose name looks secret, anywhere in body.
func heuristicRanges(body *hclsyntax.Body) []hcl.Range {
	var out []hcl.Range
	_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.Attribute:
			if n.Expr != nil && secretName(n.Name) {
				out = append(out, n.Expr.Range())
			}
		case *hclsyntax.ObjectConsExpr:
			for _, item := range n.Items {
				if item.KeyExpr != nil && item.ValueExpr != nil && secretName(objectKey(item.KeyExpr)) {
					out = append(out, item.ValueExpr.Range())
				}
			}
		}
		return nil
	})
	return out
}

// objectKey returns the name of an object key written as a bare word or a
// literal string, or "".
func objectKey(expr hclsyntax.Expression) string {
	if k := hcl.ExprAsKeyword(expr); k != "" {
		return k
	}
	if k, ok := expr.(*hclsyntax.ObjectConsKeyExpr); ok {
		expr = k.Wrapped
	}
	if t, ok := expr.(*hclsyntax.TemplateExpr); ok && t.IsStringLiteral() {
		if v, diags := t.Value(nil); !diags.HasErrors() && v.IsKnown() && !v.IsNull() {
			return v.AsString()
		}
	}
	return ""
}

// scrubSecrets replaces every secret of at least minSecretLen bytes in s.
func scrubSecrets(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= minSecretLen && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}
