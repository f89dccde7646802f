package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// row is one package's result, as kept in the baseline.
type row struct {
	dir        string
	hash       string
	date       string
	killed     int
	timedOut   int
	lived      int
	notCovered int
	notViable  int
	equivalent int
}

// rate is the kill rate in percent; ok is false when no mutant counts.
func (r row) rate() (float64, bool) {
	caught := r.killed + r.timedOut
	all := caught + r.lived
	if all == 0 {
		return 0, false
	}
	return 100 * float64(caught) / float64(all), true
}

func (r row) rateText() string {
	v, ok := r.rate()
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", v)
}

const baselineHeader = `# Mutation testing baseline, written by a full "make mutate" (or
# "make mutate PKGS=dir" for the named packages). hash covers the package's
# non-test .go files and its mutation scope (.ci/mutate/main.go); "make
# mutate-changed" (CI) re-runs the packages whose hash differs. rate =
# (killed + timed_out) / (killed + timed_out + lived); not covered, not
# viable and recorded equivalent mutants do not count.
# package	hash	date	killed	timed_out	lived	not_covered	not_viable	equivalent	rate
`

func readBaseline(path string) (map[string]row, error) {
	out := map[string]row{}
	err := readLines(path, func(_ int, line string) error {
		f := strings.Split(line, "\t")
		if len(f) != 10 {
			return fmt.Errorf("want 10 tab-separated fields, got %d", len(f))
		}
		r := row{dir: f[0], hash: f[1], date: f[2]}
		for i, p := range []*int{&r.killed, &r.timedOut, &r.lived, &r.notCovered, &r.notViable, &r.equivalent} {
			n, err := strconv.Atoi(f[3+i])
			if err != nil {
				return fmt.Errorf("field %d: %w", 4+i, err)
			}
			*p = n
		}
		out[r.dir] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return out, nil
}

func writeBaseline(path string, rows map[string]row) error {
	var b strings.Builder
	b.WriteString(baselineHeader)
	var dirs []string
	for d := range rows {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		r := rows[d]
		fmt.Fprintf(&b, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.dir, r.hash, r.date,
			r.killed, r.timedOut, r.lived, r.notCovered, r.notViable, r.equivalent, r.rateText())
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	return nil
}
