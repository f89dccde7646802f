package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/peersync"
	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// resaveAfter is how old the saved fetch time of an unchanged copy may
// get before it is saved again, so that a restarted backup knows about
// when it last synced.
const resaveAfter = time.Hour

// settingsSync is the backup's side of the settings sync: the last good
// copy of its settings peer's transports and contacts, and how the last
// attempts went. Its methods are safe for concurrent use.
type settingsSync struct {
	mu sync.Mutex
	// peer is the settings peer's name; "" when the agent takes its
	// settings from no peer.
	peer string
	// last is the copy in use, nil before the first sync; saved is when
	// it was fetched as the file says.
	last    *peersync.Settings
	fetched time.Time
	saved   time.Time
	// err is why the last attempt failed ("" when it did not); since is
	// when the failures began.
	err   string
	since time.Time
	// problems are the synced transports left out (their plugin is
	// missing here or not the pinned one), by name.
	problems map[string]string

	// stop ends the loop; done is closed when it has.
	stop context.CancelFunc
	done chan struct{}
}

// state is the sync as the peer fact reads it.
func (s *settingsSync) state() facts.SettingsSync {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := facts.SettingsSync{SyncedAt: s.fetched, Error: s.err}
	if st.Error == "" && len(s.problems) > 0 {
		st.Error = joinProblems(s.problems)
	}
	return st
}

// joinProblems lists problems by name, sorted.
func joinProblems(p map[string]string) string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(p)) {
		out = append(out, p[name])
	}
	return strings.Join(out, "; ")
}

// SettingsStatus is the settings sync in /v1/status: where the agent's
// transports and contacts come from, and when they were last synced.
type SettingsStatus struct {
	// From is the settings peer.
	From string `json:"from"`
	// SyncedAt is when the settings in use were fetched; nil when never.
	SyncedAt *time.Time `json:"synced_at"`
	// Error is why the last sync failed, or which synced transports are
	// left out; "" when none.
	Error string `json:"error,omitempty"`
	// FailingSince is when the syncs began to fail.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	// Transports and Contacts name what the peer's settings brought.
	Transports []string `json:"transports"`
	Contacts   []string `json:"contacts"`
}

// status returns the sync for /v1/status; nil when there is no settings
// peer.
func (s *settingsSync) status() *SettingsStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peer == "" {
		return nil
	}
	st := &SettingsStatus{From: "peer " + s.peer, Error: s.err, Transports: []string{}, Contacts: []string{}}
	if st.Error == "" && len(s.problems) > 0 {
		st.Error = joinProblems(s.problems)
	}
	if !s.fetched.IsZero() {
		t := s.fetched.UTC()
		st.SyncedAt = &t
	}
	if s.err != "" {
		t := s.since.UTC()
		st.FailingSince = &t
	}
	if s.last != nil {
		for _, t := range s.last.Transports {
			st.Transports = append(st.Transports, t.Name)
		}
		for _, c := range s.last.Contacts {
			st.Contacts = append(st.Contacts, c.Name)
		}
	}
	return st
}

// origin is how the synced transports name where they come from.
func origin(peer string) string { return fmt.Sprintf("peer %q", peer) }

// withSynced returns local with the transports and contacts of the last
// good copy from its settings peer in place of its own of the same names
// (the peer's win); local itself when it has no settings peer. A synced
// transport whose plugin this agent lacks, or whose plugin is not the
// one its sha256 pins, is left out, and named in the sync's problems.
func (a *Agent) withSynced(local *config.Config) *config.Config {
	p := local.SettingsPeer()
	s := &a.synced
	s.mu.Lock()
	defer s.mu.Unlock()
	if p == nil {
		s.peer = ""
		return local
	}
	if s.peer != p.Name {
		// Another settings peer: its own last good copy.
		s.peer, s.last, s.fetched, s.saved, s.err, s.problems = p.Name, nil, time.Time{}, time.Time{}, "", nil
		last, fetched, err := peersync.Load(local.Agent.DataDir, NewTokenStore(local.Agent).KeySource(), p.Name)
		if err != nil {
			s.err, s.since = err.Error(), a.now()
			a.logger.Error("the last settings synced from the peer cannot be read; the agent runs without them until the next sync", "peer", p.Name, "error", err)
		}
		s.last, s.fetched, s.saved = last, fetched, fetched
	}
	p.Spec.Peer.SettingsSync = s.state
	if s.last == nil {
		return local
	}
	ts, cs := s.last.Config(origin(p.Name))
	s.problems = map[string]string{}
	host := NewPluginHost(a.logger, local.Agent)
	kept := ts[:0]
	for _, t := range ts {
		if err := pluginProblem(host, local.Agent, t); err != nil {
			s.problems[t.Name] = err.Error()
			a.logger.Error("a transport synced from the peer is left out: its plugin is not here as the peer has it", "peer", p.Name, "transport", t.Name, "error", err,
				"fix", "install the same plugin binary as on the peer in plugin_dir (or local_plugin_dir), then reload")
			continue
		}
		kept = append(kept, t)
	}
	merged, replaced := local.WithSynced(kept, cs)
	if len(replaced) > 0 {
		a.logger.Warn("the settings synced from the peer replace this agent's own of the same names", "peer", p.Name, "replaced", replaced)
	}
	return merged
}

// pluginProblem says why t's plugin cannot run here as on the peer: its
// name is not a plugin's, the peer names a binary outside this agent's
// plugin directories, it is not installed, or it is not the binary its
// sha256 pins. A peer chooses which installed plugin runs, never which
// program: a synced path elsewhere (say /bin/sh, with its checksum as
// the pin) is refused.
func pluginProblem(host *pluginhost.Host, agent config.Agent, t *config.Transport) error {
	if !sdk.ValidPluginName(t.Plugin) {
		return fmt.Errorf("transport %s: the peer names the plugin %q, which is not a plugin name (lower-case letters, digits and dashes)", t.Name, t.Plugin)
	}
	if t.Path != "" && !within(t.Path, agent.PluginDir, agent.LocalPluginDir) {
		return fmt.Errorf("transport %s: the peer runs its plugin from %s, outside this agent's plugin_dir and local_plugin_dir: a synced transport runs only a plugin installed there; install it there and leave path out on the peer", t.Name, t.Path)
	}
	path, err := host.Find(t.Plugin, t.Path)
	if err != nil {
		return fmt.Errorf("transport %s: plugin %s is missing on this backup: %w", t.Name, t.Plugin, err)
	}
	if t.SHA256 == "" {
		return nil
	}
	sum, err := pluginhost.Checksum(path)
	if err != nil {
		return fmt.Errorf("transport %s: plugin %s: %w", t.Name, t.Plugin, err)
	}
	if sum != strings.ToLower(t.SHA256) {
		return fmt.Errorf("transport %s: plugin %s at %s is not the binary the peer pins (sha256 %s here, %s there)", t.Name, t.Plugin, path, sum, t.SHA256)
	}
	return nil
}

// startSync starts the loop that fetches the settings peer's settings,
// when cfg has one. Stop ends it.
func (a *Agent) startSync(cfg *config.Config) {
	if cfg.SettingsPeer() == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.synced.stop, a.synced.done = cancel, make(chan struct{})
	go func() {
		defer close(a.synced.done)
		a.syncLoop(ctx)
	}()
}

// stopSync ends the loop and waits for it.
func (a *Agent) stopSync() {
	if a.synced.stop == nil {
		return
	}
	a.synced.stop()
	<-a.synced.done
}

// syncLoop fetches the settings peer's settings at the peer's interval
// (every), from the first moment on, until ctx ends. The settings peer
// is read from the running configuration at each round, so that a
// reload may change it.
func (a *Agent) syncLoop(ctx context.Context) {
	for {
		every := time.Minute
		if p := a.localConfig().SettingsPeer(); p != nil {
			if p.Spec.Every > 0 {
				every = p.Spec.Every
			}
			a.SyncSettings(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.after(every):
		}
	}
}

// localConfig is the configuration of the agent's files.
func (a *Agent) localConfig() *config.Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.local
}

// SyncSettings fetches the settings peer's transports and contacts once
// and, when they changed, applies them as a reload does; it returns the
// reload's diagnostics. A failure keeps the last good copy in use and is
// recorded for the peer fact (settings_error), /v1/status and the log.
func (a *Agent) SyncSettings(ctx context.Context) hcl.Diagnostics {
	local := a.localConfig()
	p := local.SettingsPeer()
	if p == nil {
		return nil
	}
	fctx, cancel := context.WithTimeout(ctx, p.Spec.Timeout+5*time.Second)
	got, err := peersync.Fetch(fctx, p.Spec.Peer)
	cancel()
	if err != nil {
		a.syncFailed(p.Name, fmt.Errorf("fetch the settings of peer %s: %w; the last good copy stays in use", p.Name, err))
		return nil
	}
	a.reloading.Lock()
	defer a.reloading.Unlock()
	if a.stopped {
		return nil
	}
	// A reload may have come while the settings were fetched: apply them
	// to the files' configuration as it is now, if it still takes them
	// from this peer.
	if local = a.localConfig(); local.SettingsPeer() == nil || local.SettingsPeer().Name != p.Name {
		return nil
	}
	s := &a.synced
	now := a.now()
	s.mu.Lock()
	prev, saved := s.last, s.saved
	s.mu.Unlock()
	if prev != nil && sameSettings(prev, got) {
		if now.Sub(saved) >= resaveAfter {
			if err := peersync.Save(local.Agent.DataDir, NewTokenStore(local.Agent).KeySource(), p.Name, got, now); err == nil {
				saved = now
			}
		}
		s.mu.Lock()
		s.last, s.fetched, s.saved, s.err = got, now, saved, ""
		s.mu.Unlock()
		return nil
	}
	if err := a.takeLogins(local, prev, got); err != nil {
		a.syncFailed(p.Name, fmt.Errorf("store the logins synced from peer %s: %w; the last good copy stays in use", p.Name, err))
		return nil
	}
	s.mu.Lock()
	s.last, s.fetched = got, now
	s.mu.Unlock()
	diags := a.reload(ctx, a.withSynced(local))
	if diags.HasErrors() {
		s.mu.Lock()
		s.last = prev
		s.mu.Unlock()
		a.withSynced(local) // the problems of the copy in use
		a.syncFailed(p.Name, fmt.Errorf("apply the settings of peer %s: %s; the last good copy stays in use", p.Name, diagText(diags)))
		return diags
	}
	if err := peersync.Save(local.Agent.DataDir, NewTokenStore(local.Agent).KeySource(), p.Name, got, now); err != nil {
		a.logger.Error("the settings synced from the peer are in use but cannot be kept in data_dir: a restart without the peer starts without them", "peer", p.Name, "error", err)
	}
	s.mu.Lock()
	s.saved, s.err = now, ""
	s.mu.Unlock()
	var names []string
	for _, t := range got.Transports {
		names = append(names, t.Name)
	}
	a.logger.Info("settings synced from the peer", "peer", p.Name, "node", got.Node, "transports", names, "contacts", len(got.Contacts))
	for _, pr := range got.Problems {
		a.logger.Warn("the peer could not serve all its settings", "peer", p.Name, "problem", pr)
	}
	return diags
}

// syncFailed records a failed sync.
func (a *Agent) syncFailed(peer string, err error) {
	s := &a.synced
	s.mu.Lock()
	changed := s.err != err.Error()
	if s.err == "" {
		s.since = a.now()
	}
	s.err = err.Error()
	s.mu.Unlock()
	if changed { // logged when the error changes, not at every round
		a.logger.Warn("settings sync failed", "peer", peer, "error", err)
	}
}

// sameSettings reports whether a and b hold the same transports,
// contacts and logins (their time aside).
func sameSettings(a, b *peersync.Settings) bool {
	x, y := *a, *b
	x.Time, y.Time = time.Time{}, time.Time{}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	defer clear(ja)
	defer clear(jb)
	return bytes.Equal(ja, jb)
}

// takeLogins stores in this agent's token store the logins of got that
// the peer changed since prev (or that this agent lacks): a login the
// peer did not change stays as this agent has it, with the refresh
// tokens its own plugin rotated since (README, Settings from the
// primary).
func (a *Agent) takeLogins(local *config.Config, prev, got *peersync.Settings) error {
	store := NewTokenStore(local.Agent)
	before := map[string]string{}
	if prev != nil {
		for _, t := range prev.Transports {
			if t.Login != nil {
				before[t.Name] = t.Login.RefreshToken
			}
		}
	}
	for _, t := range got.Transports {
		if t.Login == nil {
			continue
		}
		have, err := store.hasToken(t.Name)
		if err != nil {
			return err
		}
		if have && before[t.Name] == t.Login.RefreshToken {
			continue
		}
		if err := store.Put(t.Login.Entry(t.Name)); err != nil {
			return fmt.Errorf("transport %s: %w", t.Name, err)
		}
		a.logger.Info("took the peer's login of a transport", "transport", t.Name, "account", t.Login.Account)
	}
	return nil
}

// diagText is diags' errors on one line.
func diagText(diags hcl.Diagnostics) string {
	var out []string
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, strings.TrimSuffix(d.Summary+": "+d.Detail, "."))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// servePeerSettings is GET /v1/peer/settings: this agent's own
// transports and contacts, secrets and stored logins included, for its
// peer alone: the peer role (not read, not admin), over TLS.
func (a *Agent) servePeerSettings(w http.ResponseWriter, r *http.Request) {
	p, ok := apiauth.PrincipalFrom(r.Context())
	switch {
	case !ok || p.Role != apiauth.RolePeer:
		writeJSONError(w, http.StatusForbidden, "only the partner may read the settings, with the peer role (a credential block with role = \"peer\", or a peer block's fingerprint); not a read or admin credential (see README, Settings from the primary)")
		return
	case r.TLS == nil:
		writeJSONError(w, http.StatusForbidden, "the settings hold secrets and are served over TLS only: serve the API with TLS (remove insecure_plain_http) and let the partner pin this agent's fingerprint (see README, Settings from the primary)")
		return
	}
	cur := a.current()
	store := NewTokenStore(cur.cfg.Agent)
	s := peersync.Serve(cur.cfg, a.now(), func(transport string) (*tokenstore.Entry, error) {
		if ok, err := store.hasToken(transport); !ok || err != nil {
			return nil, err
		}
		st, err := store.Open()
		if err != nil {
			return nil, err
		}
		e, ok, err := st.Get(transport)
		if err != nil || !ok {
			return nil, err
		}
		return &e, nil
	})
	body, err := json.Marshal(s)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "encode the settings: "+err.Error())
		return
	}
	defer clear(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
	a.logger.Debug("settings served to the peer", "credential", p.Name, "remote", r.RemoteAddr, "transports", len(s.Transports), "contacts", len(s.Contacts), "problems", len(s.Problems))
}

// takeStartLogins stores the logins of the last good copy that this
// agent's token store lacks, before its transports start.
func (a *Agent) takeStartLogins() {
	s := &a.synced
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last == nil {
		return
	}
	if err := a.takeLogins(a.local, last, last); err != nil {
		a.logger.Error("the logins of the last settings synced from the peer cannot be stored; their transports start without them", "error", err)
	}
}

// SyncedConfig returns cfg as the agent runs it: with the transports and
// contacts of the last good copy from its settings peer in place of its
// own of the same names (see Reload), and lines that say where they come
// from and when they were synced, for tocsin validate. Without a
// settings peer it returns cfg and no lines.
func SyncedConfig(cfg *config.Config, logger hclog.Logger) (*config.Config, []string) {
	a := &Agent{logger: logger, now: time.Now}
	merged := a.withSynced(cfg)
	s := &a.synced
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peer == "" {
		return cfg, nil
	}
	var lines []string
	switch {
	case s.err != "":
		lines = append(lines, fmt.Sprintf("Settings from peer %q: the last good copy cannot be read: %s", s.peer, s.err))
	case s.last == nil:
		lines = append(lines, fmt.Sprintf("Settings from peer %q: none synced yet; the agent takes them at its first sync.", s.peer))
	default:
		lines = append(lines, fmt.Sprintf("Settings from peer %q (node %s), synced %s:", s.peer, s.last.Node, s.fetched.UTC().Format(time.RFC3339)))
		for _, t := range s.last.Transports {
			line := fmt.Sprintf("  transport %s (plugin %s)", t.Name, t.Plugin)
			if t.Login != nil {
				line += ", with its stored login"
			}
			if p := s.problems[t.Name]; p != "" {
				line += ": LEFT OUT: " + p
			}
			lines = append(lines, line)
		}
		for _, c := range s.last.Contacts {
			lines = append(lines, fmt.Sprintf("  contact %s (via %s)", c.Name, strings.Join(c.Via, ", ")))
		}
	}
	return merged, lines
}

// within reports whether path is a file below one of dirs (absolute,
// cleaned; "" is none).
func within(path string, dirs ...string) bool {
	if !filepath.IsAbs(path) {
		return false
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		rel, err := filepath.Rel(filepath.Clean(d), filepath.Clean(path))
		if err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
