package facts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// StatusPath is where an agent serves its Status, below its base URL.
const StatusPath = "/v1/status"

// maxStatusSize caps how much of a peer's status is read. An agent
// writes the node first, so the cap holds whatever else its status
// carries (an agent with 10,000 rules serves a few MB).
const maxStatusSize = 1 << 20

// Status is what an agent serves at StatusPath, as JSON, for operators and
// for its peer's peer check.
type Status struct {
	// Node describes the node the agent runs on.
	Node NodeStatus `json:"node"`
	// AgentVersion is the agent's own version.
	AgentVersion string `json:"agent_version"`
	// Time is the agent's clock when it answered.
	Time time.Time `json:"time"`
}

// NodeStatus describes a node of an HA pair as its agent sees it.
type NodeStatus struct {
	// Name is the node's name (the agent block's node).
	Name string `json:"name"`
	// Role is the node's role in the pair, such as "primary" or "backup".
	Role string `json:"role"`
	// Version is the version of the product the node runs.
	Version string `json:"version"`
	// SharedIPs are the addresses that move with the primary role.
	SharedIPs []string `json:"shared_ips"`
	// TestIPs are the addresses the node probes to tell its own
	// isolation from its partner's failure.
	TestIPs []string `json:"test_ips"`
	// AutoFailover reports whether the backup takes over by itself.
	AutoFailover bool `json:"auto_failover"`
	// LastSync is when the pair last synchronised; nil when never or
	// unknown.
	LastSync *time.Time `json:"last_sync"`
}

// checkPeer asks another agent for its Status. Values: url, reachable (an
// HTTP answer came), name, role, version, shared_ips, test_ips,
// auto_failover, last_sync (RFC 3339 or null), agent_version. It succeeds
// on status 200 with a body that decodes as a Status.
func checkPeer(ctx context.Context, s Spec, _ *env, v map[string]cty.Value) error {
	p := s.Peer
	base, err := url.Parse(p.URL)
	if err != nil {
		return fmt.Errorf("peer.url: %w", err)
	}
	statusURL := base.JoinPath(StatusPath)
	target := statusURL.Redacted()
	tr, err := newTransport("peer.ca_file", p.CAFile, p.TLSSkipVerify)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL.String(), nil)
	if err != nil {
		return fmt.Errorf("peer.url: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent())
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	v["reachable"] = cty.True
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %s, want 200", target, resp.Status)
	}
	st, err := decodeStatus(resp.Body, maxStatusSize)
	switch {
	case errors.Is(err, errTruncated):
		return fmt.Errorf("read status from %s: %w", target, err)
	case err != nil:
		return fmt.Errorf("decode status from %s: %w", target, err)
	}
	n := st.Node
	v["name"] = stringVal(n.Name)
	v["role"] = stringVal(n.Role)
	v["version"] = stringVal(n.Version)
	v["shared_ips"] = stringList(n.SharedIPs)
	v["test_ips"] = stringList(n.TestIPs)
	v["auto_failover"] = cty.BoolVal(n.AutoFailover)
	if n.LastSync != nil && !n.LastSync.IsZero() {
		v["last_sync"] = timeVal(*n.LastSync)
	}
	v["agent_version"] = stringVal(st.AgentVersion)
	return nil
}

// decodeStatus reads the members node, agent_version and time of the
// status object in r, reading no more than limit bytes, and stops once it
// has them: what follows (rules, checks) is not read. A status cut short,
// or not valid JSON, after its node still gives the node; one whose node
// does not come within limit bytes is an error.
func decodeStatus(r io.Reader, limit int64) (Status, error) {
	var st Status
	cr := &countingReader{r: io.LimitReader(r, limit+1)}
	dec := json.NewDecoder(cr)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return st, errors.New("not a JSON object")
	}
	var node, version, clock bool
	for !(node && version && clock) && dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return st, statusEnd(node, cr.n > limit, limit, err)
		}
		key, _ := tok.(string)
		switch key {
		case "node":
			err = dec.Decode(&st.Node)
			node = err == nil
		case "agent_version":
			err = dec.Decode(&st.AgentVersion)
			version = err == nil
		case "time":
			err = dec.Decode(&st.Time)
			clock = err == nil
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return st, statusEnd(node, cr.n > limit, limit, err)
		}
	}
	if !node {
		return st, errors.New("no node in it")
	}
	return st, nil
}

// statusEnd is what decodeStatus returns when the status ends early or
// stops being JSON: nothing once the node was read, else the error.
func statusEnd(node, capped bool, limit int64, err error) error {
	switch {
	case node:
		return nil
	case capped:
		return fmt.Errorf("%w (%d bytes) before the node", errTruncated, limit)
	}
	return err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
