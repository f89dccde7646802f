package config

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
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
	for name := range c.broken {
		r.broken[name] = true
	}
	r.secrets = append(r.secrets, c.fileReads...)
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

// Bounds on what one rendering prints (issue 11: 8,000 diagnostics on one
// 16 KB line printed 129 MB).
const (
	// maxSameDiagnostics is how many diagnostics with the same severity
	// and summary are printed for one file; the rest are counted in one
	// "and N more like this" line.
	maxSameDiagnostics = 5
	// maxShownWidth is the widest source line printed, in characters; a
	// wider one is shown as a window around the column, cut with "…".
	maxShownWidth = 160
)

// elided replaces, on a line that did not parse or names an unknown
// argument, the text of strings: nothing quoted is printed from it.
const elided = "…"

// renderer writes diagnostics with redacted source lines.
type renderer struct {
	sources   map[string][]byte
	sensitive map[string][]hcl.Range // file -> ranges of secret values
	broken    map[string]bool        // files known not to parse
	secrets   []string               // decoded secret values, file() contents
	files     map[string]*renderFile
}

// renderFile is what the renderer learned about one source file.
type renderFile struct {
	src     []byte
	starts  []int // byte offset of each line start
	broken  bool  // the file did not parse: trust no range in it
	hidden  map[int][]span
	literal []span // template text (strings, heredocs), in file offsets
	// scanned is where the literal scan stopped (the nesting limit);
	// everything after it is treated as template text.
	scanned int
}

// span is a byte range [lo, hi) of a line or a file.
type span struct{ lo, hi int }

func newRenderer(sources map[string][]byte) *renderer {
	return &renderer{
		sources:   sources,
		sensitive: map[string][]hcl.Range{},
		broken:    map[string]bool{},
		files:     map[string]*renderFile{},
	}
}

// sameKey identifies diagnostics that are alike for maxSameDiagnostics.
type sameKey struct {
	file, summary string
	sev           hcl.DiagnosticSeverity
}

func (r *renderer) write(w io.Writer, diags hcl.Diagnostics) error {
	bw := bufio.NewWriter(w)
	seen := map[sameKey]int{}
	var cut []sameKey
	for _, d := range diags {
		if d == nil {
			continue
		}
		k := sameKey{summary: d.Summary, sev: d.Severity}
		if d.Subject != nil {
			k.file = d.Subject.Filename
		}
		seen[k]++
		if n := seen[k]; n > maxSameDiagnostics {
			if n == maxSameDiagnostics+1 {
				cut = append(cut, k)
			}
			continue
		}
		fmt.Fprintf(bw, "%s: %s\n\n", severityWord(d.Severity), r.scrub(d.Summary))
		if s := d.Subject; s != nil && s.Filename != "" {
			fmt.Fprintf(bw, "  on %s:%d:%d:\n", s.Filename, s.Start.Line, s.Start.Column)
			if line, ok := r.line(s.Filename, s.Start, unknownName(d)); ok {
				fmt.Fprintf(bw, "%6d: %s\n", s.Start.Line, line)
			}
			bw.WriteString("\n")
		}
		if d.Detail != "" {
			fmt.Fprintf(bw, "%s\n\n", r.scrub(d.Detail))
		}
	}
	for _, k := range cut {
		in := ""
		if k.file != "" {
			in = " in " + k.file
		}
		fmt.Fprintf(bw, "%s: %s: and %d more like this%s, not shown.\n\n", severityWord(k.sev), r.scrub(k.summary), seen[k]-maxSameDiagnostics, in)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write diagnostics: %w", err)
	}
	return nil
}

func severityWord(s hcl.DiagnosticSeverity) string {
	if s == hcl.DiagWarning {
		return "Warning"
	}
	return "Error"
}

// unknownName reports whether d is about an argument or block name that
// is not expected (often with a "Did you mean"): the value next to a
// misspelled name may be a secret whose name the heuristics no longer
// recognise.
func unknownName(d *hcl.Diagnostic) bool {
	switch d.Summary {
	case "Unsupported argument", "Unsupported block type", "Extraneous label for block":
		return true
	}
	return false
}

// scrub removes secrets from message text.
func (r *renderer) scrub(s string) string { return scrubSecrets(s, r.secrets) }

// file returns what the renderer knows of file, or nil without its source.
func (r *renderer) file(name string) *renderFile {
	if f, ok := r.files[name]; ok {
		return f
	}
	src, ok := r.sources[name]
	if !ok {
		r.files[name] = nil
		return nil
	}
	f := &renderFile{src: src, starts: lineStarts(src), hidden: map[int][]span{}, broken: r.broken[name]}
	ranges, known := r.sensitive[name]
	if !known || f.broken {
		var ok bool
		ranges, ok = sourceHeuristicRanges(name, src)
		f.broken = f.broken || !ok
	}
	if f.broken {
		ranges = nil // a broken parse's ranges can end anywhere
	}
	for _, rng := range ranges {
		f.hide(rng.Start.Byte, rng.End.Byte)
	}
	for _, sec := range r.secrets {
		if len(sec) < minSecretLen {
			continue
		}
		for at := 0; ; {
			i := bytes.Index(src[at:], []byte(sec))
			if i < 0 {
				break
			}
			f.hide(at+i, at+i+len(sec))
			at += i + len(sec)
		}
	}
	f.literal, f.scanned = literalSpans(name, src)
	r.files[name] = f
	return f
}

// hide marks the file bytes [lo, hi) as secret, on each line they cover.
func (f *renderFile) hide(lo, hi int) {
	lo, hi = max(lo, 0), min(hi, len(f.src))
	// An empty range hides nothing: no line has l < h.
	n := sort.SearchInts(f.starts, lo+1) - 1 // line index of lo
	for ; n < len(f.starts) && f.starts[n] < hi; n++ {
		start, end := f.lineBounds(n)
		if l, h := max(lo, start), min(hi, end); l < h {
			f.hidden[n] = append(f.hidden[n], span{l - start, h - start})
		}
	}
}

// lineBounds returns the byte range of line index n (0-based), without
// its line end.
func (f *renderFile) lineBounds(n int) (int, int) {
	start, end := f.starts[n], len(f.src)
	if n+1 < len(f.starts) {
		end = f.starts[n+1] - 1 // the '\n'
	}
	return start, end
}

// line returns the source line of pos, redacted, and cut to a window
// around pos's column when it is wider than maxShownWidth. When elide is
// set, or the file did not parse, no string text of the line is printed.
func (r *renderer) line(file string, pos hcl.Pos, elide bool) (string, bool) {
	f := r.file(file)
	if f == nil {
		return "", false
	}
	n := pos.Line - 1
	if n < 0 || n >= len(f.starts) {
		return "", false
	}
	start, end := f.lineBounds(n)
	text := f.src[start:end]
	if len(text) > 0 && text[len(text)-1] == '\r' {
		text = text[:len(text)-1]
	}
	spans := append([]span(nil), f.hidden[n]...)
	var marks []string
	for range spans {
		marks = append(marks, redacted)
	}
	if elide || f.broken {
		for _, sp := range f.literalOn(start, len(text)) {
			spans = append(spans, sp)
			marks = append(marks, elided)
		}
		if sp, ok := afterSecretName(text, spans); ok && f.broken {
			spans = append(spans, sp)
			marks = append(marks, redacted)
		}
	}
	return window(text, spans, marks, pos.Column), true
}

// literalOn returns the template text of the line starting at start and
// n bytes long, in line offsets.
func (f *renderFile) literalOn(start, n int) []span {
	end := start + n
	var out []span
	i := sort.Search(len(f.literal), func(i int) bool { return f.literal[i].hi > start })
	for ; i < len(f.literal) && f.literal[i].lo < end; i++ {
		out = append(out, span{max(f.literal[i].lo, start) - start, min(f.literal[i].hi, end) - start})
	}
	if f.scanned < end {
		out = append(out, span{max(f.scanned, start) - start, n})
	}
	return out
}

// afterSecretName finds, outside the spans already hidden, a name that
// looks secret (or like a misspelt secret name) followed by its value, and
// returns the span from the value to the end of the line (empty when the
// line ends at the name).
func afterSecretName(text []byte, hidden []span) (span, bool) {
	mask := make([]bool, len(text))
	for _, sp := range hidden {
		for i := max(sp.lo, 0); i < min(sp.hi, len(text)); i++ {
			mask[i] = true
		}
	}
	inHidden := func(i int) bool { return mask[i] }
	for i := 0; i < len(text); {
		if !identByte(text[i], true) || inHidden(i) {
			i++
			continue
		}
		j := i
		for j < len(text) && identByte(text[j], j == i) && !inHidden(j) {
			j++
		}
		if secretish(string(text[i:j])) {
			k := j
			for k < len(text) && (text[k] == ' ' || text[k] == '\t' || text[k] == '=' || text[k] == ':') {
				k++
			}
			return span{k, len(text)}, true
		}
		i = j
	}
	return span{}, false
}

// secretish reports whether name looks like the name of a secret, or a
// misspelling of one ("pasword", "passwd", "pass", "tokn").
func secretish(name string) bool {
	if secretName(name) {
		return true
	}
	lower := strings.ToLower(name)
	for _, w := range []string{"pass", "pwd", "cred", "auth"} {
		if strings.Contains(lower, w) {
			return true
		}
	}
	if len(lower) < 4 {
		return false
	}
	for _, w := range sdk.SensitiveWords {
		if len(w) >= 5 && levenshtein.Distance(lower, w, nil) < 3 {
			return true
		}
	}
	return false
}

// window renders text with each span replaced by its mark, showing at
// most maxShownWidth characters around column col (1-based) and "…"
// where it cuts the line.
func window(text []byte, spans []span, marks []string, col int) string {
	// Merge the spans, first by position; overlapping ones take the mark
	// of the first.
	idx := make([]int, len(spans))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return spans[idx[a]].lo < spans[idx[b]].lo })
	type cut struct {
		span
		mark string
	}
	var merged []cut
	for _, i := range idx {
		sp := spans[i]
		if sp.lo >= sp.hi {
			continue
		}
		if m := len(merged); m > 0 && sp.lo <= merged[m-1].hi {
			merged[m-1].hi = max(merged[m-1].hi, sp.hi)
			continue
		}
		merged = append(merged, cut{sp, marks[i]})
	}
	// The window, in bytes of text: maxShownWidth characters, starting a
	// third of the way before the column.
	lo, hi := 0, len(text)
	if utf8.RuneCount(text) > maxShownWidth {
		at := byteOfColumn(text, col)
		lo = backRunes(text, at, maxShownWidth/3)
		hi = forwardRunes(text, lo, maxShownWidth)
	}
	var b strings.Builder
	if lo > 0 {
		b.WriteString(elided)
	}
	at := lo
	for _, c := range merged {
		if c.hi <= lo || c.lo >= hi {
			continue
		}
		b.Write(text[at:max(at, c.lo)]) // nothing when c starts left of the window
		b.WriteString(c.mark)
		at = c.hi
	}
	b.Write(text[min(at, hi):hi]) // nothing when the last span ends right of the window
	if hi < len(text) {
		b.WriteString(elided)
	}
	return strings.ToValidUTF8(b.String(), "\uFFFD")
}

// byteOfColumn returns the byte offset of column col (1-based, in runes)
// of text.
func byteOfColumn(text []byte, col int) int {
	return forwardRunes(text, 0, col-1)
}

// forwardRunes returns the offset n runes after from.
func forwardRunes(text []byte, from, n int) int {
	i := from
	for ; n > 0 && i < len(text); n-- {
		_, size := utf8.DecodeRune(text[i:])
		i += size
	}
	return i
}

// backRunes returns the offset n runes before from.
func backRunes(text []byte, from, n int) int {
	i := from
	for ; n > 0 && i > 0; n-- {
		_, size := utf8.DecodeLastRune(text[:i])
		i -= size
	}
	return i
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

// sourceHeuristicRanges parses src to find the values the name rule
// marks secret; ok is false when src is over the limits or does not parse.
func sourceHeuristicRanges(file string, src []byte) (ranges []hcl.Range, ok bool) {
	if CheckSource(file, src).HasErrors() {
		return nil, false
	}
	f, diags := hclsyntax.ParseConfig(src, file, hcl.InitialPos)
	if f == nil {
		return nil, false
	}
	body, isBody := f.Body.(*hclsyntax.Body)
	if !isBody {
		return nil, false
	}
	return heuristicRanges(body), !diags.HasErrors()
}

// heuristicRanges returns the ranges of the values of arguments and object
// keys whose name looks secret, anywhere in body.
func heuristicRanges(body *hclsyntax.Body) []hcl.Range {
	var out []hcl.Range
	_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		switch n := n.(type) {
		case *hclsyntax.Attribute:
			if n.Expr != nil && secretish(n.Name) {
				out = append(out, n.Expr.Range())
			}
		case *hclsyntax.ObjectConsExpr:
			for _, item := range n.Items {
				// The parser sets both expressions of every item.
				if secretish(objectKey(item.KeyExpr)) {
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
