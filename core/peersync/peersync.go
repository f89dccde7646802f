// Package peersync carries a primary's transports and contacts to its
// backup: what the primary serves at Path to its peer (and to no other
// caller), how the backup fetches it over the pinned peer link, and the
// last good copy the backup keeps, encrypted, in its data_dir.
//
// The settings hold secrets (passwords resolved from env() and file(),
// the refresh tokens of `tocsin oauth login`): no type here prints them,
// and no error quotes them.
package peersync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/tokenstore"
)

// Path is where an agent serves its settings to its peer.
const Path = "/v1/peer/settings"

// maxSize caps the settings read from a peer.
const maxSize = 4 << 20

// Settings are the transports and contacts of a node, as its peer takes
// them.
type Settings struct {
	// Node is the name of the node that served them.
	Node string `json:"node"`
	// Time is that node's clock when it served them.
	Time time.Time `json:"time"`
	// Transports are its transports, each with its settings resolved.
	Transports []Transport `json:"transports"`
	// Contacts are its contacts.
	Contacts []Contact `json:"contacts"`
	// Problems name what could not be served (a transport whose settings
	// do not decode on the peer), without secrets.
	Problems []string `json:"problems,omitempty"`
}

// Transport is one transport's block, its settings decoded.
type Transport struct {
	Name   string `json:"name"`
	Plugin string `json:"plugin"`
	From   string `json:"from"`
	// Path is an explicit plugin binary: the backup needs it at the same
	// path.
	Path string `json:"path,omitempty"`
	// SHA256 pins the plugin binary; the backup's must match.
	SHA256       string        `json:"sha256,omitempty"`
	RateMessages int           `json:"rate_messages,omitempty"`
	RatePer      time.Duration `json:"rate_per,omitempty"`
	SendTimeout  time.Duration `json:"send_timeout,omitempty"`
	// Settings is the config block as a JSON object, secrets included.
	Settings json.RawMessage `json:"settings"`
	// TestTo is where the transport's test mail goes: the backup sends
	// one when what it took changes, from its own node.
	TestTo []string `json:"test_to,omitempty"`
	// ClientSecretExpires is the transport's client_secret_expires.
	ClientSecretExpires time.Time `json:"client_secret_expires,omitzero"`
	// Login is what `tocsin oauth login` stored for the transport on the
	// peer; nil when nothing.
	Login *Login `json:"login,omitempty"`
}

// Login is a stored OAuth login, refresh token included.
type Login struct {
	RefreshToken string    `json:"refresh_token"`
	Account      string    `json:"account,omitempty"`
	Scopes       []string  `json:"scopes,omitempty"`
	TokenURL     string    `json:"token_url,omitempty"`
	ObtainedAt   time.Time `json:"obtained_at,omitzero"`
	RefreshedAt  time.Time `json:"refreshed_at,omitzero"`
}

// Entry returns the login as the token store keeps it for transport.
func (l Login) Entry(transport string) tokenstore.Entry {
	return tokenstore.Entry{Transport: transport, RefreshToken: l.RefreshToken, Account: l.Account, Scopes: l.Scopes,
		TokenURL: l.TokenURL, ObtainedAt: l.ObtainedAt, RefreshedAt: l.RefreshedAt}
}

// LoginOf returns e as a Login.
func LoginOf(e tokenstore.Entry) *Login {
	return &Login{RefreshToken: e.RefreshToken, Account: e.Account, Scopes: e.Scopes, TokenURL: e.TokenURL,
		ObtainedAt: e.ObtainedAt, RefreshedAt: e.RefreshedAt}
}

// Contact is one contact block.
type Contact struct {
	Name  string   `json:"name"`
	Email []string `json:"email"`
	Via   []string `json:"via"`
}

// Format prints s without secrets: the node, the time and the names.
func (s Settings) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.summary()) }

// LogValue logs s without secrets.
func (s Settings) LogValue() slog.Value { return slog.StringValue(s.summary()) }

func (s Settings) summary() string {
	var ts, cs []string
	for _, t := range s.Transports {
		ts = append(ts, t.Name)
	}
	for _, c := range s.Contacts {
		cs = append(cs, c.Name)
	}
	return fmt.Sprintf("settings of %s at %s: transports %v, contacts %v", s.Node, s.Time.Format(time.RFC3339), ts, cs)
}

// Serve returns the settings of cfg's own transports and contacts (not
// those it took from a peer itself): each transport's settings as its
// plugin's schema decoded them (a transport whose settings were never
// decoded is named in Problems), and its stored login from logins (nil
// for none).
func Serve(cfg *config.Config, now time.Time, logins func(transport string) (*tokenstore.Entry, error)) Settings {
	s := Settings{Node: cfg.Agent.Node, Time: now.UTC(), Transports: []Transport{}, Contacts: []Contact{}}
	for _, t := range cfg.Transports {
		if t.Origin != "" {
			continue
		}
		js := t.Settings.JSON()
		if len(js) == 0 {
			s.Problems = append(s.Problems, fmt.Sprintf("transport %s: its settings have not been decoded (its plugin did not start here), so the peer cannot take it", t.Name))
			continue
		}
		st := t.Synced()
		tr := Transport{Name: st.Name, Plugin: st.Plugin, From: st.From, Path: st.Path, SHA256: st.SHA256,
			RateMessages: st.RateLimit.Messages, RatePer: st.RateLimit.Per, SendTimeout: st.SendTimeout, Settings: st.Settings, TestTo: st.TestTo, ClientSecretExpires: st.ClientSecretExpires}
		if logins != nil {
			e, err := logins(t.Name)
			if err != nil {
				s.Problems = append(s.Problems, fmt.Sprintf("transport %s: its stored login cannot be read here: %v", t.Name, err))
			} else if e != nil {
				tr.Login = LoginOf(*e)
			}
		}
		s.Transports = append(s.Transports, tr)
	}
	for _, c := range cfg.Contacts {
		if c.Origin != "" {
			continue
		}
		s.Contacts = append(s.Contacts, Contact{Name: c.Name, Email: c.Email, Via: c.Via})
	}
	return s
}

// Config returns the transports and contacts of s as taken from origin
// (`peer "NAME"`), for config.WithSynced.
func (s Settings) Config(origin string) ([]*config.Transport, []*config.Contact) {
	var ts []*config.Transport
	for _, t := range s.Transports {
		ts = append(ts, config.NewSyncedTransport(config.SyncedTransport{Name: t.Name, Plugin: t.Plugin, From: t.From, Path: t.Path, SHA256: t.SHA256,
			RateLimit: config.Rate{Messages: t.RateMessages, Per: t.RatePer}, SendTimeout: t.SendTimeout, Settings: t.Settings, TestTo: t.TestTo, ClientSecretExpires: t.ClientSecretExpires}, origin))
	}
	var cs []*config.Contact
	for _, c := range s.Contacts {
		cs = append(cs, &config.Contact{Name: c.Name, Email: c.Email, Via: c.Via, Origin: origin})
	}
	return ts, cs
}

// Fetch asks the peer p for its settings, over the link the peer check
// uses (PeerGet: pinned TLS, this agent's identity, its token).
func Fetch(ctx context.Context, p *facts.PeerSpec) (*Settings, error) {
	resp, target, err := facts.PeerGet(ctx, p, Path)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	var s Settings
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxSize))
	if err := dec.Decode(&s); err != nil {
		// The error of the decoder may quote the settings: left out.
		return nil, fmt.Errorf("GET %s: the answer is not the settings of an agent (or more than %d bytes); is the partner's tocsin as new as this one?", target, maxSize)
	}
	return &s, nil
}

// file is the name of the last good copy from peer in data_dir.
func file(peer string) string { return "peer-" + peer + ".settings" }

// Save keeps s as the last good copy of the settings of peer, encrypted
// under the token store's key src, in dir (data_dir), with when it was
// fetched.
func Save(dir string, src tokenstore.KeySource, peer string, s *Settings, fetched time.Time) error {
	plain, err := json.Marshal(stored{Settings: s, Fetched: fetched.UTC()})
	if err != nil {
		return fmt.Errorf("save the settings of peer %s: %w", peer, err)
	}
	defer clear(plain)
	return tokenstore.SaveSealed(dir, file(peer), src, "peer "+peer, plain)
}

// stored is the content of the last good copy.
type stored struct {
	Settings *Settings `json:"settings"`
	Fetched  time.Time `json:"fetched"`
}

// Load returns the last good copy of the settings of peer that Save
// kept in dir, and when it was fetched; nil and no error when there is
// none.
func Load(dir string, src tokenstore.KeySource, peer string) (*Settings, time.Time, error) {
	plain, err := tokenstore.LoadSealed(dir, file(peer), src, "peer "+peer)
	if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, tokenstore.ErrNoKey) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("the last settings synced from peer %s: %w", peer, err)
	}
	defer clear(plain)
	var st stored
	if err := json.Unmarshal(plain, &st); err != nil || st.Settings == nil {
		return nil, time.Time{}, fmt.Errorf("the last settings synced from peer %s: not a settings file; it is replaced at the next sync", peer)
	}
	return st.Settings, st.Fetched, nil
}

// Format prints t without its settings and login.
func (t Transport) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "transport %s (plugin %s, login %v)", t.Name, t.Plugin, t.Login != nil)
}

// Format prints l without its refresh token.
func (l Login) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "login of %s", l.Account)
}
