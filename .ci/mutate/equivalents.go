package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
)

// key names a mutant without its line number, so that edits elsewhere in
// the file do not invalidate a recorded equivalent: the file, the enclosing
// function, the mutator and the source line (whitespace collapsed) with the
// mutated operator in [[ ]].
type key struct {
	file    string
	fn      string
	mutator string
	text    string
}

// equivalent is a line of the equivalents file.
type equivalent struct {
	key
	reason string
	lineNo int
}

func readEquivalents(path string) ([]equivalent, error) {
	var out []equivalent
	err := readLines(path, func(no int, line string) error {
		f := strings.Split(line, "\t")
		if len(f) != 5 || strings.TrimSpace(f[4]) == "" {
			return fmt.Errorf("want file, function, mutator, line and a reason, tab-separated")
		}
		out = append(out, equivalent{key: key{file: f[0], fn: f[1], mutator: f[2], text: f[3]}, reason: f[4], lineNo: no})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("equivalents: %w", err)
	}
	return out, nil
}

func matchEquivalent(eqs []equivalent, k key) (int, bool) {
	for i, e := range eqs {
		if e.key == k {
			return i, true
		}
	}
	return 0, false
}

// source is a parsed Go file, for building keys.
type source struct {
	lines []string
	fset  *token.FileSet
	file  *ast.File
}

func newSource(path string) (*source, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, b, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &source{lines: strings.Split(string(b), "\n"), fset: fset, file: f}, nil
}

func (s *source) key(file, mutator string, line, col int) key {
	k := key{file: file, fn: "-", mutator: mutator}
	if line < 1 || line > len(s.lines) {
		return k
	}
	text := s.lines[line-1]
	if col >= 1 && col <= len(text) {
		end := col - 1
		for end < len(text) && strings.ContainsRune("+-*/%&|^<>=!", rune(text[end])) {
			end++
		}
		text = text[:col-1] + "[[" + text[col-1:end] + "]]" + text[end:]
	}
	k.text = strings.Join(strings.Fields(text), " ")
	for _, d := range s.file.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok {
			continue
		}
		if s.fset.Position(fd.Pos()).Line <= line && line <= s.fset.Position(fd.End()).Line {
			k.fn = funcName(fd)
		}
	}
	return k
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	star := ""
	if s, ok := t.(*ast.StarExpr); ok {
		star, t = "*", s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if ix, ok := t.(*ast.IndexListExpr); ok {
		t = ix.X
	}
	name := "?"
	if id, ok := t.(*ast.Ident); ok {
		name = id.Name
	}
	if star != "" {
		return "(*" + name + ")." + fd.Name.Name
	}
	return name + "." + fd.Name.Name
}
