package rulestest

import (
	"bytes"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// TestFileResult_WriteReport_plural: the summary line counts in the
// singular for one.
func TestFileResult_WriteReport_plural(t *testing.T) {
	t.Parallel()
	pass := func() *TestResult { return &TestResult{Name: "p"} }
	fail := func() *TestResult { return &TestResult{Name: "f", Failures: []Failure{{Message: "no"}}} }
	errDiag := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "bad"}
	tests := []struct {
		name string
		res  FileResult
		want string
	}{
		{name: "no test", res: FileResult{Path: "x.hcl"}, want: "PASS x.hcl: 0 tests\n"},
		{name: "one test", res: FileResult{Path: "x.hcl", Tests: []*TestResult{pass()}}, want: "PASS x.hcl: 1 test\n"},
		{name: "two tests", res: FileResult{Path: "x.hcl", Tests: []*TestResult{pass(), pass()}}, want: "PASS x.hcl: 2 tests\n"},
		{name: "one of one failed", res: FileResult{Path: "x.hcl", Tests: []*TestResult{fail()}}, want: "FAIL x.hcl: 1 of 1 test failed\n"},
		{name: "two of two failed", res: FileResult{Path: "x.hcl", Tests: []*TestResult{fail(), fail()}}, want: "FAIL x.hcl: 2 of 2 tests failed\n"},
		{name: "one error", res: FileResult{Path: "x.hcl", Diagnostics: hcl.Diagnostics{errDiag}}, want: "FAIL x.hcl: not run: 1 error\n"},
		{name: "two errors", res: FileResult{Path: "x.hcl", Diagnostics: hcl.Diagnostics{errDiag, errDiag}}, want: "FAIL x.hcl: not run: 2 errors\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := tt.res.WriteReport(&out, false); err != nil {
				t.Fatal(err)
			}
			lines := bytes.SplitAfter(out.Bytes(), []byte("\n"))
			if got := string(lines[len(lines)-2]); got != tt.want {
				t.Errorf("summary = %q, want %q", got, tt.want)
			}
		})
	}
}
