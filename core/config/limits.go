package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
)

// Limits on operator text, checked before it is parsed. The HCL parser,
// the evaluator and the walks over a parsed file recurse once per level of
// nesting, and a Go program cannot recover from running out of stack: an
// expression nested 70,000 deep killed the agent on reload. These limits
// keep every file far from that, and far above any real configuration.
const (
	// MaxSourceSize is the largest configuration, rule or rules-test file
	// that is read: 4 MiB, twenty times the largest shipped example set.
	MaxSourceSize = 4 << 20
	// MaxLineLength is the longest line of such a file, in bytes: 32 KiB.
	// Long lists may be written over several lines.
	MaxLineLength = 32 << 10
	// MaxNesting bounds how deeply an expression may nest: brackets,
	// parentheses, braces, strings, template interpolations and
	// directives each count one level, and so does each operator between
	// two commas or line ends at the same level (a+b+c nests two deep once
	// parsed). The shipped configurations stay under 30.
	MaxNesting = 200
)

// ReadSource reads the file name, of at most MaxSourceSize bytes, for
// parsing. A larger file is not read beyond the limit and gets a
// diagnostic.
func ReadSource(name string) ([]byte, hcl.Diagnostics) {
	f, err := os.Open(name)
	if err != nil {
		return nil, hcl.Diagnostics{fileDiag(name, "Cannot read a configuration file", fmt.Sprintf("Reading %s failed: %s.", name, unwrapPathError(err)))}
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, MaxSourceSize+1))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, hcl.Diagnostics{fileDiag(name, "Cannot read a configuration file", fmt.Sprintf("Reading %s failed: %s.", name, err))}
	}
	if len(src) > MaxSourceSize {
		return nil, hcl.Diagnostics{fileDiag(name, "File too large",
			fmt.Sprintf("%s is larger than %d bytes (4 MiB), the most Tocsin reads from one file. Split it into several files of a configuration directory.", name, MaxSourceSize))}
	}
	return src, nil
}

// CheckSource reports, before src (the text of the file name) is parsed,
// whether it exceeds MaxSourceSize, has a line longer than MaxLineLength
// or nests deeper than MaxNesting. Each problem is an error at its
// file:line:col; when there is one, src must not be parsed. The scan reads
// src once and uses memory in proportion to the nesting it allows.
func CheckSource(name string, src []byte) hcl.Diagnostics {
	if len(src) > MaxSourceSize {
		return hcl.Diagnostics{fileDiag(name, "File too large",
			fmt.Sprintf("%s is larger than %d bytes (4 MiB), the most Tocsin reads from one file. Split it into several files of a configuration directory.", name, MaxSourceSize))}
	}
	if d := checkLineLength(name, src); d != nil {
		return hcl.Diagnostics{d}
	}
	if d := checkNesting(name, src); d != nil {
		return hcl.Diagnostics{d}
	}
	return nil
}

// checkLineLength reports the first line of src longer than MaxLineLength.
func checkLineLength(name string, src []byte) *hcl.Diagnostic {
	start, line := 0, 1
	for i := 0; i <= len(src); i++ {
		if i < len(src) && src[i] != '\n' {
			continue
		}
		if i-start > MaxLineLength {
			at := start + MaxLineLength
			pos := hcl.Pos{Line: line, Column: runeColumn(src[start:at]), Byte: at}
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Line too long",
				Detail: fmt.Sprintf("Line %d is %d bytes long; a line may hold at most %d bytes (32 KiB). Break it after a comma or an operator inside brackets, or read a long value with file().",
					line, i-start, MaxLineLength),
				Subject: &hcl.Range{Filename: name, Start: pos, End: pos},
			}
		}
		start, line = i+1, line+1
	}
	return nil
}

// runeColumn is the 1-based column just after b, the start of a line, in
// characters as HCL counts them (near enough: runes).
func runeColumn(b []byte) int {
	col := 1
	for _, c := range b {
		if c&0xC0 != 0x80 {
			col++
		}
	}
	return col
}

// Kinds of nesting level in checkNesting.
const (
	nestRoot    = iota // the file's body
	nestParen          // ( ... )
	nestBrack          // [ ... ]
	nestBrace          // { ... }: a block body or an object
	nestInterp         // ${ ... } or %{ ... }: code inside a template
	nestQuoted         // "...": a quoted template
	nestHeredoc        // <<EOT ... EOT: a heredoc template
)

// nestLevel is one level of checkNesting's stack.
type nestLevel struct {
	kind   int
	ops    int    // operators and closed groups since the last separator
	marker []byte // a heredoc's closing marker
	// forExpr is set for a brace that holds a for expression, in which
	// line ends do not separate items.
	forExpr bool
}

// checkNesting scans src the way HCL's scanner reads it (code, quoted and
// heredoc templates, comments) and returns an error at the first place
// where the nesting, as MaxNesting counts it, goes over the limit. The
// count is an upper bound of how deeply the parser and the evaluator
// recurse; it is meant to err on the safe side for broken input.
func checkNesting(name string, src []byte) *hcl.Diagnostic {
	d, _ := scanNesting(name, src)
	return d
}

// scanNesting is checkNesting, which also returns the deepest nesting it
// saw.
func scanNesting(name string, src []byte) (*hcl.Diagnostic, int) {
	s := nestScanner{src: src, line: 1, col: 1}
	s.run()
	if !s.over {
		return nil, s.deepest
	}
	pos := hcl.Pos{Line: s.overAt.line, Column: s.overAt.col, Byte: s.overAt.byte}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Expression nested too deeply",
		Detail: fmt.Sprintf("The file nests more than %d levels deep here (brackets, strings, interpolations and chained operators each count one). Write the expression more simply, or split it over several rules or checks.",
			MaxNesting),
		Subject: &hcl.Range{Filename: name, Start: pos, End: pos},
	}, s.deepest
}

// run scans up to the end of src, or to where the nesting goes over.
func (s *nestScanner) run() {
	s.stack = append(s.stack, nestLevel{kind: nestRoot})
	for s.i < len(s.src) && !s.over {
		switch s.top().kind {
		case nestQuoted:
			s.quoted()
		case nestHeredoc:
			s.heredoc()
		default:
			s.code()
		}
	}
}

type scanPos struct{ line, col, byte int }

type nestScanner struct {
	src       []byte
	i         int
	line, col int
	stack     []nestLevel
	total     int // the nesting: levels (the root aside) plus their ops
	deepest   int // the largest total so far
	over      bool
	overAt    scanPos
	lineStart bool   // at the start of a heredoc line
	record    bool   // collect lits
	lits      []span // template text seen, when record is set
}

// lit consumes n bytes of template text.
func (s *nestScanner) lit(n int) {
	if s.record {
		hi := min(s.i+n, len(s.src))
		if l := len(s.lits); l > 0 && s.lits[l-1].hi == s.i {
			s.lits[l-1].hi = hi
		} else {
			s.lits = append(s.lits, span{s.i, hi})
		}
	}
	s.advance(n)
}

// literalSpans returns the template text of src (the insides of strings
// and heredocs, interpolations aside), in order, and the offset where the
// scan stopped: len(src), or where the nesting went over MaxNesting.
func literalSpans(name string, src []byte) ([]span, int) {
	s := nestScanner{src: src, line: 1, col: 1, record: true}
	s.run()
	if s.over {
		return s.lits, s.overAt.byte
	}
	return s.lits, len(src)
}

func (s *nestScanner) top() *nestLevel { return &s.stack[len(s.stack)-1] }

func (s *nestScanner) peek(off int) byte {
	if s.i+off < len(s.src) {
		return s.src[s.i+off]
	}
	return 0
}

// advance moves n bytes on, keeping the line and column.
func (s *nestScanner) advance(n int) {
	for ; n > 0 && s.i < len(s.src); n-- {
		c := s.src[s.i]
		s.i++
		switch {
		case c == '\n':
			s.line, s.col = s.line+1, 1
		case c&0xC0 != 0x80:
			s.col++
		}
	}
}

// grow adds n to the nesting and notes where it first goes over.
func (s *nestScanner) grow(n int) {
	s.total += n
	s.deepest = max(s.deepest, s.total)
	if s.total > MaxNesting && !s.over {
		s.over = true
		s.overAt = scanPos{s.line, s.col, s.i}
	}
}

// op counts an operator (or a closed group) at the current level.
func (s *nestScanner) op() {
	s.top().ops++
	s.grow(1)
}

// separate ends an item of the current level: a comma, or a line end in
// a body or an object.
func (s *nestScanner) separate() {
	t := s.top()
	s.total -= t.ops
	t.ops = 0
}

func (s *nestScanner) push(l nestLevel) {
	s.stack = append(s.stack, l)
	s.grow(1)
}

// pop closes the top level; for code around it, the closed group is one
// more term of its expression (as in a[b][c] or "x" + "y"). A template's
// parts are a flat list.
func (s *nestScanner) pop() {
	t := s.top()
	s.total -= t.ops + 1
	s.stack = s.stack[:len(s.stack)-1]
	if k := s.top().kind; k != nestQuoted && k != nestHeredoc {
		s.op()
	}
}

// closeBrace handles "}" in code: like HCL's scanner, it closes the
// innermost brace or interpolation, and whatever is open inside it.
func (s *nestScanner) closeBrace() {
	for j := len(s.stack) - 1; j > 0; j-- {
		if k := s.stack[j].kind; k == nestBrace || k == nestInterp {
			for len(s.stack) > j+1 { // left open inside: a syntax error
				t := s.top()
				s.total -= t.ops + 1
				s.stack = s.stack[:len(s.stack)-1]
			}
			s.pop()
			return
		}
	}
}

func (s *nestScanner) code() {
	c := s.src[s.i]
	switch c {
	case '#':
		s.skipLine()
		return
	case '/':
		switch s.peek(1) {
		case '/':
			s.skipLine()
			return
		case '*':
			s.advance(2)
			for s.i < len(s.src) && (s.src[s.i] != '*' || s.peek(1) != '/') {
				s.advance(1)
			}
			s.advance(2)
			return
		}
		s.op()
	case '"':
		s.push(nestLevel{kind: nestQuoted})
	case '<':
		if s.peek(1) == '<' && s.heredocStart() {
			return
		}
		if s.peek(1) == '=' {
			s.advance(1) // <=
		}
		s.op()
	case '(':
		s.push(nestLevel{kind: nestParen})
	case '[':
		s.push(nestLevel{kind: nestBrack})
	case '{':
		s.push(nestLevel{kind: nestBrace, forExpr: s.forAhead(s.i + 1)})
	case ')':
		if s.top().kind == nestParen {
			s.pop()
		}
	case ']':
		if s.top().kind == nestBrack {
			s.pop()
		}
	case '}':
		s.closeBrace()
	case '~':
		if s.peek(1) == '}' {
			s.advance(1)
			s.closeBrace()
		} else {
			s.op()
		}
	case ',':
		s.separate()
	case '\n':
		if t := s.top(); t.kind == nestRoot || t.kind == nestBrace && !t.forExpr {
			s.separate()
		}
	case '&', '|', '=', '!', '>':
		// &&, ||, ==, !=, <=, >= and => are one operator each.
		if n := s.peek(1); (c == '&' || c == '|') && n == c || n == '=' && c != '=' || c == '=' && (n == '=' || n == '>') {
			s.advance(1)
		}
		s.op()
	case '+', '-', '*', '%', '?', ':':
		s.op()
		// A dot (a.b.c) is a step of a flat traversal, not a level.
	}
	s.advance(1)
}

// forAhead reports whether the code at i, after blanks and line ends,
// starts with the keyword for.
func (s *nestScanner) forAhead(i int) bool {
	for i < len(s.src) && (s.src[i] == ' ' || s.src[i] == '\t' || s.src[i] == '\n' || s.src[i] == '\r') {
		i++
	}
	return bytes.HasPrefix(s.src[i:], []byte("for")) && (i+3 == len(s.src) || !identByte(s.src[i+3], false))
}

// skipLine skips a line comment, up to its line end.
func (s *nestScanner) skipLine() {
	for s.i < len(s.src) && s.src[s.i] != '\n' {
		s.advance(1)
	}
}

// heredocStart reads "<<EOT" or "<<-EOT" and its line end at s.i, and
// enters the heredoc; it reports false when the text is not one.
func (s *nestScanner) heredocStart() bool {
	j := s.i + 2
	if j < len(s.src) && s.src[j] == '-' { // <<-EOT
		j++
	}
	// Only ASCII markers: for any other, reading on as code counts at
	// least as deep as HCL could nest.
	k := j
	for k < len(s.src) && s.src[k] < 0x80 && identByte(s.src[k], k == j) {
		k++
	}
	if k == j {
		return false
	}
	end := k
	if end < len(s.src) && s.src[end] == '\r' {
		end++
	}
	if end >= len(s.src) || s.src[end] != '\n' {
		return false
	}
	marker := s.src[j:k]
	s.push(nestLevel{kind: nestHeredoc, marker: marker})
	s.advance(end + 1 - s.i)
	s.lineStart = true
	return true
}

// identByte reports whether c may be part of an identifier (first: its
// first byte). Non-ASCII letters count, as HCL allows them.
func identByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c >= 0x80:
		return true
	case c >= '0' && c <= '9', c == '-':
		return !first
	}
	return false
}

// templateStart handles "${", "%{" and their escapes "$${", "%%{" in a
// template; it reports whether it consumed anything.
func (s *nestScanner) templateStart() bool {
	c := s.src[s.i]
	if c != '$' && c != '%' {
		return false
	}
	if s.peek(1) == c && s.peek(2) == '{' {
		s.lit(3)
		return true
	}
	if s.peek(1) != '{' {
		return false
	}
	if c == '%' {
		// A directive: if and for open a level of the template,
		// endif and endfor close one.
		j := s.i + 2
		for j < len(s.src) && (s.src[j] == ' ' || s.src[j] == '\t' || s.src[j] == '~') {
			j++
		}
		k := j
		for k < len(s.src) && identByte(s.src[k], k == j) {
			k++
		}
		switch string(s.src[j:k]) {
		case "if", "for":
			s.op()
		case "endif", "endfor":
			if t := s.top(); t.ops > 0 {
				t.ops--
				s.total--
			}
		}
	}
	s.advance(2)
	s.push(nestLevel{kind: nestInterp})
	return true
}

func (s *nestScanner) quoted() {
	switch s.src[s.i] {
	case '\\':
		s.lit(2)
		return
	case '"':
		s.advance(1)
		s.pop()
		return
	}
	if !s.templateStart() {
		s.lit(1)
	}
}

func (s *nestScanner) heredoc() {
	if s.lineStart {
		s.lineStart = false
		t := s.top()
		k := s.i
		for k < len(s.src) && s.src[k] != '\n' {
			k++
		}
		if bytes.Equal(bytes.TrimSpace(s.src[s.i:k]), t.marker) {
			s.advance(k - s.i)
			s.pop()
			return
		}
	}
	if s.src[s.i] == '\n' {
		s.lit(1)
		s.lineStart = true
		return
	}
	if !s.templateStart() {
		s.lit(1)
	}
}
