package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/tocsin-dev/tocsin/core/hcldecode"
)

// Load reads the configuration at path, a file or a directory (see the
// package documentation for the directory and merge rules). It returns
// every diagnostic it finds, in file order, and always a non-nil Config
// whose Sources let the caller render them; the Config is only usable when
// the diagnostics hold no error. Defaults are applied to the agent settings
// that no file sets.
func Load(path string) (*Config, hcl.Diagnostics) {
	return newLoader(os.LookupEnv).load(path)
}

// LoadPaths is Load for several paths, each a file or a directory, loaded
// in the order given and merged by the same rules as the files of one
// directory: names are unique across all of them, and a contact may name
// a transport from any of them. It is what `tocsin rules test` uses to
// load the configuration a test file lists.
func LoadPaths(paths ...string) (*Config, hcl.Diagnostics) {
	return newLoader(os.LookupEnv).load(paths...)
}

// loader holds the state of one Load: what has been declared so far, for the
// merge rules.
type loader struct {
	lookupEnv func(string) (string, bool)
	cfg       *Config

	agentSet   map[string]hcl.Range // agent argument -> where it was set
	transports map[string]*Transport
	contacts   map[string]*Contact
	checks     map[string]hcl.Range // check name -> label range
	peers      map[string]hcl.Range // peer name -> label range
	rules      map[string]hcl.Range // rule name -> label range
	nodeSet    map[string]hcl.Range // node argument -> where it was set
	vias       []viaRef
	notifies   []ruleRef
	library    *libraryBlock // the library block, expanded after the files
	// parseFailed records that a file could not be parsed, so that the
	// transports it declares are unknown.
	parseFailed bool
	fileOrder   map[string]int // file name as in ranges -> load position
}

// viaRef is one element of a contact's via list, checked once all files are
// loaded.
type viaRef struct {
	contact *Contact
	name    string
	rng     hcl.Range
}

func newLoader(lookupEnv func(string) (string, bool)) *loader {
	return &loader{
		lookupEnv:  lookupEnv,
		cfg:        &Config{Sources: map[string][]byte{}, sensitive: map[string][]hcl.Range{}},
		agentSet:   map[string]hcl.Range{},
		transports: map[string]*Transport{},
		contacts:   map[string]*Contact{},
		checks:     map[string]hcl.Range{},
		peers:      map[string]hcl.Range{},
		rules:      map[string]hcl.Range{},
		nodeSet:    map[string]hcl.Range{},
		fileOrder:  map[string]int{},
	}
}

func (l *loader) load(paths ...string) (*Config, hcl.Diagnostics) {
	var names []string
	var diags hcl.Diagnostics
	for _, path := range paths {
		n, d := listFiles(path)
		if d.HasErrors() {
			// What that path declares is unknown: references to it
			// must not be reported as errors.
			l.parseFailed = true
		}
		for _, name := range n {
			if _, dup := l.fileOrder[name]; !dup {
				l.fileOrder[name] = len(names)
				names = append(names, name)
			}
		}
		diags = append(diags, d...)
	}
	if len(paths) == 0 {
		diags = append(diags, fileDiag(".", "No configuration files", "No configuration file or directory was given."))
	}
	for _, name := range names {
		diags = append(diags, l.loadFile(name)...)
	}
	diags = append(diags, l.expandLibrary()...)
	if !l.parseFailed {
		diags = append(diags, l.fromPeer(l.checkVia())...)
		diags = append(diags, l.fromPeer(l.checkNotify())...)
		diags = append(diags, l.checkRules()...)
	}
	diags = append(diags, l.checkTokenKey()...)
	diags = append(diags, l.cfg.applyDeliveryDefaults()...)
	l.cfg.applyDefaults(l.agentSet)
	diags = append(diags, l.checkSecurity()...)
	sortDiagnostics(diags, l.fileOrder)
	return l.cfg, diags
}

// listFiles returns the files to load for path, named as they are reached
// from path.
func listFiles(path string) ([]string, hcl.Diagnostics) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{fileDiag(path, "Cannot read the configuration", fmt.Sprintf("Reading %s failed: %s.", path, unwrapPathError(err)))}
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, hcl.Diagnostics{fileDiag(path, "Cannot read the configuration directory", fmt.Sprintf("Listing %s failed: %s.", path, unwrapPathError(err)))}
	}
	var names []string // ReadDir sorts by name
	for _, e := range entries {
		if !isConfigFileName(e.Name()) {
			continue
		}
		full := filepath.Join(path, e.Name())
		if e.IsDir() {
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			if st, err := os.Stat(full); err == nil && st.IsDir() {
				continue
			}
		}
		names = append(names, full)
	}
	if len(names) == 0 {
		return nil, hcl.Diagnostics{fileDiag(path, "No configuration files", fmt.Sprintf("The directory %s holds no .hcl file.", path))}
	}
	return names, nil
}

// isConfigFileName reports whether a directory entry is a config file: it
// ends in ".hcl" and is neither hidden nor an editor's temporary file.
func isConfigFileName(name string) bool {
	switch {
	case !strings.HasSuffix(name, ".hcl"), name == ".hcl":
		return false
	case strings.HasPrefix(name, "."), strings.HasPrefix(name, "#"), strings.HasPrefix(name, "~"), strings.HasSuffix(name, "~"):
		return false
	}
	return true
}

// fileDiag is an error about a whole file or directory; its subject is the
// start of that file.
func fileDiag(name, summary, detail string) *hcl.Diagnostic {
	pos := hcl.Pos{Line: 1, Column: 1, Byte: 0}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  &hcl.Range{Filename: name, Start: pos, End: pos},
	}
}

// loadFile parses and decodes one file into l.cfg.
func (l *loader) loadFile(name string) hcl.Diagnostics {
	abs, err := filepath.Abs(name)
	if err != nil {
		abs = name
	}
	l.cfg.Files = append(l.cfg.Files, abs)
	src, diags := ReadSource(name)
	if diags.HasErrors() {
		l.parseFailed = true
		return diags
	}
	l.cfg.Sources[name] = src
	// The parser and every walk over its tree recurse per level of
	// nesting, and a stack overflow cannot be recovered from: what is
	// over the limits is not parsed at all.
	if diags := CheckSource(name, src); diags.HasErrors() {
		l.parseFailed = true
		l.markBroken(name)
		return diags
	}
	// Parsed on its own, not through an hclparse.Parser, which would keep
	// every file's tree and source for as long as anything reaches it.
	file, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if file != nil {
		if body, ok := file.Body.(*hclsyntax.Body); ok {
			l.cfg.sensitive[name] = heuristicRanges(body)
		}
	}
	if diags.HasErrors() || file == nil {
		l.parseFailed = true
		l.markBroken(name)
		return diags
	}
	if body, ok := file.Body.(*hclsyntax.Body); ok {
		diags = append(diags, literalSecretWarnings(body)...)
	}
	f := &fileDecoder{
		l:   l,
		dir: filepath.Dir(abs),
		ctx: evalContext(filepath.Dir(abs), filepath.Dir(name), l.lookupEnv, l.cfg.noteFileRead),
	}
	return append(diags, f.decode(file.Body)...)
}

// markBroken notes that the file name did not parse.
func (l *loader) markBroken(name string) {
	if l.cfg.broken == nil {
		l.cfg.broken = map[string]bool{}
	}
	l.cfg.broken[name] = true
}

// noteFileRead keeps what a file() call read, so that diagnostics never
// echo it. It is a method of the Config, not of the loader: the evaluation
// contexts that call it outlive the load (a transport keeps its file's),
// and must not keep the loader and what it parsed reachable.
func (c *Config) noteFileRead(content string) {
	c.fileReads = append(c.fileReads, fileReadSecrets(content)...)
}

// checkVia reports the via elements that name no declared transport.
func (l *loader) checkVia() hcl.Diagnostics {
	var known []string
	for _, t := range l.cfg.Transports {
		known = append(known, t.Name)
	}
	var diags hcl.Diagnostics
	for _, ref := range l.vias {
		if _, ok := l.transports[ref.name]; ok {
			continue
		}
		var detail strings.Builder
		fmt.Fprintf(&detail, "Contact %q names transport %q, which is not declared.", ref.contact.Name, ref.name)
		if s := nameSuggestion(ref.name, known); s != "" {
			fmt.Fprintf(&detail, " Did you mean %q?", s)
		}
		if len(known) == 0 {
			detail.WriteString(" No transport is declared.")
		} else {
			fmt.Fprintf(&detail, " The declared transports are: %s.", strings.Join(known, ", "))
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Contact names an unknown transport",
			Detail:   detail.String(),
			Subject:  ref.rng.Ptr(),
		})
	}
	return diags
}

// sortDiagnostics orders diags by file (in load order) and position, so
// that they read like the files and do not depend on map order.
func sortDiagnostics(diags hcl.Diagnostics, fileOrder map[string]int) {
	key := func(d *hcl.Diagnostic) (int, int) {
		if d.Subject == nil {
			return len(fileOrder) + 1, 0
		}
		i, ok := fileOrder[d.Subject.Filename]
		if !ok {
			i = -1
		}
		return i, d.Subject.Start.Byte
	}
	sort.SliceStable(diags, func(i, j int) bool {
		fi, bi := key(diags[i])
		fj, bj := key(diags[j])
		if fi != fj {
			return fi < fj
		}
		return bi < bj
	})
}

// where formats the start of r as file:line:col.
func where(r hcl.Range) string { return hcldecode.Where(r) }
