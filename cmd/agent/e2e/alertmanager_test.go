package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// The Alertmanager cluster of the suite: real Prometheus Alertmanager
// instances (Debian's prometheus-alertmanager, 0.25 on bookworm), each on
// 127.0.0.1 with free web and cluster ports, its own storage and config in
// the test's temporary directory, and every other instance as a
// --cluster.peer, with gossip intervals short enough that the cluster
// forms within a second or two. Alertmanager does not gossip alerts (only
// silences and which notifications went out): a client posts to every
// instance, and each one's API shows what it was posted.

// nullAlertmanagerConfig routes every alert to a receiver that sends
// nothing.
const nullAlertmanagerConfig = `route:
  receiver: "null"
  group_by: [alertname, node]
receivers:
- name: "null"
`

// requireAlertmanager skips the test unless the suite was asked for
// (TOCSIN_E2E=1) and Alertmanager is installed; under CI=true a missing
// Alertmanager is a failure instead. Alertmanager needs no root; only
// installing it does (.ci/e2e/install).
func requireAlertmanager(t *testing.T) string {
	t.Helper()
	if os.Getenv("TOCSIN_E2E") != "1" {
		t.Skip("the end-to-end suite runs with TOCSIN_E2E=1 (make e2e)")
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	why := "Alertmanager is not installed: .ci/e2e/install installs Debian's prometheus-alertmanager (as root)"
	if os.Getenv("CI") == "true" {
		t.Fatalf("e2e cannot run under CI: %s", why)
	}
	t.Skip("e2e skipped: " + why)
	return ""
}

// amInstance is one running Alertmanager.
type amInstance struct {
	web     string // host:port of the API
	cluster string // host:port of the gossip
	dir     string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
}

// url is the instance's base URL.
func (in *amInstance) url() string { return "http://" + in.web }

// startAlertmanagers starts n instances that gossip with each other, with
// config as their alertmanager.yml, and waits until each sees all n in its
// cluster. They are killed when the test ends.
func startAlertmanagers(t *testing.T, n int, config string) []*amInstance {
	t.Helper()
	bin := requireAlertmanager(t)
	ins := make([]*amInstance, n)
	for i := range ins {
		ins[i] = &amInstance{web: freePort(t), cluster: freePort(t), dir: t.TempDir(), done: make(chan struct{})}
	}
	for i, in := range ins {
		write(t, filepath.Join(in.dir, "alertmanager.yml"), 0o600, config)
		args := []string{
			"--config.file=" + filepath.Join(in.dir, "alertmanager.yml"),
			"--storage.path=" + filepath.Join(in.dir, "data"),
			"--web.listen-address=" + in.web,
			"--cluster.listen-address=" + in.cluster,
			"--cluster.advertise-address=" + in.cluster,
			"--cluster.gossip-interval=50ms",
			"--cluster.pushpull-interval=1s",
			"--cluster.probe-interval=200ms",
			"--cluster.reconnect-interval=1s",
			"--cluster.settle-timeout=2s",
			"--log.level=debug",
		}
		for j, peer := range ins {
			if j != i {
				args = append(args, "--cluster.peer="+peer.cluster)
			}
		}
		logf, err := os.Create(filepath.Join(in.dir, "alertmanager.log"))
		must(t, err)
		in.cmd = exec.Command(bin, args...)
		in.cmd.Stdout, in.cmd.Stderr = logf, logf
		must(t, in.cmd.Start())
		go func() {
			_ = in.cmd.Wait()
			logf.Close()
			close(in.done)
		}()
		t.Cleanup(func() {
			in.kill()
			if t.Failed() {
				b, _ := os.ReadFile(filepath.Join(in.dir, "alertmanager.log"))
				t.Logf("alertmanager %d (%s) log:\n%s", i, in.web, tail(string(b), 3000))
			}
		})
	}
	for i, in := range ins {
		await(t, 30*time.Second, fmt.Sprintf("Alertmanager %d in a cluster of %d", i, n), func() bool {
			st, err := amStatus(in)
			return err == nil && st.Cluster.Status == "ready" && len(st.Cluster.Peers) == n
		})
	}
	return ins
}

// kill stops the instance at once, as a crash would, and waits for it.
func (in *amInstance) kill() {
	if in.cmd.Process != nil {
		_ = in.cmd.Process.Kill()
	}
	<-in.done
}

// amStatusReply is the part of GET /api/v2/status the tests read.
type amStatusReply struct {
	Cluster struct {
		Status string `json:"status"`
		Peers  []struct {
			Name    string `json:"name"`
			Address string `json:"address"`
		} `json:"peers"`
	} `json:"cluster"`
	VersionInfo struct {
		Version string `json:"version"`
	} `json:"versionInfo"`
}

func amStatus(in *amInstance) (*amStatusReply, error) {
	var st amStatusReply
	return &st, amGet(in, "/api/v2/status", &st)
}

// gettableAlert is the part of an alert from GET /api/v2/alerts the tests
// read.
type gettableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// amAlerts is what the instance's API lists as not resolved (active,
// suppressed or not yet processed) with label alertname = name.
func amAlerts(t *testing.T, in *amInstance, name string) []gettableAlert {
	t.Helper()
	var all []gettableAlert
	q := url.Values{"filter": {fmt.Sprintf("alertname=%q", name)}}
	must(t, amGet(in, "/api/v2/alerts?"+q.Encode(), &all))
	return all
}

func amGet(in *amInstance, path string, v any) error {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(in.url() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// amClient is a client for every instance of ins.
func amClient(ins []*amInstance) *amclient.Client {
	var urls []*url.URL
	for _, in := range ins {
		u, _ := url.Parse(in.url())
		urls = append(urls, u)
	}
	return amclient.New(amclient.Config{URLs: urls, HTTPClient: &http.Client{Timeout: 5 * time.Second}, UserAgent: "Tocsin e2e"})
}

// TestAlertmanager_cluster posts through the client to a real pair:
// the alert shows once on each instance, a re-post with a later endsAt
// keeps it active past the first endsAt (the first start kept) while an
// alert not posted again resolves at its endsAt, a post that ends it
// resolves it on both, and with one instance killed a post still
// succeeds and the alert is on the survivor.
func TestAlertmanager_cluster(t *testing.T) {
	ins := startAlertmanagers(t, 2, nullAlertmanagerConfig)
	st, err := amStatus(ins[0])
	must(t, err)
	t.Logf("Alertmanager %s, cluster %s with %d peers", st.VersionInfo.Version, st.Cluster.Status, len(st.Cluster.Peers))
	c := amClient(ins)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// Two alerts whose endsAt is 2s ahead: one refreshed, one left alone
	// as if its agent had died.
	start := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	soon := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
	labels := map[string]string{"alertname": "disk_full", "node": "db1", "severity": "critical"}
	fire := amclient.Alert{Labels: labels, Annotations: map[string]string{"summary": "disk full on db1"}, StartsAt: start, EndsAt: soon}
	orphan := amclient.Alert{Labels: map[string]string{"alertname": "orphan", "node": "dead"}, StartsAt: start, EndsAt: soon}
	o, err := c.Post(ctx, []amclient.Alert{fire, orphan})
	if err != nil || len(o.Accepted) != 2 {
		t.Fatalf("Post = %v, %v; want both to accept", o, err)
	}
	for i, in := range ins {
		got := amAlerts(t, in, "disk_full")
		if len(got) != 1 || got[0].Labels["node"] != "db1" || !got[0].StartsAt.Equal(start) || !got[0].EndsAt.Equal(fire.EndsAt) {
			t.Fatalf("instance %d lists %+v, want the one alert as posted", i, got)
		}
	}

	// The refresh: the same labels, a later start (what a repost may
	// carry) and a later end. Still one alert, its first start kept.
	refresh := fire
	refresh.StartsAt = time.Now().Truncate(time.Millisecond)
	refresh.EndsAt = time.Now().Add(3 * time.Minute).Truncate(time.Millisecond)
	refresh.Annotations = map[string]string{"summary": "disk still full on db1"}
	if _, err := c.Post(ctx, []amclient.Alert{refresh}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(soon.Add(500 * time.Millisecond)))
	for i, in := range ins {
		got := amAlerts(t, in, "disk_full")
		if len(got) != 1 || !got[0].StartsAt.Equal(start) || !got[0].EndsAt.Equal(refresh.EndsAt) || got[0].Annotations["summary"] != "disk still full on db1" || got[0].Status.State == "" {
			t.Fatalf("instance %d lists %+v after the refresh and the first endsAt, want one alert from %v to %v", i, got, start, refresh.EndsAt)
		}
		// The alert not refreshed resolved on its own at its endsAt.
		if got := amAlerts(t, in, "orphan"); len(got) != 0 {
			t.Errorf("instance %d still lists %+v past its endsAt", i, got)
		}
	}

	// The resolve: endsAt now, no start (Alertmanager keeps the one it
	// has). Neither instance lists it any more.
	resolve := amclient.Alert{Labels: labels, EndsAt: time.Now()}
	if _, err := c.Post(ctx, []amclient.Alert{resolve}); err != nil {
		t.Fatal(err)
	}
	for i, in := range ins {
		await(t, 5*time.Second, fmt.Sprintf("the alert resolved on instance %d", i), func() bool {
			return len(amAlerts(t, in, "disk_full")) == 0
		})
	}

	// What Alertmanager refuses is permanent, with its words: a label
	// name it does not take, and an end before the start.
	for _, bad := range []struct {
		alert amclient.Alert
		says  string
	}{
		{amclient.Alert{Labels: map[string]string{"alertname": "bad", "bad-name": "x"}}, "bad-name"},
		{amclient.Alert{Labels: map[string]string{"alertname": "bad"}, StartsAt: time.Now(), EndsAt: time.Now().Add(-time.Hour)}, "start time must be before end time"},
	} {
		_, err := c.Post(ctx, []amclient.Alert{bad.alert})
		var de *sdk.DeliveryError
		if !errors.As(err, &de) || de.Kind != sdk.Permanent || de.Code != "400" || !strings.Contains(de.Reply, bad.says) {
			t.Errorf("Post of an invalid alert = %v, want a permanent 400 saying %q", err, bad.says)
			continue
		}
		t.Logf("refused: %s", de.Reply)
	}

	// One instance down: the post succeeds, and the survivor has it.
	ins[0].kill()
	other := amclient.Alert{Labels: map[string]string{"alertname": "peer_down", "node": "db2"}, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Minute)}
	o, err = c.Post(ctx, []amclient.Alert{other})
	if err != nil || len(o.Accepted) != 1 || o.Accepted[0] != ins[1].url() || len(o.Failed) != 1 || !o.Failed[0].Err.Temporary() {
		t.Fatalf("Post with one instance down = %v, %v; want accepted by the survivor", o, err)
	}
	if got := amAlerts(t, ins[1], "peer_down"); len(got) != 1 {
		t.Errorf("the survivor lists %+v, want the alert", got)
	}

	// Both down: a temporary error naming both.
	ins[1].kill()
	_, err = c.Post(ctx, []amclient.Alert{other})
	if err == nil || !strings.Contains(err.Error(), ins[0].web) || !strings.Contains(err.Error(), ins[1].web) {
		t.Fatalf("Post with both down = %v, want an error naming both", err)
	}
	if de := err.(interface{ Temporary() bool }); !de.Temporary() {
		t.Errorf("Post with both down: %v is not temporary", err)
	}
}

// TestAlertmanager_transport drives the alertmanager plugin process (from
// $TOCSIN_BIN_DIR, or built) against a real pair with a rule's
// notifications as the agent hands them over: the fire shows once on each
// instance with the rule as alertname, a repeat keeps it (one alert, a
// later end), the resolve resolves it on both, and with one instance
// killed a fire is still delivered.
func TestAlertmanager_transport(t *testing.T) {
	ins := startAlertmanagers(t, 2, nullAlertmanagerConfig)
	tr, logs := sdktest.StartPlugin(t, "alertmanager", "github.com/tocsin-dev/tocsin/plugins/alertmanager")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	settings, err := sdk.SettingsFromMap(map[string]any{
		"urls":             []any{ins[0].url(), ins[1].url()},
		"refresh_interval": "10s",
		"timeout":          "5s",
	})
	must(t, err)
	diags, err := tr.Configure(ctx, sdk.Config{Transport: "fleet", From: "tocsin@node.e2e.test", Settings: settings})
	if err != nil || diags.HasErrors() {
		t.Fatalf("Configure = %+v, %v", diags, err)
	}
	if err := tr.Check(ctx); err != nil {
		t.Fatalf("Check = %v", err)
	}
	send := func(id, event string, date time.Time) sdk.Result {
		t.Helper()
		m := &sdk.Message{
			ID: id, Date: date,
			From:    sdk.Address{Address: "tocsin@node.e2e.test"},
			To:      []sdk.Address{{Address: "ops@e2e.test"}},
			Subject: "[" + strings.ToUpper(event) + "] sync stale on node-b",
			Text:    "The primary has not synced for 25h.\n",
			Headers: []sdk.Header{{Name: "X-Tocsin-Rule", Value: "sync_stale"}, {Name: "X-Tocsin-Event", Value: event}, {Name: "X-Tocsin-Severity", Value: "warning"}},
		}
		res, err := tr.Send(ctx, []*sdk.Message{m})
		if err != nil || len(res) != 1 {
			t.Fatalf("Send %s = %+v, %v", event, res, err)
		}
		return res[0]
	}

	fired := time.Now().Add(-time.Minute).Truncate(time.Second)
	if r := send("fire.1@node-b", "fire", fired); r.Err != nil || r.Receipt != "accepted by 2 of 2 Alertmanager instances" {
		t.Fatalf("fire: %+v", r)
	}
	var firstEnd time.Time
	for i, in := range ins {
		got := amAlerts(t, in, "sync_stale")
		if len(got) != 1 || got[0].Labels["severity"] != "warning" || !got[0].StartsAt.Equal(fired) || got[0].Annotations["summary"] != "[FIRE] sync stale on node-b" {
			t.Fatalf("instance %d lists %+v after the fire", i, got)
		}
		// ends_after is 3 × refresh_interval.
		if d := time.Until(got[0].EndsAt); d < 25*time.Second || d > 31*time.Second {
			t.Errorf("instance %d: endsAt in %v, want about 30s", i, d)
		}
		firstEnd = got[0].EndsAt
	}

	time.Sleep(50 * time.Millisecond)
	if r := send("repeat.1@node-b", "repeat", time.Now()); r.Err != nil {
		t.Fatalf("repeat: %v", r.Err)
	}
	for i, in := range ins {
		got := amAlerts(t, in, "sync_stale")
		if len(got) != 1 || !got[0].StartsAt.Equal(fired) || !got[0].EndsAt.After(firstEnd) {
			t.Fatalf("instance %d lists %+v after the repeat, want one alert from %v ending after %v", i, got, fired, firstEnd)
		}
	}

	if r := send("resolve.1@node-b", "resolve", time.Now()); r.Err != nil {
		t.Fatalf("resolve: %v", r.Err)
	}
	for i, in := range ins {
		await(t, 5*time.Second, fmt.Sprintf("the alert resolved on instance %d", i), func() bool {
			return len(amAlerts(t, in, "sync_stale")) == 0
		})
	}

	ins[1].kill()
	if r := send("fire.2@node-b", "fire", time.Now()); r.Err != nil || !strings.HasPrefix(r.Receipt, "accepted by 1 of 2") {
		t.Fatalf("fire with one instance down: %+v", r)
	}
	if got := amAlerts(t, ins[0], "sync_stale"); len(got) != 1 {
		t.Errorf("the survivor lists %+v, want the alert", got)
	}
	if err := tr.Check(ctx); err == nil || !strings.Contains(err.Error(), ins[1].web) {
		t.Errorf("Check with one instance down = %v, want an error naming it", err)
	}
	tr.Kill()
	if !strings.Contains(logs.String(), ins[1].url()) {
		t.Errorf("the plugin did not log the instance that was down:\n%s", logs)
	}
}

// TestAlertmanager_agent runs the tocsin agent with a rule that notifies
// a contact through the alertmanager transport, against a real pair
// (issue 20's acceptance):
//   - the rule fires: the alert shows once on each instance, with
//     alertname, node, severity and the rule's own labels;
//   - it stays active while the rule fires, before the rule's first
//     repeat is due: the agent refreshes it every refresh_interval, each
//     post ending ends_after ahead, past the first post's end;
//   - the rule repeats (a new notification, another message_id): still
//     one alert per instance, with the first start;
//   - it resolves on both when the rule resolves;
//   - with one instance killed it fires again on the survivor;
//   - with the agent killed (-9) it resolves on its own after ends_after.
func TestAlertmanager_agent(t *testing.T) {
	ins := startAlertmanagers(t, 2, nullAlertmanagerConfig)
	flag := filepath.Join(t.TempDir(), "flag")
	listen := freePort(t)
	body := fmt.Sprintf(`transport "fleet" {
  plugin = "alertmanager"
  from   = "tocsin@node.e2e.test"
  config {
    urls             = [%q, %q]
    timeout          = "5s"
    refresh_interval = "1s"
    ends_after       = "4s"
  }
}
contact "fleet" {
  email = ["alertmanager@e2e.test"]
  via   = [transport.fleet]
}
check "flag" {
  file  = %q
  every = "1s"
}
rule "flag_set" {
  schedule = "@every 1s"
  when     = check.flag.exists
  severity = "critical"
  labels   = { team = "storage" }
  repeat   = "7s"
  notify   = [contact.fleet]
  subject  = "the flag is set"
  text     = "The flag file exists."
}
`, ins[0].url(), ins[1].url(), flag)
	config := filepath.Join(t.TempDir(), "agent.hcl")
	write(t, config, 0o600, fmt.Sprintf("agent {\n  node = \"e2e\"\n  plugin_dir = %q\n  data_dir = \"data\"\n  listen = %q\n  log_level = \"debug\"\n}\n", pluginDir(t), listen)+body)
	agent := startAgent(t, config, listen)

	write(t, flag, 0o600, "set\n")
	var first gettableAlert
	for i, in := range ins {
		await(t, 20*time.Second, fmt.Sprintf("the alert on instance %d", i), func() bool {
			got := amAlerts(t, in, "flag_set")
			if len(got) == 1 {
				first = got[0]
			}
			return len(got) == 1
		})
	}
	wantLabels := map[string]string{"alertname": "flag_set", "node": "e2e", "severity": "critical", "team": "storage"}
	for k, v := range wantLabels {
		if first.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, first.Labels[k], v, first.Labels)
		}
	}
	if first.Annotations["summary"] != "the flag is set" || !strings.Contains(first.Annotations["description"], "The flag file exists.") || first.Annotations["state"] != "firing" {
		t.Errorf("alert = %+v", first)
	}
	// After the first post's endsAt, before the rule's repeat is due, the
	// alert is still active, once per instance, with the first start and
	// the first notification's message_id: refreshed, not re-notified.
	time.Sleep(time.Until(first.EndsAt) + time.Second)
	for i, in := range ins {
		got := amAlerts(t, in, "flag_set")
		if len(got) != 1 || !got[0].EndsAt.After(first.EndsAt) || !got[0].StartsAt.Equal(first.StartsAt) || got[0].Status.State != "active" ||
			got[0].Annotations["message_id"] != first.Annotations["message_id"] {
			t.Fatalf("instance %d lists %+v after the first endsAt; want the alert still active, refreshed past %v", i, got, first.EndsAt)
		}
	}
	// The repeat: a notification of its own, the same alert.
	for i, in := range ins {
		await(t, 20*time.Second, fmt.Sprintf("the repeat on instance %d", i), func() bool {
			got := amAlerts(t, in, "flag_set")
			if len(got) != 1 || !got[0].StartsAt.Equal(first.StartsAt) {
				t.Fatalf("instance %d lists %+v after the repeat; want the one alert from %v", i, got, first.StartsAt)
			}
			return got[0].Annotations["message_id"] != first.Annotations["message_id"]
		})
	}

	must(t, os.Remove(flag))
	for i, in := range ins {
		await(t, 20*time.Second, fmt.Sprintf("the alert resolved on instance %d", i), func() bool {
			return len(amAlerts(t, in, "flag_set")) == 0
		})
	}

	ins[0].kill()
	write(t, flag, 0o600, "set again\n")
	await(t, 20*time.Second, "the alert on the survivor", func() bool {
		return len(amAlerts(t, ins[1], "flag_set")) == 1
	})

	// The agent dies with the rule firing: nobody refreshes the alert,
	// and it resolves on its own once its last endsAt passed.
	must(t, agent.cmd.Process.Kill())
	_ = agent.cmd.Wait()
	killed := time.Now()
	await(t, 20*time.Second, "the dead agent's alert resolved on its own", func() bool {
		return len(amAlerts(t, ins[1], "flag_set")) == 0
	})
	if took := time.Since(killed); took > 10*time.Second {
		t.Errorf("the alert resolved %v after the agent died; want about ends_after (4s)", took)
	}
}

// TestAlertmanager_fleetInhibition loads examples/fleet/alertmanager.yml
// into a real Alertmanager: while a backup reports that it cannot check
// its primary (primary_unchecked_auto, with the labels Tocsin sets), that
// backup's version_mismatch is inhibited (suppressed), the other backup's
// is not, and once the source resolves the target is active again.
func TestAlertmanager_fleetInhibition(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "examples", "fleet", "alertmanager.yml"))
	must(t, err)
	pw := filepath.Join(t.TempDir(), "smtp.password")
	write(t, pw, 0o600, "x\n")
	ins := startAlertmanagers(t, 1, strings.ReplaceAll(string(b), "/etc/alertmanager/smtp.password", pw))
	c := amClient(ins)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	now := time.Now()
	alert := func(name, node string, ends time.Time) amclient.Alert {
		return amclient.Alert{
			Labels:   map[string]string{"alertname": name, "node": node, "role": "backup", "severity": "warning"},
			StartsAt: now, EndsAt: ends,
		}
	}
	_, err = c.Post(ctx, []amclient.Alert{
		alert("primary_unchecked_auto", "fw-b", now.Add(time.Hour)),
		alert("version_mismatch", "fw-b", now.Add(time.Hour)),
		alert("version_mismatch", "fw-d", now.Add(time.Hour)),
	})
	must(t, err)
	state := func(node string) string {
		for _, a := range amAlerts(t, ins[0], "version_mismatch") {
			if a.Labels["node"] == node {
				return a.Status.State
			}
		}
		return "missing"
	}
	await(t, 20*time.Second, "fw-b's version_mismatch suppressed", func() bool { return state("fw-b") == "suppressed" })
	if s := state("fw-d"); s != "active" {
		t.Errorf("fw-d's version_mismatch is %s; want active (another backup)", s)
	}
	_, err = c.Post(ctx, []amclient.Alert{alert("primary_unchecked_auto", "fw-b", time.Now())})
	must(t, err)
	await(t, 20*time.Second, "fw-b's version_mismatch active again", func() bool { return state("fw-b") == "active" })
}
