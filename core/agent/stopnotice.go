package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// PeerNoticesFile is where, under data_dir, the agent keeps the stop
// notices its peers sent until they answer again as running.
const PeerNoticesFile = "peer_notices.json"

// MaxAnnounceWait bounds how long AnnounceStop waits for the peers to take
// the notice, and so how much it delays a stop (never beyond the delivery
// block's drain_timeout either).
const MaxAnnounceWait = 5 * time.Second

// openPeerNotices opens the peers' stop notices kept in data_dir; one that
// cannot be read is logged and the agent starts without them.
func (a *Agent) openPeerNotices(cfg *config.Config) {
	n, err := facts.OpenPeerNotices(filepath.Join(cfg.Agent.DataDir, PeerNoticesFile), a.logger.Named("peer"))
	if err != nil {
		a.logger.Warn("the peers' stop notices kept before the start are lost", "error", err)
	}
	a.notices = n
}

// AnnounceStop tells every peer that this agent stops, for reason (such
// as "signal SIGTERM"): from now on /v1/status says stopping, with the
// time and reason, until the agent exits, and each peer is sent the
// notice (facts.AnnounceStop) at once, all together, bounded by ctx, by
// MaxAnnounceWait and by the delivery block's drain_timeout. A peer that
// does not take it is logged, with the reason; it then learns of the stop
// only if it reads the status while the agent drains, and otherwise
// reports the silence as a failure. Call it before Stop.
func (a *Agent) AnnounceStop(ctx context.Context, reason string) {
	cur := a.current()
	n := facts.StopNotice{Node: cur.cfg.Agent.Node, Reason: reason, StoppedAt: a.now().UTC().Truncate(time.Second)}
	a.stopNotice.Store(&n)
	if len(cur.cfg.Peers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, min(MaxAnnounceWait, a.drainTimeout()))
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range cur.cfg.Peers {
		if p.Spec.Peer == nil {
			continue
		}
		wg.Go(func() {
			if err := facts.AnnounceStop(ctx, p.Spec.Peer, n); err != nil {
				a.logger.Warn("the peer was not told of this stop; it will report the silence as a failure unless it reads the status while this agent drains",
					"peer", p.Name, "error", err)
				return
			}
			a.logger.Info("the peer was told of this stop", "peer", p.Name, "reason", reason)
		})
	}
	wg.Wait()
}

// stopStatus sets the stop fields of st while the agent stops.
func (a *Agent) stopStatus(st *facts.Status) {
	if n := a.stopNotice.Load(); n != nil {
		at := n.StoppedAt
		st.Stopping, st.StoppedAt, st.StopReason = true, &at, n.Reason
	}
}

// serveStopNotice takes a peer's stop notice (POST facts.StopNoticePath):
// only from a caller with the peer role, for the peer whose pinned
// fingerprint its client certificate has, or, when none is pinned by it,
// the only peer. The peer's fact carries it from now on (stopping,
// stopped_at, stop_reason) until the peer answers as running again.
func (a *Agent) serveStopNotice(w http.ResponseWriter, r *http.Request) {
	p, ok := apiauth.PrincipalFrom(r.Context())
	if !ok || p.Role != apiauth.RolePeer {
		writeJSONError(w, http.StatusForbidden, fmt.Sprintf("only the partner may announce its stop: this needs a credential with the peer role, and %q has the %v role (see README, Security)", p.Name, p.Role))
		return
	}
	cur := a.current()
	name, err := noticePeer(cur.cfg, r)
	if err != nil {
		writeJSONError(w, http.StatusConflict, err.Error())
		return
	}
	n, err := facts.DecodeStopNotice(r.Body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if n.StoppedAt.IsZero() {
		n.StoppedAt = a.now().UTC().Truncate(time.Second)
	}
	if n.Reason == "" {
		n.Reason = "no reason given"
	}
	if err := a.notices.Set(name, n); err != nil {
		a.logger.Warn("the peer's stop notice is not kept across a restart", "peer", name, "error", err)
	}
	a.logger.Info("the peer announced its stop", "peer", name, "node", n.Node, "reason", n.Reason, "stopped_at", n.StoppedAt.Format(time.RFC3339), "credential", p.Name)
	cur.engine.Renotice(name)
	w.WriteHeader(http.StatusNoContent)
}

// noticePeer returns the name of the peer a stop notice in r comes from:
// the one whose fingerprint the caller's certificate has, else the only
// peer of cfg.
func noticePeer(cfg *config.Config, r *http.Request) (string, error) {
	var peers []string
	if fp, ok := identity.PeerFingerprint(r.TLS); ok {
		for _, p := range cfg.Peers {
			if p.Spec.Peer == nil || p.Spec.Peer.Fingerprint == "" {
				continue
			}
			if want, err := identity.ParseFingerprint(p.Spec.Peer.Fingerprint); err == nil && identity.FormatFingerprint(want) == fp {
				return p.Name, nil
			}
		}
	}
	for _, p := range cfg.Peers {
		if p.Spec.Peer != nil {
			peers = append(peers, p.Name)
		}
	}
	switch len(peers) {
	case 1:
		return peers[0], nil
	case 0:
		return "", errors.New("this agent has no peer block (or library \"failover\"): it reads no partner whose stop it could note")
	}
	return "", fmt.Errorf("this agent has %d peers and cannot tell which one this notice is from: pin each peer's fingerprint (its certificate then names it)", len(peers))
}

// writeJSONError answers code with a JSON {"error": msg}, as the rest of
// the API does, never cached (the peer routes' answers and refusals).
func writeJSONError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
