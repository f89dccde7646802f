package facts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/fsafe"
	"github.com/tocsin-dev/tocsin/core/identity"
)

// StopNoticePath is where an agent takes its partner's stop notice (POST,
// a StopNotice as JSON), below its base URL. Only a caller with the peer
// role is heard.
const StopNoticePath = "/v1/peer/stopping"

// maxNoticeSize caps a stop notice's body.
const maxNoticeSize = 4 << 10

// StopNotice is what an agent that is stopped cleanly (SIGTERM, SIGINT)
// tells its peers before it exits, and what its /v1/status says while it
// drains: the stop was planned, not a failure.
type StopNotice struct {
	// Node is the stopping agent's node name.
	Node string `json:"node"`
	// Reason says why it stops, such as "signal SIGTERM".
	Reason string `json:"reason"`
	// StoppedAt is when it began to stop, on its own clock.
	StoppedAt time.Time `json:"stopped_at"`
}

// The peer values a stop notice sets (see the package doc).
const (
	valStopping   = "stopping"
	valStoppedAt  = "stopped_at"
	valStopReason = "stop_reason"
)

// PeerNotices holds the stop notices peers sent, by peer name, until the
// peer answers its status again as running (after the notice). A peer's
// fact carries its notice meanwhile: stopping, stopped_at, stop_reason.
// With a file, the notices are kept across a restart of this agent, so
// that a backup restarted while its primary is down for maintenance still
// knows the stop was planned. It is safe for concurrent use; a nil
// *PeerNotices holds nothing.
type PeerNotices struct {
	path   string
	logger hclog.Logger
	mu     sync.Mutex
	byPeer map[string]StopNotice
}

// OpenPeerNotices returns the notices kept in the file at path (none when
// it does not exist yet), which Set and a peer answering again rewrite.
// An empty path keeps them in memory only. A file that cannot be read is
// an error; the notices returned are then empty and still usable.
// The logger (nil: none) hears of a notice a peer check could not save.
func OpenPeerNotices(path string, logger hclog.Logger) (*PeerNotices, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	n := &PeerNotices{path: path, logger: logger, byPeer: map[string]StopNotice{}}
	if path == "" {
		return n, nil
	}
	b, err := fsafe.ReadFile(path, 1<<20, fsafe.State)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return n, nil
	case err != nil:
		return n, fmt.Errorf("read the peers' stop notices: %w; remove %s if it is damaged (a planned stop of the partner is then reported as a failure)", err, path)
	}
	if err := json.Unmarshal(b, &n.byPeer); err != nil {
		n.byPeer = map[string]StopNotice{}
		return n, fmt.Errorf("read the peers' stop notices from %s: %w; remove the file (a planned stop of the partner is then reported as a failure)", path, err)
	}
	return n, nil
}

// Set keeps s as peer's notice, replacing any earlier one, and writes the
// file. The notice is kept in memory even when the file cannot be written.
func (n *PeerNotices) Set(peer string, s StopNotice) error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byPeer[peer] = s
	return n.saveLocked()
}

// Get returns peer's notice and whether there is one.
func (n *PeerNotices) Get(peer string) (StopNotice, bool) {
	if n == nil {
		return StopNotice{}, false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.byPeer[peer]
	return s, ok
}

// running forgets peer's notice when the peer answered as running at
// answered (its own clock), later than its notice: an answer that was on
// its way when the notice came does not clear it.
func (n *PeerNotices) running(peer string, answered time.Time) error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.byPeer[peer]
	if !ok || (!answered.IsZero() && !answered.After(s.StoppedAt)) {
		return nil
	}
	delete(n.byPeer, peer)
	return n.saveLocked()
}

// apply sets f's stop values from its peer's notice, if it has one.
func (n *PeerNotices) apply(f *Fact) {
	if n == nil || f.Kind != KindPeer {
		return
	}
	s, ok := n.Get(f.Check)
	if !ok {
		return
	}
	f.Values = maps.Clone(f.Values)
	if f.Values == nil {
		f.Values = map[string]cty.Value{}
	}
	setStopValues(f.Values, s)
}

// setStopValues sets the stop values of a peer's fact from s.
func setStopValues(v map[string]cty.Value, s StopNotice) {
	v[valStopping] = cty.True
	v[valStoppedAt] = cty.NullVal(cty.String)
	if !s.StoppedAt.IsZero() {
		v[valStoppedAt] = timeVal(s.StoppedAt)
	}
	v[valStopReason] = stringVal(s.Reason)
}

// saveLocked writes the notices to the file, through a temporary file
// renamed over it; n.mu is held.
func (n *PeerNotices) saveLocked() error {
	if n.path == "" {
		return nil
	}
	b, err := json.Marshal(n.byPeer)
	if err != nil {
		return fmt.Errorf("encode the peers' stop notices: %w", err)
	}
	if err := fsafe.WriteFileAtomic(filepath.Dir(n.path), filepath.Base(n.path), b); err != nil {
		return fmt.Errorf("write the peers' stop notices to %s: %w; check data_dir (free space, permissions)", n.path, err)
	}
	return nil
}

// AnnounceStop tells the peer p that this agent stops, with s: a POST to
// its StopNoticePath over the same link, and with the same credential, as
// the peer check reads its status (pinned TLS, this agent's identity, the
// peer's token_file). It returns once the peer has taken the notice, or
// with an error; ctx bounds it.
func AnnounceStop(ctx context.Context, p *PeerSpec, s StopNotice) error {
	base, err := url.Parse(p.URL)
	if err != nil {
		return fmt.Errorf("peer.url: %w", err)
	}
	target := base.JoinPath(StopNoticePath)
	if !p.Insecure {
		if err := p.LinkRisk(); err != nil {
			return fmt.Errorf("not told: %w", err)
		}
	}
	tr, err := peerTransport(p, base)
	if err != nil {
		return err
	}
	defer tr.CloseIdleConnections()
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode the stop notice: %w", err)
	}
	req, err := newPeerRequest(ctx, p, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		var pe *identity.PinError
		if errors.As(err, &pe) {
			return fmt.Errorf("POST %s: not the partner: %w", target.Redacted(), pe)
		}
		return fmt.Errorf("POST %s: %w", target.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %s: %s; the partner takes the notice only from its peer (the identity it pins as peer_fingerprint, or a credential with the peer role), and answers 404 while its agent is older than stop notices (upgrade it)",
			target.Redacted(), resp.Status, apiError(resp.Body))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxNoticeSize))
	return nil
}

// DecodeStopNotice reads a StopNotice from a request body of at most a
// few KB.
func DecodeStopNotice(r io.Reader) (StopNotice, error) {
	var s StopNotice
	dec := json.NewDecoder(io.LimitReader(r, maxNoticeSize))
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("decode the stop notice: %w", err)
	}
	return s, nil
}

// newPeerRequest is a request to the peer p with this agent's headers:
// what it accepts, who it is, and the token of p's token_file.
func newPeerRequest(ctx context.Context, p *PeerSpec, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("peer.url: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent())
	if p.TokenFile != "" {
		token, err := apiauth.ReadSecretFile(p.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("peer.token_file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req, nil
}
