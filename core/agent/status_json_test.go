package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/engine"
	"github.com/tocsin-dev/tocsin/core/facts"
)

// TestStatus_WriteJSON: the status written rule by rule is, byte for
// byte, what encoding it whole gives.
func TestStatus_WriteJSON(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)
	full := Status{
		Status: facts.Status{Node: facts.NodeStatus{Name: "n1", Role: "backup", SharedIPs: []string{"10.0.0.1"}, TestIPs: []string{}}, AgentVersion: "1.2.3", Time: t0},
		Rules: []engine.RuleStatus{
			{Name: "a", Severity: "warning", Schedule: "@every 10s", Phase: "firing", Since: t0, LastEvents: []string{"fire"}},
			{Name: "b<&>", Phase: "inactive", Error: "rule \"b\": when: x.hcl:1:2: \u2028 <script>"},
			{Name: "c"},
		},
		Checks:           map[string]engine.CheckStatus{"z": {Kind: "file", OK: true}, "a": {Kind: "ping", Error: "lost", Observed: t0}},
		DeliveryFailures: 2,
		Delivery:         DeliveryStatus{Pending: 1, Transports: map[string]TransportDelivery{"relay": {}}},
	}
	oneRule, noRules, nilRules, stopping := full, full, full, full
	stopping.Stopping, stopping.StoppedAt, stopping.StopReason = true, &t0, "signal SIGTERM"
	oneRule.Rules = full.Rules[:1]
	noRules.Rules = []engine.RuleStatus{}
	nilRules.Rules, nilRules.Checks = nil, nil
	for name, s := range map[string]Status{"full": full, "one rule": oneRule, "no rules": noRules, "nil rules and checks": nilRules, "stopping": stopping, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			want, err := json.MarshalIndent(s, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			var got bytes.Buffer
			if err := s.WriteJSON(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("WriteJSON:\n%s\nwant:\n%s", got.Bytes(), want)
			}
			// The rules encoded ahead, as the engine keeps them.
			pre := s
			pre.Rules, pre.rulesJSON = nil, encodeRules(s.Rules)
			got.Reset()
			if err := pre.WriteJSON(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("WriteJSON with the rules encoded ahead:\n%s\nwant:\n%s", got.Bytes(), want)
			}
		})
	}
}

// failingWriter fails after n bytes.
type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("connection reset")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestStatus_WriteJSONReportsTheWriter(t *testing.T) {
	s := Status{Rules: []engine.RuleStatus{{Name: "a"}, {Name: "b"}}}
	if err := s.WriteJSON(&failingWriter{n: 40}); err == nil || err.Error() != "connection reset" {
		t.Fatalf("WriteJSON = %v, want the writer's error", err)
	}
}

// FuzzStatusRules: the rules' lines written by hand are, byte for byte,
// what encoding/json gives, whatever their strings and times.
func FuzzStatusRules(f *testing.F) {
	f.Add("r00001", "warning", "@every 3s", "rule \"x\": a.hcl:1:2: <b>&</b>\u2028\xff\n\t", "fire", int64(1796500000), int64(123456789), 3600)
	f.Add("", "", "", "", "", int64(0), int64(0), 0)
	f.Fuzz(func(t *testing.T, name, severity, schedule, errText, event string, sec, nsec int64, offset int) {
		at := time.Unix(sec, nsec).In(time.FixedZone("z", offset%(24*3600)))
		if y := at.Year(); y < 0 || y > 9999 {
			t.Skip("a year encoding/json refuses")
		}
		rs := []engine.RuleStatus{
			{Name: name, Severity: severity, Schedule: schedule, Phase: "firing", Since: at, FiredAt: at, LastNotified: at, FlappingSince: at, Error: errText, LastEval: at, LastEvents: []string{event, "resolve"}},
			{Name: name + "2", Phase: "inactive"},
		}
		s := Status{Rules: rs}
		want, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Skip(err)
		}
		var got bytes.Buffer
		if err := s.WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), append(want, '\n')) {
			t.Fatalf("WriteJSON:\n%s\nwant:\n%s", got.Bytes(), want)
		}
	})
}
