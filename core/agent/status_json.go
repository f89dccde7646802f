package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"time"

	"github.com/tocsin-dev/tocsin/core/engine"
)

// WriteJSON writes s as json.Encoder with an indent of two spaces would
// (server.JSONWriter), one rule at a time: with 10,000 rules the status
// is a few MB of JSON, and encoding it whole costs several times that in
// buffers at every request.
func (s Status) WriteJSON(w io.Writer) error {
	sw := statusWriter{w: w}
	sw.enc = json.NewEncoder(&sw.buf)
	sw.raw("{\n")
	sw.field("stopping", s.Stopping, false)
	if s.StoppedAt != nil {
		sw.field("stopped_at", s.StoppedAt, false)
	}
	if s.StopReason != "" {
		sw.field("stop_reason", s.StopReason, false)
	}
	sw.field("node", s.Node, false)
	sw.field("agent_version", s.AgentVersion, false)
	sw.field("time", s.Time, false)
	sw.raw(`  "rules": `)
	if s.rulesJSON != nil {
		if sw.err == nil {
			_, sw.err = sw.w.Write(s.rulesJSON)
		}
	} else {
		sw.rules(s.Rules)
	}
	sw.raw(",\n")
	sw.field("checks", s.Checks, false)
	sw.field("delivery_failures", s.DeliveryFailures, false)
	if s.Settings != nil {
		sw.field("settings", s.Settings, false)
	}
	sw.field("delivery", s.Delivery, false)
	sw.field("silences", s.Silences, false)
	sw.field("credentials", s.Credentials, true)
	sw.raw("}\n")
	return sw.err
}

// encodeRules encodes rs as WriteJSON writes them: the value of the
// status's member "rules", without the comma and newline after it.
func encodeRules(rs []engine.RuleStatus) []byte {
	var b bytes.Buffer
	sw := statusWriter{w: &b}
	sw.enc = json.NewEncoder(&sw.buf)
	sw.rules(rs)
	return b.Bytes()
}

// rules writes rs, one rule at a time, indented for the member "rules".
func (sw *statusWriter) rules(rs []engine.RuleStatus) {
	if len(rs) == 0 {
		sw.enc.SetIndent("  ", "  ")
		sw.value(rs) // null or []
		return
	}
	sw.raw("[\n")
	var b []byte
	for i, r := range rs {
		b = appendRuleStatus(append(b[:0], "    "...), r)
		if i < len(rs)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		if sw.err == nil {
			_, sw.err = sw.w.Write(b)
		}
	}
	sw.raw("  ]")
}

// appendRuleStatus appends r as json.Encoder with the prefix "    " and
// an indent of two spaces encodes it (without the final newline). The
// rules' lines are 2 MB of JSON with 10,000 rules, encoded again after
// each tick; by reflection that took long enough to show in the
// latency of the status request that came first after a tick.
func appendRuleStatus(b []byte, r engine.RuleStatus) []byte {
	const in = "\n      " // prefix and one level of indent
	b = append(b, '{')
	b = appendMember(b, in, "name", r.Name, false)
	b = appendMember(b, in, "severity", r.Severity, true)
	b = appendMember(b, in, "schedule", r.Schedule, true)
	b = appendMember(b, in, "phase", r.Phase, true)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"since", r.Since}, {"fired_at", r.FiredAt}, {"last_notified", r.LastNotified}, {"flapping_since", r.FlappingSince}} {
		if !t.at.IsZero() {
			b = appendTime(append(b, ","+in+`"`+t.name+`": `...), t.at)
		}
	}
	if r.Error != "" {
		b = appendMember(b, in, "error", r.Error, true)
	}
	if !r.LastEval.IsZero() {
		b = appendTime(append(b, ","+in+`"last_eval": `...), r.LastEval)
	}
	if len(r.LastEvents) > 0 {
		b = append(b, ","+in+`"last_events": [`...)
		for i, ev := range r.LastEvents {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(append(b, in+"  "...), ev)
		}
		b = append(b, in+"]"...)
	}
	return append(b, "\n    }"...)
}

// appendMember appends the member name: s, after a comma unless first.
func appendMember(b []byte, in, name, s string, comma bool) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, in+`"`...)
	b = append(b, name...)
	b = append(b, `": `...)
	return appendString(b, s)
}

// appendString appends s as encoding/json quotes it: as it is when every
// byte is printable ASCII that needs no escape (names, phases, most
// errors), else by encoding/json itself.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime appends t as encoding/json does (time.Time's MarshalJSON).
func appendTime(b []byte, t time.Time) []byte {
	if y := t.Year(); y < 0 || y > 9999 {
		// MarshalJSON refuses such a year, and encoding/json would fail
		// the whole answer; no clock of the agent gives one.
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// statusWriter writes JSON pieces to w, keeping the first error.
type statusWriter struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
	err error
}

func (sw *statusWriter) raw(s string) {
	if sw.err == nil {
		_, sw.err = io.WriteString(sw.w, s)
	}
}

// value writes v indented for its place, without a newline after it.
func (sw *statusWriter) value(v any) {
	if sw.err != nil {
		return
	}
	sw.buf.Reset()
	if sw.err = sw.enc.Encode(v); sw.err != nil {
		return
	}
	_, sw.err = sw.w.Write(bytes.TrimSuffix(sw.buf.Bytes(), []byte("\n")))
}

// field writes a member of the top-level object.
func (sw *statusWriter) field(name string, v any, last bool) {
	sw.raw(`  "` + name + `": `)
	sw.enc.SetIndent("  ", "  ")
	sw.value(v)
	if !last {
		sw.raw(",")
	}
	sw.raw("\n")
}
