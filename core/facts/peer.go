package facts

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/identity"
)

// KindPeer is the kind that reads another Tocsin agent's status.
const KindPeer Kind = "peer"

// PeerSpec is a check of another Tocsin agent through its /v1/status.
type PeerSpec struct {
	// URL is the base URL of the other agent, e.g. "http://10.0.0.2:9870".
	URL string
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's.
	CAFile string
	// TLSSkipVerify switches certificate verification off.
	TLSSkipVerify bool
	// Fingerprint pins the peer's certificate ("sha256:" and 64 hex
	// digits, see core/identity): only a peer presenting exactly that
	// certificate is read. It needs an https URL.
	Fingerprint string
	// TokenFile holds the token this agent presents to the peer, 0600;
	// empty presents none (a client certificate may do instead).
	TokenFile string
	// Insecure reads the peer over plain HTTP, or without verifying its
	// certificate, where it is not on this host. Without it such a peer
	// is not read: its fact fails with an error that says how to secure
	// the link.
	Insecure bool
	// ClientCertFile and ClientKeyFile are this agent's own certificate
	// and key, presented to the peer so that it can pin this agent; when
	// empty, the identity the agent generated under IdentityDir (its
	// data_dir) is presented, once it exists.
	ClientCertFile, ClientKeyFile, IdentityDir string
	// SettingsFrom makes this agent take its transports and contacts from
	// the peer (the peer's settings_from, the failover library's
	// take_settings_from_primary): see the agent's settings sync.
	SettingsFrom bool
	// SettingsSync, set by the agent for a peer with SettingsFrom,
	// reports its last sync for the values settings_synced_at and
	// settings_error; nil reports none.
	SettingsSync func() SettingsSync
}

// SettingsSync is the state of the settings sync from a peer.
type SettingsSync struct {
	// SyncedAt is when the settings in use were last fetched from the
	// peer; zero when never.
	SyncedAt time.Time
	// Error is why the last attempt failed; "" when it succeeded.
	Error string
}

func init() {
	// A peer is a block of its own in the configuration, not an
	// argument of a check block: it has no Args.
	register(1000, &kindDef{
		name: KindPeer,
		values: map[string]cty.Type{
			"url":           cty.String,
			"reachable":     cty.Bool,
			"name":          cty.String,
			"role":          cty.String,
			"version":       cty.String,
			"shared_ips":    cty.List(cty.String),
			"test_ips":      cty.List(cty.String),
			"auto_failover": cty.Bool,
			"last_sync":     cty.String,
			"agent_version": cty.String,
			valStopping:     cty.Bool,
			valStoppedAt:    cty.String,
			valStopReason:   cty.String,
			// The settings sync (SettingsFrom): whether this agent takes
			// its settings from the peer, when it last did, and why the
			// last attempt failed.
			"settings_from":      cty.Bool,
			"settings_synced_at": cty.String,
			"settings_error":     cty.String,
		},
		has:      func(s Spec) bool { return s.Peer != nil },
		defaults: func(s Spec) Spec { c := *s.Peer; s.Peer = &c; return s },
		valid: func(s Spec, add addFunc) {
			if err := checkURL(s.Peer.URL); err != nil {
				add("peer.url", "%v", err)
			} else if u, _ := url.Parse(s.Peer.URL); s.Peer.Fingerprint != "" && u.Scheme != "https" {
				add("peer.fingerprint", "a pinned fingerprint needs an https:// URL, not %s", s.Peer.URL)
			}
			if s.Peer.Fingerprint != "" && s.Peer.CAFile != "" {
				add("peer.fingerprint", "set fingerprint or ca_file, not both: the fingerprint pins one certificate, the CA file trusts an authority")
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if s.Peer != nil {
				v["url"] = stringVal(redactURL(s.Peer.URL))
			}
			v["reachable"] = cty.False
			v[valStopping] = cty.False
			v["settings_from"] = cty.BoolVal(s.Peer != nil && s.Peer.SettingsFrom)
			if s.Peer != nil && s.Peer.SettingsSync != nil {
				st := s.Peer.SettingsSync()
				if !st.SyncedAt.IsZero() {
					v["settings_synced_at"] = timeVal(st.SyncedAt)
				}
				if st.Error != "" {
					v["settings_error"] = stringVal(st.Error)
				}
			}
		},
		run: checkPeer,
	})
}

// StatusPath is where an agent serves its Status, below its base URL.
const StatusPath = "/v1/status"

// maxStatusSize caps how much of a peer's status is read. An agent
// writes the node first, so the cap holds whatever else its status
// carries (an agent with 10,000 rules serves a few MB).
const maxStatusSize = 1 << 20

// Status is what an agent serves at StatusPath, as JSON, for operators and
// for its peer's peer check.
type Status struct {
	// Stopping is set while the agent stops cleanly, until it exits,
	// with StoppedAt and StopReason: what it told its peers (see
	// StopNotice). They come first in the JSON, so that a peer reads
	// them before the node.
	Stopping   bool       `json:"stopping"`
	StoppedAt  *time.Time `json:"stopped_at,omitempty"`
	StopReason string     `json:"stop_reason,omitempty"`
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
// auto_failover, last_sync (RFC 3339 or null), agent_version; stopping,
// stopped_at, stop_reason: the peer is stopping (its status says so) or
// announced its stop and has not answered as running since (e's notices;
// the runner sets those from the notices when it records the fact); and
// the settings sync's settings_from, settings_synced_at and
// settings_error (set before the run, from SettingsSync). It succeeds on
// status 200 with a body that decodes as a Status.
func checkPeer(ctx context.Context, s Spec, e *env, v map[string]cty.Value) error {
	resp, target, err := PeerGet(ctx, s.Peer, StatusPath)
	if resp == nil {
		return err
	}
	defer resp.Body.Close()
	v["reachable"] = cty.True
	if err != nil {
		return err
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
	return peerStopping(s.Name, st, e.notices, v)
}

// peerStopping keeps what st says of the peer name's stop: a peer that
// says it is stopping has its notice kept (in case its push did not
// come), one that answers as running has its notice forgotten. A notice
// that cannot be saved is kept in memory; the error does not fail the
// fact.
func peerStopping(name string, st Status, notices *PeerNotices, v map[string]cty.Value) error {
	var err error
	if st.Stopping {
		n := StopNotice{Node: st.Node.Name, Reason: st.StopReason, StoppedAt: st.Time}
		if st.StoppedAt != nil {
			n.StoppedAt = *st.StoppedAt
		}
		setStopValues(v, n)
		err = notices.Set(name, n)
	} else {
		err = notices.running(name, st.Time)
	}
	if err != nil {
		notices.logger.Warn("the peer's stop notice is not kept across a restart", "peer", name, "error", err)
	}
	return nil
}

// PeerGet asks the peer p for path (below its URL) as the peer check
// does: only over a link LinkRisk accepts (or Insecure allows), verified
// by the pinned fingerprint or the CA, presenting this agent's identity
// and its token_file. It returns the response when the peer answered
// (the caller closes its body), the redacted URL asked, and an error
// that says what to do when the answer is not 200 OK, or there was none.
func PeerGet(ctx context.Context, p *PeerSpec, path string) (*http.Response, string, error) {
	base, err := url.Parse(p.URL)
	if err != nil {
		return nil, "", fmt.Errorf("peer.url: %w", err)
	}
	u := base.JoinPath(path)
	target := u.Redacted()
	if err := insecurePeer(p); err != nil {
		return nil, target, err
	}
	tr, err := peerTransport(p, base)
	if err != nil {
		return nil, target, err
	}
	req, err := newPeerRequest(ctx, p, http.MethodGet, u.String(), nil)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, target, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		tr.CloseIdleConnections()
		var pe *identity.PinError
		if errors.As(err, &pe) {
			// Not the partner: whatever answered is not believed.
			return nil, target, fmt.Errorf("GET %s: not the partner: %w", target, pe)
		}
		return nil, target, err
	}
	// The link is used once: closing the body closes it.
	resp.Body = closeWith{resp.Body, tr.CloseIdleConnections}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp, target, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return resp, target, fmt.Errorf("GET %s: the partner refuses this agent (%s: %s): pin this agent on the partner (its peer_fingerprint, or a peer block's fingerprint, set to what tocsin identity prints here), or give this peer a token_file the partner's credential block accepts",
			target, resp.Status, apiError(resp.Body))
	}
	return resp, target, fmt.Errorf("GET %s: status %s, want 200", target, resp.Status)
}

// closeWith is a response body that runs after once it is closed.
type closeWith struct {
	io.ReadCloser
	after func()
}

func (c closeWith) Close() error {
	err := c.ReadCloser.Close()
	c.after()
	return err
}

// insecurePeer refuses a link to a peer off this host that anyone on the
// network could answer in its place (LinkRisk), unless the peer's
// Insecure setting accepts it.
func insecurePeer(p *PeerSpec) error {
	if p.Insecure {
		return nil
	}
	if err := p.LinkRisk(); err != nil {
		return fmt.Errorf("not read: %w", err)
	}
	return nil
}

// LinkRisk says why anyone on the network could answer in the peer's
// place: its URL is plain HTTP, or certificate verification is off, and
// it is not on this host. Nil when neither (or the URL does not parse:
// Validate reports that). It ignores Insecure, which accepts the risk;
// the peer check refuses such a link without it, and the config reports
// it.
func (p *PeerSpec) LinkRisk() error {
	u, err := url.Parse(p.URL)
	if err != nil || LoopbackHost(u.Hostname()) {
		return nil
	}
	switch {
	case u.Scheme == "http":
		return fmt.Errorf("%s is plain HTTP, which anyone on the network can answer in the partner's place; use https:// with the partner's fingerprint (tocsin identity on the partner prints it), or set the peer's insecure = true to accept the risk", u.Redacted())
	case p.TLSSkipVerify:
		return errors.New("certificate verification is off (tls_skip_verify), so anyone on the network can answer in the partner's place; pin the partner's fingerprint instead (tocsin identity on the partner prints it), or set the peer's insecure = true to accept the risk")
	}
	return nil
}

// LoopbackHost reports whether host (without a port) is localhost or a
// loopback address: a link to it never leaves this host.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// peerTransport is the transport to the peer: over https, verified by the
// pinned fingerprint, else the CA file, else the system's authorities,
// presenting this agent's identity so that the partner can pin it.
func peerTransport(p *PeerSpec, u *url.URL) (*http.Transport, error) {
	if u.Scheme != "https" || p.Fingerprint == "" {
		tr, err := newTransport("peer.ca_file", p.CAFile, p.TLSSkipVerify)
		if err != nil {
			return nil, err
		}
		if u.Scheme == "https" {
			if own, err := ownIdentity(p); err == nil && own != nil {
				c := own.Certificate()
				tr.TLSClientConfig.Certificates = []tls.Certificate{c}
			}
		}
		return tr, nil
	}
	own, err := ownIdentity(p)
	if err != nil {
		return nil, fmt.Errorf("this agent's identity, presented to the peer: %w", err)
	}
	tc, err := identity.ClientConfig(p.Fingerprint, "", own)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	return transportWith(tc), nil
}

// ownIdentity loads the identity this agent presents to the peer: the
// configured files, or the one generated in IdentityDir (generating it
// when missing, as the agent's listener would); nil when neither is set.
func ownIdentity(p *PeerSpec) (*identity.Identity, error) {
	if p.ClientCertFile == "" && p.IdentityDir == "" {
		return nil, nil
	}
	return identity.Load(p.IdentityDir, p.ClientCertFile, p.ClientKeyFile)
}

// apiError returns the error message of an agent's JSON error answer, or
// its first line.
func apiError(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4<<10))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
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
	// The stop fields come before the node when the agent sends them.
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
		case "stopping":
			err = dec.Decode(&st.Stopping)
		case "stopped_at":
			err = dec.Decode(&st.StoppedAt)
		case "stop_reason":
			err = dec.Decode(&st.StopReason)
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
