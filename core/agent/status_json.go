package agent

import (
	"bytes"
	"encoding/json"
	"io"
)

// WriteJSON writes s as json.Encoder with an indent of two spaces would
// (server.JSONWriter), one rule at a time: with 10,000 rules the status
// is a few MB of JSON, and encoding it whole costs several times that in
// buffers at every request.
func (s Status) WriteJSON(w io.Writer) error {
	sw := statusWriter{w: w}
	sw.enc = json.NewEncoder(&sw.buf)
	sw.raw("{\n")
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
	sw.field("delivery", s.Delivery, true)
	sw.raw("}\n")
	return sw.err
}

// encodeRules encodes rs as WriteJSON writes them: the value of the
// status's member "rules", without the comma and newline after it.
func encodeRules(rs []RuleStatus) []byte {
	var b bytes.Buffer
	sw := statusWriter{w: &b}
	sw.enc = json.NewEncoder(&sw.buf)
	sw.rules(rs)
	return b.Bytes()
}

// rules writes rs, one rule at a time, indented for the member "rules".
func (sw *statusWriter) rules(rs []RuleStatus) {
	if len(rs) == 0 {
		sw.enc.SetIndent("  ", "  ")
		sw.value(rs) // null or []
		return
	}
	sw.raw("[\n")
	sw.enc.SetIndent("    ", "  ")
	for i, r := range rs {
		sw.raw("    ")
		sw.value(r)
		if i < len(rs)-1 {
			sw.raw(",")
		}
		sw.raw("\n")
	}
	sw.raw("  ]")
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
