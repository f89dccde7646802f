// Package silence keeps the agent's silences: an operator's "I know, be
// quiet for two hours" for one rule, for this node, or for every rule,
// without editing the rules. A silence has an end; while it holds, the
// rules it covers are evaluated and recorded as usual, and the agent
// sends none of their notifications (see the agent's enqueue).
//
// The silences are kept in one small JSON file under data_dir
// (silences.json), replaced atomically and flushed on every change, so
// that they survive a restart. A file that cannot be read is an error the
// agent reports loudly; it is moved aside, so that it is not overwritten,
// and the agent runs without the silences it held.
package silence

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/core/fsafe"
)

// FileName is the file under data_dir that holds the silences.
const FileName = "silences.json"

// Bounds of a silence's duration: a silence is a short, deliberate pause;
// a longer one is a change of the rules (or the agent's mute setting).
const (
	MinDuration = time.Minute
	MaxDuration = 7 * 24 * time.Hour
)

// Limits on what a silence holds, so that the file and the mails stay
// small.
const (
	maxComment = 500
	maxName    = 200
	maxBy      = 100
	maxCount   = 100
	maxFile    = 1 << 20
)

// fileVersion is the format of the file.
const fileVersion = 1

// Errors a caller tells apart (errors.Is).
var (
	// ErrInvalid: the silence asked for is not valid (no target, a
	// duration out of bounds, a comment missing).
	ErrInvalid = errors.New("invalid silence")
	// ErrNotFound: no silence in force has the ID.
	ErrNotFound = errors.New("no such silence")
	// ErrCorrupt: the file cannot be read as silences.
	ErrCorrupt = errors.New("corrupt")
)

// Silence is one silence. Exactly one of Rule, Node and All says what it
// covers.
type Silence struct {
	// ID names the silence for tocsin silence expire.
	ID string `json:"id"`
	// Rule, when set, is the one rule the silence covers.
	Rule string `json:"rule,omitempty"`
	// Node, when set, makes the silence cover every rule of the agent
	// whose node is Node; on any other node it covers nothing.
	Node string `json:"node,omitempty"`
	// All makes the silence cover every rule.
	All bool `json:"all,omitempty"`
	// Comment says why; By who set it.
	Comment string `json:"comment"`
	By      string `json:"by"`
	// Start and End bound the silence: it holds from Start until End.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// ExpiredBy, when set, is who ended the silence by hand (End is
	// then when they did).
	ExpiredBy string `json:"expired_by,omitempty"`
	// Suppressed counts the notifications the silence kept back, and
	// Rules names the rules they came from, each with its last event.
	Suppressed int               `json:"suppressed,omitempty"`
	Rules      map[string]string `json:"rules,omitempty"`
}

// Target says what s covers, as the CLI and the mails say it: "rule X",
// "node X" or "all rules".
func (s Silence) Target() string {
	switch {
	case s.Rule != "":
		return "rule " + s.Rule
	case s.Node != "":
		return "node " + s.Node
	default:
		return "all rules"
	}
}

// Active reports whether s holds at t.
func (s Silence) Active(t time.Time) bool {
	return !t.Before(s.Start) && t.Before(s.End)
}

// Covers reports whether s, on the agent of node, covers rule. A silence
// that does not name a rule (node or all) never covers exempt: the rule
// that proves mail flows (the daily heartbeat) goes quiet only when
// silenced by name.
func (s Silence) Covers(rule, node, exempt string) bool {
	switch {
	case s.Rule != "":
		return s.Rule == rule
	case rule == exempt && exempt != "":
		return false
	case s.Node != "":
		return s.Node == node
	default:
		return s.All
	}
}

// Request is what a caller asks for when it sets a silence.
type Request struct {
	Rule    string `json:"rule,omitempty"`
	Node    string `json:"node,omitempty"`
	All     bool   `json:"all,omitempty"`
	Comment string `json:"comment"`
	By      string `json:"by"`
	// For is the duration, in Go's syntax ("2h", "90m").
	For string `json:"for"`
}

// Validate checks r and returns its duration.
func (r Request) Validate() (time.Duration, error) {
	n := 0
	for _, set := range []bool{r.Rule != "", r.Node != "", r.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return 0, fmt.Errorf("%w: say what to silence: one of a rule, a node or all", ErrInvalid)
	}
	if len(r.Rule) > maxName || len(r.Node) > maxName {
		return 0, fmt.Errorf("%w: the name is longer than %d bytes", ErrInvalid, maxName)
	}
	if strings.TrimSpace(r.Comment) == "" {
		return 0, fmt.Errorf("%w: a comment is required: say why, so that whoever reads the silence list or the heartbeat knows", ErrInvalid)
	}
	if len(r.Comment) > maxComment {
		return 0, fmt.Errorf("%w: the comment is longer than %d bytes", ErrInvalid, maxComment)
	}
	if strings.TrimSpace(r.By) == "" || len(r.By) > maxBy {
		return 0, fmt.Errorf("%w: say who sets the silence (at most %d bytes)", ErrInvalid, maxBy)
	}
	if r.For == "" {
		return 0, fmt.Errorf("%w: a duration is required (such as 2h): a silence always ends", ErrInvalid)
	}
	d, err := time.ParseDuration(r.For)
	if err != nil {
		return 0, fmt.Errorf("%w: duration %q: %v", ErrInvalid, r.For, err)
	}
	if d < MinDuration || d > MaxDuration {
		return 0, fmt.Errorf("%w: duration %s is out of bounds: give %s (for longer, change the rule or set mute in the agent block)", ErrInvalid, d, Bounds())
	}
	return d, nil
}

// Bounds says the bounds of a silence's duration: "1m to 168h".
func Bounds() string { return fmtDuration(MinDuration) + " to " + fmtDuration(MaxDuration) }

// fmtDuration prints d in whole hours or minutes when it is.
func fmtDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// file is the format of the file.
type file struct {
	Version  int       `json:"version"`
	Silences []Silence `json:"silences"`
}

// Store holds the silences of one data_dir, in memory and in its file.
// It is safe for concurrent use.
type Store struct {
	path string

	mu       sync.Mutex
	silences []Silence
}

// Path returns where the silences of dataDir are kept.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Open reads the silences of dataDir. A missing file is no silence. A
// file that cannot be read (not JSON, another version, a silence without
// an ID or an end) is moved aside to silences.json.corrupt-<time>, and
// Open returns an empty store with an error wrapping ErrCorrupt that says
// so: the caller reports it and runs on without those silences.
func Open(dataDir string, now time.Time) (*Store, error) {
	s := &Store{path: Path(dataDir)}
	data, err := fsafe.ReadFile(s.path, maxFile, fsafe.State)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		s.silences, err = decode(data)
	}
	if err == nil {
		return s, nil
	}
	aside := fmt.Sprintf("%s.corrupt-%s", s.path, now.UTC().Format("20060102T150405Z"))
	if rerr := os.Rename(s.path, aside); rerr != nil {
		return s, fmt.Errorf("silences file %s: %w: %v; it could not be moved aside either (%v): remove it, then set the silences again with tocsin silence add", s.path, ErrCorrupt, err, rerr)
	}
	return s, fmt.Errorf("silences file %s: %w: %v; it was moved to %s and the silences it held are not in force: set them again with tocsin silence add", s.path, ErrCorrupt, err, aside)
}

// decode reads the file's data.
func decode(data []byte) ([]Silence, error) {
	var f file
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("format version %d, this tocsin reads %d", f.Version, fileVersion)
	}
	for i, s := range f.Silences {
		if s.ID == "" || s.End.IsZero() || s.Start.IsZero() {
			return nil, fmt.Errorf("silence %d has no ID, start or end", i+1)
		}
	}
	return f.Silences, nil
}

// List returns every silence kept, ended ones whose end was not yet
// announced (see Ended) included, by start.
func (s *Store) List() []Silence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.copyLocked()
}

func (s *Store) copyLocked() []Silence {
	out := make([]Silence, len(s.silences))
	for i, x := range s.silences {
		x.Rules = cloneMap(x.Rules)
		out[i] = x
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Active returns the silences that hold at t.
func (s *Store) Active(t time.Time) []Silence {
	var out []Silence
	for _, x := range s.List() {
		if x.Active(t) {
			out = append(out, x)
		}
	}
	return out
}

// Add validates r, sets a silence from now and saves it.
func (s *Store) Add(r Request, now time.Time) (Silence, error) {
	d, err := r.Validate()
	if err != nil {
		return Silence{}, err
	}
	id, err := newID()
	if err != nil {
		return Silence{}, err
	}
	x := Silence{ID: id, Rule: r.Rule, Node: r.Node, All: r.All, Comment: strings.TrimSpace(r.Comment), By: strings.TrimSpace(r.By),
		Start: now.UTC(), End: now.Add(d).UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.silences) >= maxCount {
		return Silence{}, fmt.Errorf("%w: %d silences are kept already; expire some (tocsin silence list shows them)", ErrInvalid, maxCount)
	}
	next := append(slices.Clip(s.silences), x)
	if err := s.saveLocked(next); err != nil {
		return Silence{}, err
	}
	s.silences = next
	return x, nil
}

// Expire ends the silence id now, by who. It is kept, ended, until its
// end is announced (Ended, then Forget).
func (s *Store) Expire(id, by string, now time.Time) (Silence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.silences, func(x Silence) bool { return x.ID == id })
	if i < 0 || !s.silences[i].Active(now) {
		return Silence{}, fmt.Errorf("%w %q in force (tocsin silence list shows them)", ErrNotFound, id)
	}
	next := s.copyLocked()
	next[i].End, next[i].ExpiredBy = now.UTC(), strings.TrimSpace(by)
	if err := s.saveLocked(next); err != nil {
		return Silence{}, err
	}
	s.silences = next
	return next[i], nil
}

// Ended returns the silences that no longer hold at now.
func (s *Store) Ended(now time.Time) []Silence {
	var out []Silence
	for _, x := range s.List() {
		if !now.Before(x.End) {
			out = append(out, x)
		}
	}
	return out
}

// Forget removes the silence id, once its end has been announced.
func (s *Store) Forget(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.DeleteFunc(s.copyLocked(), func(x Silence) bool { return x.ID == id })
	if len(next) == len(s.silences) {
		return nil
	}
	if err := s.saveLocked(next); err != nil {
		return err
	}
	s.silences = next
	return nil
}

// Suppressed records, in one write, that silences kept back a
// notification of each rule of held (the IDs of the silences that
// covered it) with its event in events: the end's mail says what was
// held back.
func (s *Store) Suppressed(held map[string][]string, events map[string]string) error {
	if len(held) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.copyLocked()
	for i := range next {
		for rule, ids := range held {
			if !slices.Contains(ids, next[i].ID) {
				continue
			}
			next[i].Suppressed++
			if next[i].Rules == nil {
				next[i].Rules = map[string]string{}
			}
			next[i].Rules[rule] = events[rule]
		}
	}
	if err := s.saveLocked(next); err != nil {
		return err
	}
	s.silences = next
	return nil
}

// saveLocked writes list to the file: a temporary file in the same
// directory, flushed, renamed over it, the directory flushed, so that a
// crash leaves the old file or the new one.
func (s *Store) saveLocked(list []Silence) error {
	data, err := json.MarshalIndent(file{Version: fileVersion, Silences: list}, "", "  ")
	if err != nil {
		return fmt.Errorf("save silences: %w", err)
	}
	dir := filepath.Dir(s.path)
	if err := fsafe.WriteFileAtomic(dir, filepath.Base(s.path), append(data, '\n')); err != nil {
		return fmt.Errorf("save silences to %s: %w; free space or fix the permissions of data_dir, then try again", s.path, err)
	}
	return nil
}

// newID returns a short random ID.
func newID() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("silence ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
