package main

import (
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// mutations are gremlins' token replacements (internal/engine/mappings.go
// of v0.6.0), used to check that a killed mutant compiles at all.
var mutations = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_LOGICAL":        {token.LAND: token.LOR, token.LOR: token.LAND},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

// typeChecker type-checks a package with one token replaced.
type typeChecker struct {
	path  string
	fset  *token.FileSet
	files map[string]*ast.File
	all   []*ast.File
	imp   types.Importer
}

// newTypeChecker type-checks the package in dir ("./path" or ".")
// of the module in modDir.
func newTypeChecker(modDir, dir string) (*typeChecker, error) {
	stage := modDir
	cmd := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", dir)
	cmd.Dir = stage
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -export %s: %w", dir, err)
	}
	exports := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if p, e, ok := strings.Cut(l, "\t"); ok {
			exports[p] = e
		}
	}
	list := exec.Command("go", "list", dir)
	list.Dir = modDir
	pkgPath, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("go list %s: %w", dir, err)
	}
	tc := &typeChecker{path: strings.TrimSpace(string(pkgPath)), fset: token.NewFileSet(), files: map[string]*ast.File{}}
	tc.imp = importer.ForCompiler(tc.fset, "gc", func(path string) (io.ReadCloser, error) {
		e, ok := exports[path]
		if !ok || e == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(e)
	})
	names, err := goFiles(filepath.Join(stage, dir))
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if ok, _ := build.Default.MatchFile(filepath.Join(stage, dir), n); !ok {
			continue
		}
		f, err := parser.ParseFile(tc.fset, filepath.Join(stage, dir, n), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		tc.files[n] = f
		tc.all = append(tc.all, f)
	}
	if !tc.check() {
		return nil, fmt.Errorf("%s does not type-check unmutated", dir)
	}
	return tc, nil
}

func (tc *typeChecker) check() bool {
	conf := types.Config{Importer: tc.imp, Error: func(error) {}}
	_, err := conf.Check(tc.path, tc.fset, tc.all, nil)
	return err == nil
}

// compiles reports whether the package still type-checks with the mutator
// applied at line:col of file. Unknown cases count as compiling.
func (tc *typeChecker) compiles(file, mutator string, line, col int) bool {
	f, ok := tc.files[file]
	repl := mutations[mutator]
	if !ok || repl == nil {
		return true
	}
	var tok *token.Token
	ast.Inspect(f, func(n ast.Node) bool {
		var t *token.Token
		var pos token.Pos
		switch n := n.(type) {
		case *ast.BinaryExpr:
			t, pos = &n.Op, n.OpPos
		case *ast.UnaryExpr:
			t, pos = &n.Op, n.OpPos
		case *ast.AssignStmt:
			t, pos = &n.Tok, n.TokPos
		case *ast.IncDecStmt:
			t, pos = &n.Tok, n.TokPos
		case *ast.BranchStmt:
			t, pos = &n.Tok, n.TokPos
		default:
			return true
		}
		if p := tc.fset.Position(pos); p.Line == line && p.Column == col {
			tok = t
		}
		return tok == nil
	})
	if tok == nil {
		return true
	}
	to, ok := repl[*tok]
	if !ok {
		return true
	}
	from := *tok
	*tok = to
	defer func() { *tok = from }()
	return tc.check()
}
