package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/rules"
	"github.com/tocsin-dev/tocsin/core/server"
	"github.com/tocsin-dev/tocsin/core/silence"
)

// HeartbeatRule is the library's rule that proves that mail flows. A
// silence of a node or of all rules leaves it alone: it goes quiet only
// when a silence names it.
const HeartbeatRule = "daily_heartbeat"

// SilenceSource is the Source of the notice that says a silence ended.
const SilenceSource = "silence"

// SilencesPath is where the silence API is served.
const SilencesPath = "/v1/silences"

// defaultSweepEvery is how often the agent looks for silences that ended.
const defaultSweepEvery = 5 * time.Second

// silencing is the agent's silences and the loop that announces their
// end.
type silencing struct {
	store *silence.Store
	// problem is the silences file's error at the start, for /healthz.
	problem string
	// every is how often the loop looks for silences that ended.
	every time.Duration
	// sweep serialises the announcements of ends (the loop's and an
	// expire's).
	sweep sync.Mutex
	stop  chan struct{}
	done  chan struct{}
	// running is set once runSilences started the loop.
	running bool
}

// openSilences reads the silences kept in data_dir. A file that cannot
// be read is an error in the log and on /healthz; the agent runs without
// the silences it held.
func (a *Agent) openSilences(dataDir string) {
	s := &silencing{every: a.silenceSweepEvery, stop: make(chan struct{}), done: make(chan struct{})}
	if s.every <= 0 {
		s.every = defaultSweepEvery
	}
	st, err := silence.Open(dataDir, a.now())
	if err != nil {
		s.problem = err.Error()
		a.logger.Error("the silences file cannot be read; the agent runs without the silences it held", "error", err)
	}
	s.store = st
	if n := len(st.Active(a.now())); n > 0 {
		a.logger.Info("silences in force", "silences", n)
	}
	a.sil = s
}

// runSilences starts the loop that announces the silences that ended. Its
// owner is the agent: stopSilences ends it.
func (a *Agent) runSilences(ctx context.Context) {
	s := a.sil
	s.running = true
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				a.endSilences(ctx)
			}
		}
	}()
}

// stopSilences ends the loop of runSilences, if it runs.
func (a *Agent) stopSilences() {
	if a.sil == nil {
		return
	}
	select {
	case <-a.sil.stop:
	default:
		close(a.sil.stop)
	}
}

// waitSilences waits for the loop of runSilences to end, if it was
// started.
func (a *Agent) waitSilences() {
	if a.sil != nil && a.sil.running {
		<-a.sil.done
	}
}

// silencesHere returns the silences that hold now on this node.
func (a *Agent) silencesHere(now time.Time) []silence.Silence {
	if a.sil == nil {
		return nil
	}
	node := a.current().cfg.Agent.Node
	var out []silence.Silence
	for _, s := range a.sil.store.Active(now) {
		if s.Node == "" || s.Node == node {
			out = append(out, s)
		}
	}
	return out
}

// silenceVars is agent.silences: the silences that hold on this node.
func (a *Agent) silenceVars() []rules.SilenceVar {
	var out []rules.SilenceVar
	for _, s := range a.silencesHere(a.now()) {
		out = append(out, rules.SilenceVar{ID: s.ID, Target: s.Target(), By: s.By, Comment: s.Comment, Until: s.End})
	}
	return out
}

// silenced drops from entries the notifications of rules that a silence
// covers now, and the hand-off marks of rules left without a
// notification, and records what each silence kept back. The engine
// saves the rules' states as if they had been sent (as for mute): their
// repeat clocks run on.
func (a *Agent) silenced(marks []outbox.Mark, entries []*outbox.Entry) ([]outbox.Mark, []*outbox.Entry) {
	in := a.silencesHere(a.now())
	if len(in) == 0 {
		return marks, entries
	}
	node := a.current().cfg.Agent.Node
	kept := entries[:0:0]
	keptRules := map[string]bool{}
	dropped := map[string][]string{} // rule: the silences that cover it
	events := map[string]string{}
	for _, e := range entries {
		var ids []string
		if e.Event != NoticeEvent {
			for _, s := range in {
				if s.Covers(e.Rule, node, HeartbeatRule) {
					ids = append(ids, s.ID)
				}
			}
		}
		if len(ids) == 0 {
			kept = append(kept, e)
			keptRules[e.Rule] = true
			continue
		}
		a.logger.Info("silenced: not delivering", "rule", e.Rule, "event", e.Event, "contact", e.Contact, "silences", strings.Join(ids, ","))
		dropped[e.Rule], events[e.Rule] = ids, e.Event
	}
	if len(dropped) == 0 {
		return marks, entries
	}
	if err := a.sil.store.Suppressed(dropped, events); err != nil {
		a.logger.Warn("what the silences kept back could not be saved; the mail at their end may leave it out", "rules", len(dropped), "error", err)
	}
	var keptMarks []outbox.Mark
	for _, m := range marks {
		if keptRules[m.Name] || dropped[m.Name] == nil {
			keptMarks = append(keptMarks, m)
		}
	}
	return keptMarks, kept
}

// endSilences announces each silence that ended and forgets it: one mail
// to each contact of the rules it covered (the heartbeat's when it
// covered none), saying that it ended and what of it is still firing. A
// silence whose mail cannot be stored is tried again at the next sweep.
func (a *Agent) endSilences(ctx context.Context) {
	if a.sil == nil {
		return
	}
	a.sil.sweep.Lock()
	defer a.sil.sweep.Unlock()
	now := a.now()
	for _, s := range a.sil.store.Ended(now) {
		if err := a.announceEnd(ctx, s, now); err != nil {
			a.logger.Error("the end of a silence could not be announced; trying again", "silence", s.ID, "error", err)
			continue
		}
		if err := a.sil.store.Forget(s.ID); err != nil {
			a.logger.Error("an ended silence could not be removed from the silences file; its end may be announced again", "silence", s.ID, "error", err)
		}
	}
}

// announceEnd enqueues the mail that says s ended.
func (a *Agent) announceEnd(ctx context.Context, s silence.Silence, now time.Time) error {
	cur := a.current()
	node := cur.cfg.Agent.Node
	how := "ran out"
	if s.ExpiredBy != "" {
		how = "was expired by " + s.ExpiredBy
	}
	a.logger.Info("silence ended", "silence", s.ID, "target", s.Target(), "how", how)
	if s.Node != "" && s.Node != node {
		return nil // it covered nothing here
	}
	var covered []*rules.Rule
	contacts := map[string]bool{}
	for _, r := range cur.cfg.Rules {
		if s.Covers(r.Name, node, HeartbeatRule) {
			covered = append(covered, r)
			for _, c := range r.Notify {
				contacts[c] = true
			}
		}
	}
	if len(contacts) == 0 {
		for _, r := range cur.cfg.Rules {
			if r.Name == HeartbeatRule {
				for _, c := range r.Notify {
					contacts[c] = true
				}
			}
		}
	}
	if len(contacts) == 0 {
		a.logger.Warn("nobody to tell that a silence ended: neither the rules it covered nor the daily heartbeat notify a contact", "silence", s.ID)
		return nil
	}
	firing := map[string]bool{}
	for _, st := range cur.engine.RuleStatuses() {
		if st.Phase == rules.Firing.String() {
			firing[st.Name] = true
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The silence %s of %s on %s ended at %s: it %s.\n", s.ID, s.Target(), node, stamp(s.End), how)
	fmt.Fprintf(&b, "It was set by %s at %s until %s: %s\n\n", s.By, stamp(s.Start), stamp(s.End), s.Comment)
	if s.Suppressed > 0 {
		fmt.Fprintf(&b, "While it held, %d notification(s) were kept back, last of each rule:\n", s.Suppressed)
		for _, name := range slices.Sorted(maps.Keys(s.Rules)) {
			fmt.Fprintf(&b, "  %s: %s\n", name, s.Rules[name])
		}
	} else {
		b.WriteString("While it held, no notification was kept back.\n")
	}
	var still []string
	for _, r := range covered {
		if firing[r.Name] {
			still = append(still, r.Name)
		}
	}
	sort.Strings(still)
	if len(still) > 0 {
		b.WriteString("\nStill firing now (they notify again at their next repeat):\n")
		for _, name := range still {
			fmt.Fprintf(&b, "  %s\n", name)
		}
	} else {
		b.WriteString("\nNothing it covered is firing now.\n")
	}
	b.WriteString("\nFrom now on these rules notify as usual.\n")
	mail := outbox.Mail{
		Subject: fmt.Sprintf("%s: silence of %s ended", node, s.Target()),
		Text:    b.String(),
	}
	if len(still) > 0 {
		mail.Subject += fmt.Sprintf(", %d still firing", len(still))
	}
	for _, c := range slices.Sorted(maps.Keys(contacts)) {
		if _, err := a.Enqueue(ctx, Notice{Source: SilenceSource, Contact: c, Mail: mail}); err != nil {
			return err
		}
	}
	return nil
}

// stamp formats t for a mail.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// SilenceView is a silence as the API and /v1/status show it.
type SilenceView struct {
	silence.Silence
	// Applies is false for a silence of another node: it covers nothing
	// here.
	Applies bool `json:"applies"`
}

// silencesForReader returns ss as the read role sees them: what is
// silenced and until when, not who set them, why, or what they kept back.
func silencesForReader(ss []SilenceView) []SilenceView {
	out := make([]SilenceView, len(ss))
	for i, s := range ss {
		s.Comment, s.By, s.ExpiredBy, s.Rules = "(hidden from the read role)", "(hidden from the read role)", "", nil
		out[i] = s
	}
	return out
}

// SilenceList is the answer of GET /v1/silences.
type SilenceList struct {
	Node     string        `json:"node"`
	Silences []SilenceView `json:"silences"`
	// Problem is the silences file's error at the start, if any.
	Problem string `json:"problem,omitempty"`
}

// SilenceExpire is the body of POST /v1/silences/{id}/expire.
type SilenceExpire struct {
	By string `json:"by"`
}

// silenceViews returns the silences in force, for the API and the status.
func (a *Agent) silenceViews() []SilenceView {
	out := []SilenceView{}
	if a.sil == nil {
		return out
	}
	node := a.current().cfg.Agent.Node
	for _, s := range a.sil.store.Active(a.now()) {
		out = append(out, SilenceView{Silence: s, Applies: s.Node == "" || s.Node == node})
	}
	return out
}

// silenceRoutes are the silence API's routes: list, and (from this host
// only) add and expire. The agent's Guard gives them the admin role.
func (a *Agent) silenceRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + SilencesPath:                   http.HandlerFunc(a.listSilences),
		"POST " + SilencesPath:                  server.LocalOnly(http.HandlerFunc(a.addSilence)),
		"POST " + SilencesPath + "/{id}/expire": server.LocalOnly(http.HandlerFunc(a.expireSilence)),
	}
}

func (a *Agent) listSilences(w http.ResponseWriter, _ *http.Request) {
	l := SilenceList{Node: a.current().cfg.Agent.Node, Silences: a.silenceViews()}
	if a.sil != nil {
		l.Problem = a.sil.problem
	}
	writeAPIJSON(w, http.StatusOK, l)
}

func (a *Agent) addSilence(w http.ResponseWriter, r *http.Request) {
	var req silence.Request
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, fmt.Errorf("read the silence: %w; send a JSON object with rule, node or all, for, comment and by", err))
		return
	}
	cfg := a.current().cfg
	if req.Rule != "" && !slices.ContainsFunc(cfg.Rules, func(x *rules.Rule) bool { return x.Name == req.Rule }) {
		writeAPIError(w, http.StatusBadRequest, fmt.Errorf("%w: this agent has no rule %q; the rules are listed in /v1/status (tocsin status)", silence.ErrInvalid, req.Rule))
		return
	}
	s, err := a.sil.store.Add(req, a.now())
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, silence.ErrInvalid) {
			code = http.StatusBadRequest
		}
		writeAPIError(w, code, err)
		return
	}
	a.logger.Info("silence set", "silence", s.ID, "target", s.Target(), "until", stamp(s.End), "by", s.By, "comment", s.Comment)
	writeAPIJSON(w, http.StatusCreated, SilenceView{Silence: s, Applies: s.Node == "" || s.Node == cfg.Agent.Node})
}

func (a *Agent) expireSilence(w http.ResponseWriter, r *http.Request) {
	var req SilenceExpire
	if r.ContentLength != 0 {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeAPIError(w, http.StatusBadRequest, fmt.Errorf("read the request: %w; send a JSON object with by, or nothing", err))
			return
		}
	}
	if req.By == "" {
		req.By = "an admin"
	}
	s, err := a.sil.store.Expire(r.PathValue("id"), req.By, a.now())
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, silence.ErrNotFound) {
			code = http.StatusNotFound
		}
		writeAPIError(w, code, err)
		return
	}
	a.logger.Info("silence expired by hand", "silence", s.ID, "target", s.Target(), "by", s.ExpiredBy)
	a.endSilences(r.Context())
	writeAPIJSON(w, http.StatusOK, SilenceView{Silence: s, Applies: s.Node == "" || s.Node == a.current().cfg.Agent.Node})
}

func writeAPIError(w http.ResponseWriter, code int, err error) {
	writeAPIJSON(w, code, map[string]string{"error": err.Error()})
}

func writeAPIJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
