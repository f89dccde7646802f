package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/core/server"
	"github.com/tocsin-dev/tocsin/core/silence"
)

// silenceConfig has a rule that fires at once and repeats every 20
// minutes of the agent's clock, evaluated every second.
const silenceConfig = `
agent {
  node     = "appliance-b"
  data_dir = "%DATA%"
  listen   = "127.0.0.1:0"
}
transport "relay" {
  plugin = "smtp-basic"
  from   = "tocsin@example.com"
}
contact "ops" {
  email = ["ops@example.com"]
  via   = [transport.relay]
}
rule "disk" {
  schedule = "@every 1s"
  when     = true
  repeat   = "20m"
  notify   = [contact.ops]
  subject  = "disk full"
  text     = "silences here: ${length(agent.silences)}"
}
`

// startSilenced starts an agent on cfg with the clock c, a fake relay and
// a quick look for ended silences.
func startSilenced(t *testing.T, cfg *config.Config, c *watchClock) (*Agent, *fakeTransport, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	fs := newFakeStarter()
	relay := accepts("250 ok")
	fs.plugins["relay"] = relay
	a, diags := start(context.Background(), &Agent{cfg: cfg, now: c.now, starter: fs.start, silenceSweepEvery: 20 * time.Millisecond,
		logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})})
	if a == nil || diags.HasErrors() {
		t.Fatalf("the agent did not start: %v", diags)
	}
	return a, relay, logs
}

// stopAgent stops a.
func stopAgent(t *testing.T, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// callAPI calls the agent's API as the tocsin command on this host does,
// with the local admin token, and decodes the answer into out.
func callAPI(t *testing.T, a *Agent, method, path string, body any, out any) int {
	t.Helper()
	token, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(a.current().cfg.Agent.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+a.Addr()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// lastNotified is when the agent last notified (or would have) for rule.
func lastNotified(a *Agent, rule string) time.Time {
	for _, r := range a.current().engine.RuleStatuses() {
		if r.Name == rule {
			return r.LastNotified
		}
	}
	return time.Time{}
}

// subjects returns the subjects relay sent.
func subjects(relay *fakeTransport) []string {
	var out []string
	for _, m := range relay.messages() {
		out = append(out, m.Subject)
	}
	return out
}

// TestAgent_SilenceAcceptance: a silence set while an alert fires stops
// its repeats (the rule still repeats on its clock, and nothing is sent),
// holds across a restart of the agent on the same data_dir, and ends, on
// its own, with exactly one mail that says so and lists the rule as still
// firing; the repeats resume after it.
func TestAgent_SilenceAcceptance(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := &watchClock{t: t0}
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := loadSource(t, strings.ReplaceAll(silenceConfig, "%DATA%", dataDir))

	a, relay, _ := startSilenced(t, cfg, clock)
	waitSent(t, relay, "disk full")

	// Set a silence through the API, from this host, with the admin token.
	clock.advance(time.Minute)
	var set SilenceView
	if code := callAPI(t, a, "POST", SilencesPath, silence.Request{Rule: "disk", For: "49m", Comment: "replacing the disk", By: "alice"}, &set); code != http.StatusCreated {
		t.Fatalf("add: %d %+v", code, set)
	}
	if set.Rule != "disk" || !set.End.Equal(t0.Add(50*time.Minute)) || !set.Applies || set.By != "alice" {
		t.Errorf("added %+v", set)
	}

	// The repeat at 20m: recorded, not sent.
	clock.advance(19 * time.Minute)
	waitFor(t, "the repeat at 20m", func() bool { return lastNotified(a, "disk").Equal(t0.Add(20 * time.Minute)) })
	if s := subjects(relay); len(s) != 1 {
		t.Errorf("sent %q while silenced; want only the first alert", s)
	}
	stopAgent(t, a)

	// A new agent on the same data_dir keeps the silence.
	clock.advance(10 * time.Minute)
	b, relay2, logs := startSilenced(t, cfg, clock)
	defer stopAgent(t, b)
	var st Status
	if code := callAPI(t, b, "GET", "/v1/status", nil, &st); code != 200 || len(st.Silences) != 1 || st.Silences[0].ID != set.ID || st.Silences[0].Comment != "replacing the disk" {
		t.Fatalf("status after the restart: %d %+v", code, st.Silences)
	}
	clock.advance(10 * time.Minute) // 40m: the next repeat, silenced too
	waitFor(t, "the repeat at 40m", func() bool { return lastNotified(b, "disk").Equal(t0.Add(40 * time.Minute)) })
	if s := subjects(relay2); len(s) != 0 {
		t.Errorf("sent %q while silenced after the restart", s)
	}

	// 50m: it ends, with one mail.
	clock.advance(10 * time.Minute)
	end := waitSent(t, relay2, "appliance-b: silence of rule disk ended, 1 still firing")
	for _, want := range []string{
		"The silence " + set.ID + " of rule disk on appliance-b ended at 2026-11-23T10:50:00Z: it ran out.",
		"set by alice at 2026-11-23T10:01:00Z until 2026-11-23T10:50:00Z: replacing the disk",
		"2 notification(s) were kept back",
		"  disk: repeat\n",
		"Still firing now (they notify again at their next repeat):\n  disk\n",
	} {
		if !strings.Contains(end.Text, want) {
			t.Errorf("the end's mail does not say %q:\n%s", want, end.Text)
		}
	}
	if end.To[0].Address != "ops@example.com" {
		t.Errorf("the end's mail went to %v", end.To)
	}
	// Several sweeps and ticks later, still one mail, and no silence.
	time.Sleep(300 * time.Millisecond)
	if s := subjects(relay2); len(s) != 1 {
		t.Errorf("sent %q; want exactly the end's mail", s)
	}
	if l := b.sil.store.List(); len(l) != 0 {
		t.Errorf("silences kept after their end: %+v", l)
	}
	if !strings.Contains(logs.String(), "silence ended") {
		t.Errorf("the end is not logged:\n%s", logs.String())
	}

	// 60m: the repeats resume.
	clock.advance(10 * time.Minute)
	m := waitSent(t, relay2, "disk full")
	if m.Text != "silences here: 0" {
		t.Errorf("the repeat says %q", m.Text)
	}
}

// TestAgent_SilenceExpireByHand: expire ends a silence at once, with one
// mail that says who ended it and that nothing is firing.
func TestAgent_SilenceExpireByHand(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := &watchClock{t: t0}
	dataDir := filepath.Join(t.TempDir(), "data")
	src := strings.ReplaceAll(silenceConfig, "%DATA%", dataDir)
	src = strings.Replace(src, "when     = true", "when     = false", 1)
	a, relay, _ := startSilenced(t, loadSource(t, src), clock)
	defer stopAgent(t, a)

	var set SilenceView
	if code := callAPI(t, a, "POST", SilencesPath, silence.Request{All: true, For: "2h", Comment: "maintenance", By: "alice"}, &set); code != http.StatusCreated {
		t.Fatalf("add: %d", code)
	}
	var got SilenceView
	if code := callAPI(t, a, "POST", SilencesPath+"/"+set.ID+"/expire", SilenceExpire{By: "bob"}, &got); code != http.StatusOK || got.ExpiredBy != "bob" {
		t.Fatalf("expire: %d %+v", code, got)
	}
	m := waitSent(t, relay, "appliance-b: silence of all rules ended")
	if !strings.Contains(m.Text, "it was expired by bob.") || !strings.Contains(m.Text, "Nothing it covered is firing now.") {
		t.Errorf("the end's mail:\n%s", m.Text)
	}
	var e map[string]string
	if code := callAPI(t, a, "POST", SilencesPath+"/"+set.ID+"/expire", nil, &e); code != http.StatusNotFound || !strings.Contains(e["error"], "tocsin silence list") {
		t.Errorf("expire again: %d %v", code, e)
	}
	time.Sleep(200 * time.Millisecond)
	if s := subjects(relay); len(s) != 1 {
		t.Errorf("sent %q; want exactly the end's mail", s)
	}
}

// TestAgent_SilenceAPI_refuses: the API says what is wrong with a silence
// it refuses, and a silence of another node is kept but applies nowhere
// here.
func TestAgent_SilenceAPI_refuses(t *testing.T) {
	clock := &watchClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	dataDir := filepath.Join(t.TempDir(), "data")
	a, _, _ := startSilenced(t, loadSource(t, strings.ReplaceAll(silenceConfig, "%DATA%", dataDir)), clock)
	defer stopAgent(t, a)
	tests := []struct {
		name string
		body any
		want string
	}{
		{"unknown rule", silence.Request{Rule: "dsik", For: "1h", Comment: "c", By: "b"}, `this agent has no rule "dsik"`},
		{"too long", silence.Request{Rule: "disk", For: "200h", Comment: "c", By: "b"}, "out of bounds"},
		{"no duration", silence.Request{All: true, Comment: "c", By: "b"}, "a duration is required"},
		{"not a silence", map[string]any{"rules": "disk"}, `unknown field "rules"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e map[string]string
			if code := callAPI(t, a, "POST", SilencesPath, tt.body, &e); code != http.StatusBadRequest || !strings.Contains(e["error"], tt.want) {
				t.Errorf("%d %v; want 400 with %q", code, e, tt.want)
			}
		})
	}
	var other SilenceView
	if code := callAPI(t, a, "POST", SilencesPath, silence.Request{Node: "appliance-a", For: "1h", Comment: "c", By: "b"}, &other); code != http.StatusCreated || other.Applies {
		t.Errorf("a silence of another node: %d %+v; want set, applies false", code, other)
	}
	var l SilenceList
	if code := callAPI(t, a, "GET", SilencesPath, nil, &l); code != 200 || l.Node != "appliance-b" || len(l.Silences) != 1 || l.Silences[0].Applies {
		t.Errorf("list: %d %+v", code, l)
	}
	if v := a.silenceVars(); len(v) != 0 {
		t.Errorf("agent.silences holds another node's silence: %+v", v)
	}
}

// TestAgent_silenced: which notifications a silence keeps back: those of
// the rules it covers, on this node; never the agent's own notices, and
// the heartbeat only when it names it. Marks of rules left without a
// notification go too.
func TestAgent_silenced(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	entry := func(rule, event string) *outbox.Entry {
		return &outbox.Entry{ID: rule + "-" + event, Rule: rule, Event: event, Contact: "ops"}
	}
	tests := []struct {
		name string
		req  silence.Request
		// kept are the rules whose entries are kept.
		kept []string
	}{
		{"a rule", silence.Request{Rule: "disk"}, []string{"daily_heartbeat", "load", "startup"}},
		{"this node", silence.Request{Node: "node-1.example"}, []string{"daily_heartbeat", "startup"}},
		{"another node", silence.Request{Node: "node-2.example"}, []string{"daily_heartbeat", "disk", "load", "startup"}},
		{"all", silence.Request{All: true}, []string{"daily_heartbeat", "startup"}},
		{"the heartbeat by name", silence.Request{Rule: "daily_heartbeat"}, []string{"disk", "load", "startup"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAgent(t, false, nil)
			a.now = func() time.Time { return t0 }
			st, err := silence.Open(t.TempDir(), t0)
			if err != nil {
				t.Fatal(err)
			}
			a.sil = &silencing{store: st}
			req := tt.req
			req.For, req.Comment, req.By = "1h", "c", "b"
			s, err := st.Add(req, t0)
			if err != nil {
				t.Fatal(err)
			}
			entries := []*outbox.Entry{entry("disk", "fire"), entry("load", "resolve"), entry("daily_heartbeat", "repeat"), entry("startup", NoticeEvent)}
			marks := []outbox.Mark{{Name: "disk"}, {Name: "load"}, {Name: "daily_heartbeat"}}
			gotMarks, got := a.silenced(marks, entries)
			var kept, keptMarks []string
			for _, e := range got {
				kept = append(kept, e.Rule)
			}
			for _, m := range gotMarks {
				keptMarks = append(keptMarks, m.Name)
			}
			if strings.Join(sorted(kept), ",") != strings.Join(tt.kept, ",") {
				t.Errorf("kept %q, want %q", kept, tt.kept)
			}
			wantMarks := slicesWithout(tt.kept, "startup")
			if strings.Join(sorted(keptMarks), ",") != strings.Join(wantMarks, ",") {
				t.Errorf("kept marks %q, want %q", keptMarks, wantMarks)
			}
			// What it kept back is recorded.
			held := 4 - len(tt.kept)
			if l := st.List(); l[0].ID != s.ID || l[0].Suppressed != held {
				t.Errorf("recorded %+v, want %d kept back", l[0], held)
			}
			// After its end, nothing is kept back.
			a.now = func() time.Time { return t0.Add(time.Hour) }
			if _, got := a.silenced(marks, entries); len(got) != 4 {
				t.Errorf("after the end, %d of 4 kept", len(got))
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func slicesWithout(s []string, x string) []string {
	var out []string
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// TestAgent_SilencesFileCorrupt: a silences file that cannot be read does
// not keep the agent from running; it is an error in the log and on
// /healthz, with what to do, and the file is kept aside.
func TestAgent_SilencesFileCorrupt(t *testing.T) {
	clock := &watchClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(silence.Path(dataDir), []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, relay, logs := startSilenced(t, loadSource(t, strings.ReplaceAll(silenceConfig, "%DATA%", dataDir)), clock)
	defer stopAgent(t, a)
	waitSent(t, relay, "disk full") // it runs, and alerts
	if !strings.Contains(logs.String(), "[ERROR] the silences file cannot be read; the agent runs without the silences it held: error=\"silences file") || !strings.Contains(logs.String(), "set them again with tocsin silence add") {
		t.Errorf("no loud error:\n%s", logs.String())
	}
	h := a.health()
	if h.Status != server.StatusDegraded || len(h.Problems) != 1 || !strings.HasPrefix(h.Problems[0], "silences: silences file") {
		t.Errorf("health = %+v", h)
	}
	if _, err := os.Stat(silence.Path(dataDir) + ".corrupt-20261123T100000Z"); err != nil {
		t.Errorf("the damaged file was not kept aside: %v", err)
	}
}
