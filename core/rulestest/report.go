package rulestest

import (
	"bufio"
	"fmt"
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
)

// WriteDiagnostics renders the result's diagnostics with file:line:col and
// the source line, the way `tocsin validate` does.
func (r *FileResult) WriteDiagnostics(w io.Writer) error {
	if len(r.Diagnostics) == 0 {
		return nil
	}
	sources := map[string][]byte{}
	if r.cfg != nil {
		for name, src := range r.cfg.Sources {
			sources[name] = src
		}
	}
	for name, src := range r.sources {
		sources[name] = src
	}
	if r.cfg != nil {
		// The configuration's own renderer knows which of its values
		// are secret; the test file's source is added to it.
		c := *r.cfg
		c.Sources = sources
		return c.WriteDiagnostics(w, r.Diagnostics)
	}
	return config.WriteDiagnostics(w, sources, r.Diagnostics)
}

// WriteReport writes what a person running the tests reads: every failed
// test with its failures (and, when verbose, every test with its events),
// then one summary line: "PASS FILE: N tests", or "FAIL FILE: ...".
func (r *FileResult) WriteReport(w io.Writer, verbose bool) error {
	bw := bufio.NewWriter(w)
	if r.Diagnostics.HasErrors() {
		n := 0
		for _, d := range r.Diagnostics {
			if d.Severity == hcl.DiagError {
				n++
			}
		}
		fmt.Fprintf(bw, "FAIL %s: not run: %s\n", r.Path, plural(n, "error"))
		return bw.Flush()
	}
	failed := 0
	for _, t := range r.Tests {
		if verbose {
			fmt.Fprintf(bw, "=== RUN   %s\n", t.Name)
			for _, e := range t.Events {
				fmt.Fprintf(bw, "    %-8s %-13s %s", FormatOffset(e.Offset), e.Event, e.Rule)
				switch {
				case e.Notification != nil:
					fmt.Fprintf(bw, ": %q", e.Notification.Subject)
				case e.Err != "":
					fmt.Fprintf(bw, ": %s", e.Err)
				}
				fmt.Fprintln(bw)
			}
		}
		if t.Passed() {
			if verbose {
				fmt.Fprintf(bw, "--- PASS: %s\n", t.Name)
			}
			continue
		}
		failed++
		fmt.Fprintf(bw, "--- FAIL: %s (%s)\n", t.Name, hcldecode.Where(t.DeclRange))
		for _, f := range t.Failures {
			fmt.Fprintf(bw, "    %s\n", f)
		}
		for _, n := range t.Notes {
			fmt.Fprintf(bw, "    note: %s\n", n)
		}
	}
	if failed > 0 {
		fmt.Fprintf(bw, "FAIL %s: %d of %s failed\n", r.Path, failed, plural(len(r.Tests), "test"))
	} else {
		fmt.Fprintf(bw, "PASS %s: %s\n", r.Path, plural(len(r.Tests), "test"))
	}
	return bw.Flush()
}

// plural is "1 test", "2 tests", "0 tests".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
