// Command mutate runs mutation testing (go-gremlins/gremlins) over the
// packages whose behaviour operators rely on, prints each package's kill
// rate and its survivors, and compares the sources with a committed baseline
// so that CI re-runs only what changed. `make mutate` runs it; see the
// Makefile target and README "Development".
//
// The kill rate is (killed + timed out) / (killed + timed out + lived),
// leaving out mutants that do not compile and survivors recorded as
// equivalent. Mutants no test reaches (not covered) are listed with the
// survivors and counted apart, not in the rate: gremlins reads Go's block
// coverage, which has no block for a switch case's expressions, so it calls
// those not covered even when every test runs them.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// scope is one package under mutation: its directory and, when only part of
// it is what operators rely on, the files to mutate (all of its non-test
// files otherwise). Files in subdirectories are never mutated.
type scope struct {
	dir   string
	files []string
	what  string
}

// scopes are the packages of issue 12, "Mutation testing in the suite".
var scopes = []scope{
	{dir: "core/rules", files: []string{"state.go", "schedule.go"}, what: "rule state and schedules"},
	{dir: "core/outbox", what: "durable outbox"},
	{dir: "core/delivery", what: "delivery lanes, fallback, retry"},
	{dir: "core/config", files: []string{"render.go", "refs.go"}, what: "redaction and references"},
	{dir: "core/tokenstore", what: "token store"},
	{dir: "core/boltsafe", what: "bbolt hardening of the outbox and the rule state"},
	{dir: "plugins/internal/smtpsend", files: []string{"classify.go"}, what: "SMTP classification"},
	{dir: "plugins/internal/oauth", files: []string{"cache.go"}, what: "OAuth cache"},
	{dir: "plugins/sdk", files: []string{"message.go"}, what: "SDK message"},
	// Last: its tests take over a minute (they start real plugins).
	{dir: "core/pluginhost", what: "plugin host"},
}

type options struct {
	gremlins    string
	baseline    string
	equivalents string
	changed     bool
	pkgs        string
	min         float64
	workers     int
	coefficient int
	keep        string
	rescore     string
}

func main() {
	var o options
	flag.StringVar(&o.gremlins, "gremlins", "gremlins", "the gremlins binary")
	flag.StringVar(&o.baseline, "baseline", ".ci/mutation-baseline.tsv", "the committed baseline (source hash and last result per package)")
	flag.StringVar(&o.equivalents, "equivalents", ".ci/mutation-equivalents.txt", "the committed list of equivalent mutants")
	flag.BoolVar(&o.changed, "changed", false, "run only the packages whose source hash differs from the baseline (packages not in it are left to a full run); fail when one's rate falls below its baseline rate; do not write the baseline")
	flag.StringVar(&o.pkgs, "pkgs", "", "run only these package directories (space or comma separated); their baseline rows are refreshed")
	flag.Float64Var(&o.min, "min", 90, "fail when the overall kill rate (percent) is below this")
	flag.IntVar(&o.workers, "workers", 2, "gremlins workers (each runs one go test)")
	flag.IntVar(&o.coefficient, "timeout-coefficient", 5, "a mutant's test run times out after this many times the clean run")
	flag.StringVar(&o.keep, "keep", "", "keep gremlins' JSON and logs in this directory")
	flag.StringVar(&o.rescore, "rescore", "", "score the JSON a -keep run left in this directory again (after editing the equivalents) instead of running gremlins; valid only while the sources are those of that run")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	base, err := readBaseline(o.baseline)
	if err != nil {
		return err
	}
	eqs, err := readEquivalents(o.equivalents)
	if err != nil {
		return err
	}
	selected, err := selectScopes(o, base)
	if err != nil {
		return err
	}

	work := o.keep
	if work == "" {
		if work, err = os.MkdirTemp("", "tocsin-mutate-"); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	// gremlins copies the whole module once per worker and package: give
	// it the tracked sources only, not bin/ (about 100 MB).
	stage := filepath.Join(work, "src")
	if len(selected) > 0 {
		if err := stageSources(stage); err != nil {
			return err
		}
	}

	results := map[string]row{}
	for dir, r := range base {
		results[dir] = r
	}
	used := map[int]bool{}
	failed := false
	start := time.Now()
	for _, sc := range selected {
		r, survivors, err := mutatePackage(o, sc, stage, work, eqs, used)
		if err != nil {
			fmt.Printf("%s: %v\n", sc.dir, err)
			failed = true
			delete(results, sc.dir)
			continue
		}
		results[sc.dir] = r
		printSurvivors(sc.dir, survivors)
		// Written after each package, so that an interrupted full run
		// keeps what it measured.
		if !o.changed {
			if err := writeBaseline(o.baseline, results); err != nil {
				return err
			}
		}
	}
	if len(selected) > 0 {
		fmt.Printf("== mutation of %d package(s) took %s\n", len(selected), time.Since(start).Round(time.Second))
	}

	// Recorded equivalents that matched nothing in the packages that ran.
	ran := map[string]bool{}
	for _, sc := range selected {
		ran[sc.dir] = true
	}
	for i, e := range eqs {
		if !used[i] && ran[filepath.Dir(e.file)] {
			fmt.Printf("stale equivalent (matches no surviving mutant; remove it): %s line %d\n", o.equivalents, e.lineNo)
		}
	}

	rate, ok := printSummary(results, ran)
	if failed {
		return errors.New("gremlins failed on some package (see above)")
	}
	if !ok {
		return errors.New("no results")
	}
	if o.changed {
		// CI holds each package it ran to its last measured rate: a
		// change that lets more mutants live is a regression, whatever
		// the overall rate of a full run.
		var worse []string
		for _, sc := range selected {
			now, okNow := results[sc.dir].rate()
			was, okWas := base[sc.dir].rate()
			if okNow && okWas && now < was-0.05 {
				worse = append(worse, fmt.Sprintf("%s %.1f%% (baseline %.1f%%)", sc.dir, now, was))
			}
		}
		if len(worse) > 0 {
			return fmt.Errorf("kill rate fell below the baseline: %s; add the tests that kill the new survivors, then refresh the baseline with make mutate PKGS=<dir>", strings.Join(worse, ", "))
		}
		return nil
	}
	if rate < o.min {
		return fmt.Errorf("overall kill rate %.1f%% is below %.0f%%", rate, o.min)
	}
	return nil
}

// selectScopes picks the packages to run: all, the named ones, or those
// whose hash differs from the baseline.
func selectScopes(o options, base map[string]row) ([]scope, error) {
	var out []scope
	named := map[string]bool{}
	for _, p := range strings.FieldsFunc(o.pkgs, func(r rune) bool { return r == ',' || r == ' ' }) {
		named[strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/")] = true
	}
	unknown := map[string]bool{}
	for p := range named {
		unknown[p] = true
	}
	for _, sc := range scopes {
		if len(named) > 0 && !named[sc.dir] {
			continue
		}
		delete(unknown, sc.dir)
		if o.changed {
			h, err := hashScope(".", sc)
			if err != nil {
				return nil, err
			}
			b, ok := base[sc.dir]
			switch {
			case !ok:
				// A package's first measurement can take an hour on two
				// cores (core/outbox, core/pluginhost): it belongs to a
				// full run, not to CI's budget.
				fmt.Printf("%s: not measured yet; CI does not start it: run make mutate PKGS=%s and commit the baseline\n", sc.dir, sc.dir)
				continue
			case b.hash == h:
				fmt.Printf("%s: unchanged since the baseline (%s)\n", sc.dir, b.date)
				continue
			default:
				fmt.Printf("%s: sources differ from the baseline\n", sc.dir)
			}
		}
		out = append(out, sc)
	}
	for p := range unknown {
		return nil, fmt.Errorf("%s is not one of the mutated packages (see scopes in .ci/mutate/main.go)", p)
	}
	return out, nil
}

// hashScope hashes the package's non-test .go files (names and contents,
// subdirectories excluded) and the scope's file list, so that narrowing or
// widening a scope also counts as a change.
func hashScope(root string, sc scope) (string, error) {
	names, err := goFiles(filepath.Join(root, sc.dir))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "scope %s\n", strings.Join(sc.files, " "))
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(root, sc.dir, n))
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", sc.dir, err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// goFiles lists dir's non-test .go files, sorted.
func goFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// stageSources copies the module's tracked and untracked-but-not-ignored
// files (the working tree, uncommitted edits included) to dst.
func stageSources(dst string) error {
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		info, err := os.Lstat(f)
		if err != nil || !info.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("stage %s: %w", f, err)
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("stage: %w", err)
		}
		if err := os.WriteFile(p, b, info.Mode().Perm()); err != nil {
			return fmt.Errorf("stage: %w", err)
		}
	}
	return nil
}

// gremlinsOutput is the part of gremlins' JSON output read here.
type gremlinsOutput struct {
	Files []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// mutant is one mutation gremlins tried, with its stable key.
type mutant struct {
	key
	line   int
	status string
}

func mutatePackage(o options, sc scope, stage, work string, eqs []equivalent, used map[int]bool) (row, []mutant, error) {
	// The hash of the sources gremlins mutates: the staged copy.
	h, err := hashScope(stage, sc)
	if err != nil {
		return row{}, nil, err
	}
	names, err := goFiles(sc.dir)
	if err != nil {
		return row{}, nil, err
	}
	want := map[string]bool{}
	for _, f := range sc.files {
		want[f] = true
	}
	// Mutate only the scope's files that build here (lock_other.go does
	// not on Linux); exclude everything else, subdirectories included.
	args := []string{"unleash", "--workers", fmt.Sprint(o.workers), "--timeout-coefficient", fmt.Sprint(o.coefficient),
		// A unary or binary minus gets the same "-" to "+" mutant from
		// ARITHMETIC_BASE; INVERT_NEGATIVES would only run it twice.
		"--invert-negatives=false", "--invert-logical",
		"-E", "/"}
	var mutated []string
	for _, n := range names {
		ok, _ := build.Default.MatchFile(sc.dir, n)
		if ok && (len(want) == 0 || want[n]) {
			mutated = append(mutated, n)
			continue
		}
		args = append(args, "-E", "^"+regexpQuote(n)+"$")
	}
	for f := range want {
		found := false
		for _, n := range mutated {
			found = found || n == f
		}
		if !found {
			return row{}, nil, fmt.Errorf("scope file %s is missing or does not build here", f)
		}
	}
	slug := strings.ReplaceAll(sc.dir, "/", "_")
	jsonPath := filepath.Join(work, slug+".json")
	logPath := filepath.Join(work, slug+".log")
	// gremlins runs in the package's own module (plugins/sdk is one of
	// its own), on the package's path within it.
	modDir, rel, err := moduleOf(stage, sc.dir)
	if err != nil {
		return row{}, nil, err
	}
	args = append(args, "-o", jsonPath, rel)

	fmt.Printf("== %s (%s): mutating %s\n", sc.dir, sc.what, strings.Join(mutated, " "))
	began := time.Now()
	if o.rescore != "" {
		jsonPath = filepath.Join(o.rescore, slug+".json")
	} else if err := runGremlins(o.gremlins, args, modDir, logPath); err != nil {
		return row{}, nil, err
	}
	took := time.Since(began).Round(time.Second)

	var out gremlinsOutput
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return row{}, nil, fmt.Errorf("gremlins wrote no results: %w\n%s", err, tail(logPath, 30))
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return row{}, nil, fmt.Errorf("gremlins results: %w", err)
	}

	tc, err := newTypeChecker(modDir, rel)
	if err != nil {
		return row{}, nil, err
	}
	r := row{dir: sc.dir, hash: h, date: time.Now().UTC().Format("2006-01-02")}
	var survivors []mutant
	for _, f := range out.Files {
		src, err := newSource(filepath.Join(stage, sc.dir, f.Name))
		if err != nil {
			return row{}, nil, err
		}
		for _, m := range f.Mutations {
			mu := mutant{key: src.key(sc.dir+"/"+f.Name, m.Type, m.Line, m.Column), line: m.Line, status: m.Status}
			// gremlins counts a mutant that does not compile as killed
			// (go test exits 1 on build failures too), or as not covered
			// when it is outside every coverage block (a constant).
			if (m.Status == "KILLED" || m.Status == "NOT COVERED") && !tc.compiles(f.Name, m.Type, m.Line, m.Column) {
				mu.status = "NOT VIABLE"
			}
			switch mu.status {
			case "KILLED":
				r.killed++
			case "TIMED OUT":
				r.timedOut++
			case "NOT VIABLE":
				r.notViable++
			case "LIVED", "NOT COVERED":
				if i, ok := matchEquivalent(eqs, mu.key); ok {
					used[i] = true
					r.equivalent++
					continue
				}
				if mu.status == "LIVED" {
					r.lived++
				} else {
					r.notCovered++
				}
				survivors = append(survivors, mu)
			default:
				return row{}, nil, fmt.Errorf("unexpected gremlins status %q", m.Status)
			}
		}
	}
	fmt.Printf("%s: killed %d, lived %d, not covered %d, timed out %d (not viable %d, equivalent %d): kill rate %s in %s\n",
		sc.dir, r.killed, r.lived, r.notCovered, r.timedOut, r.notViable, r.equivalent, r.rateText(), took)
	sort.Slice(survivors, func(i, j int) bool {
		if survivors[i].file != survivors[j].file {
			return survivors[i].file < survivors[j].file
		}
		return survivors[i].line < survivors[j].line
	})
	return r, survivors, nil
}

// moduleOf returns the directory of the Go module that holds dir (a
// path relative to root, the repository), the nearest go.mod above it,
// and dir relative to that module as "./path" (or ".").
func moduleOf(root, dir string) (modDir, rel string, err error) {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(root, d, "go.mod")); err == nil {
			r, err := filepath.Rel(d, dir)
			if err != nil {
				return "", "", fmt.Errorf("module of %s: %w", dir, err)
			}
			if r == "." {
				return filepath.Join(root, d), ".", nil
			}
			return filepath.Join(root, d), "./" + filepath.ToSlash(r), nil
		}
		if d == "." || d == "/" {
			return "", "", fmt.Errorf("no go.mod holds %s", dir)
		}
	}
}

func runGremlins(bin string, args []string, stage, logPath string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = stage
	cmd.Stdout, cmd.Stderr = logf, logf
	// -count=1: a cached clean run would time gremlins' baseline at ~0 s
	// and time out every mutant. -vet=off: a mutant is killed by a test,
	// not by go vet noticing a suspicious expression.
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -count=1 -vet=off"))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gremlins: %w\n%s", err, tail(logPath, 30))
	}
	return nil
}

func printSurvivors(dir string, ms []mutant) {
	if len(ms) == 0 {
		return
	}
	fmt.Printf("%s: %d survivor(s) (file:line, status, mutator, function: line with the mutated operator in [[ ]]):\n", dir, len(ms))
	for _, m := range ms {
		fmt.Printf("  %s:%d\t%s\t%s\t%s: %s\n", m.file, m.line, strings.ToLower(m.status), m.mutator, m.fn, m.text)
	}
}

func printSummary(results map[string]row, ran map[string]bool) (float64, bool) {
	var total row
	fmt.Println("== mutation results (* = from the baseline, not run now)")
	fmt.Printf("  %-28s %7s %6s %8s %6s %8s %6s %7s\n", "package", "killed", "lived", "notcov", "tmout", "notviab", "equiv", "rate")
	for _, sc := range scopes {
		r, ok := results[sc.dir]
		if !ok {
			fmt.Printf("  %-28s (no result)\n", sc.dir)
			continue
		}
		mark := " "
		if !ran[sc.dir] {
			mark = "*"
		}
		fmt.Printf("%s %-28s %7d %6d %8d %6d %8d %6d %7s\n", mark, sc.dir, r.killed, r.lived, r.notCovered, r.timedOut, r.notViable, r.equivalent, r.rateText())
		total.killed += r.killed
		total.lived += r.lived
		total.notCovered += r.notCovered
		total.timedOut += r.timedOut
		total.notViable += r.notViable
		total.equivalent += r.equivalent
	}
	fmt.Printf("  %-28s %7d %6d %8d %6d %8d %6d %7s\n", "overall", total.killed, total.lived, total.notCovered, total.timedOut, total.notViable, total.equivalent, total.rateText())
	rate, ok := total.rate()
	return rate, ok
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readLines returns the file's lines with their numbers, skipping blank
// lines and # comments; a missing file has none.
func readLines(path string, fn func(no int, line string) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.Reader(f))
	no := 0
	for sc.Scan() {
		no++
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(no, line); err != nil {
			return fmt.Errorf("%s:%d: %w", path, no, err)
		}
	}
	return sc.Err()
}
