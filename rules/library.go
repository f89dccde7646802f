// Package rules holds Tocsin's built-in rule library: one rule file per
// event of the failover catalogue, each with its *_test.hcl file for
// `tocsin rules test`. The files are embedded in the binary; the
// core/library package expands a `library "failover"` block into the
// checks, peer, node facts and rules they need. Each rule file's header
// says what the rule needs (`# needs: SETTING` or `# needs: none`) and,
// when it does not notify the block's notify contacts, whose it notifies
// (`# notify: SETTING`). README.md describes the library and its settings.
package rules

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.hcl
var files embed.FS

// Dir is the directory the files are named under in diagnostics, so that
// an error in a library rule reads rules/FILE:LINE:COL.
const Dir = "rules"

// File is one rule file of the library.
type File struct {
	// Name is the file's name, such as "version_mismatch.hcl".
	Name string
	// Src is the file's content.
	Src []byte
}

// Files returns the library's rule files sorted by name. The test files
// (*_test.hcl) are not among them.
func Files() []File {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil // cannot happen: the files are embedded
	}
	var out []File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".hcl") || strings.HasSuffix(name, "_test.hcl") {
			continue
		}
		src, err := files.ReadFile(name)
		if err != nil {
			continue
		}
		out = append(out, File{Name: name, Src: src})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
