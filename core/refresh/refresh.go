// Package refresh keeps firing alerts alive at the transports that ask for
// it (sdk.AlertRefresher): an alerting system such as Prometheus
// Alertmanager resolves an alert it is not told about again before the
// alert's endsAt, so while a rule fires, its last notification that such a
// transport delivered is sent to that transport again, with
// sdk.Alert.Refresh set, every interval the transport asked for.
//
// A refresh is not a notification: it goes to the one transport that
// delivered the alert, never through the outbox, never to a fallback
// transport, and never counts as the rule's repeat. A failed refresh is
// logged and tried again at the next interval; the transport's alerts
// carry an end a few intervals ahead, so one lost refresh changes nothing,
// and the alerts of an agent that died resolve on their own.
//
// The alerts kept are saved in data_dir (alerts.json), so that a restart
// goes on refreshing them; those whose rule no longer fires are dropped.
package refresh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/fsafe"
	"github.com/tocsin-dev/tocsin/core/notify"
	"github.com/tocsin-dev/tocsin/core/outbox"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// FileName is the file in data_dir that holds the alerts kept.
const FileName = "alerts.json"

// fileVersion is the format of FileName.
const fileVersion = 1

// maxFile bounds what Open reads of the file.
const maxFile = 64 << 20

// Transports is what the Keeper needs of the agent's transports.
type Transports interface {
	// From returns the address transport's messages come from.
	From(transport string) (sdk.Address, error)
	// Send sends msgs through transport, as sdk.Transport.Send does.
	Send(ctx context.Context, transport string, msgs []*sdk.Message) ([]sdk.Result, error)
	// RefreshInterval returns how often transport asks for its firing
	// alerts again; 0 for never, or for a transport it does not know.
	RefreshInterval(transport string) time.Duration
}

// Alert is a firing alert kept for one transport: the last notification
// of its rule that the transport delivered.
type Alert struct {
	Transport string `json:"transport"`
	Rule      string `json:"rule"`
	// ID, To, Subject, Text and Alert are those of the notification.
	ID      string        `json:"id"`
	To      []sdk.Address `json:"to,omitempty"`
	Subject string        `json:"subject"`
	Text    string        `json:"text,omitempty"`
	Alert   sdk.Alert     `json:"alert"`
	// Sent is when the transport last took it, as a notification or a
	// refresh.
	Sent time.Time `json:"sent"`
}

// key identifies an alert kept: one per rule and transport.
type key struct{ transport, rule string }

// file is the saved form.
type file struct {
	Version int     `json:"version"`
	Alerts  []Alert `json:"alerts"`
}

// Keeper keeps firing alerts alive. Its methods are safe for concurrent
// use.
type Keeper struct {
	ts     Transports
	dir    string // data_dir; "" keeps nothing on disk
	logger hclog.Logger
	now    func() time.Time
	// timeout bounds one refresh Send.
	timeout time.Duration

	mu     sync.Mutex
	alerts map[key]*Alert
	dirty  bool
}

// Options are the Keeper's settings; the zero value is the defaults.
type Options struct {
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// SendTimeout bounds one refresh; 0 is 30 seconds.
	SendTimeout time.Duration
}

// Open returns a Keeper over ts that keeps its alerts in dataDir ("" for
// nowhere), with the alerts a previous run saved there. A file that cannot
// be read is left as it is and reported: the keeper starts empty, and the
// file is replaced at the first change.
func Open(dataDir string, ts Transports, logger hclog.Logger, opts Options) (*Keeper, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	k := &Keeper{ts: ts, dir: dataDir, logger: logger, now: opts.Now, timeout: opts.SendTimeout, alerts: map[key]*Alert{}}
	if k.now == nil {
		k.now = time.Now
	}
	if k.timeout <= 0 {
		k.timeout = 30 * time.Second
	}
	if dataDir == "" {
		return k, nil
	}
	data, err := fsafe.ReadFile(filepath.Join(dataDir, FileName), maxFile, fsafe.State)
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	var f file
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err == nil && f.Version != fileVersion {
		err = fmt.Errorf("format version %d, this tocsin reads %d", f.Version, fileVersion)
	}
	if err != nil {
		return k, fmt.Errorf("alerts to refresh, %s: %w; firing alerts are refreshed again after their rule's next notification", filepath.Join(dataDir, FileName), err)
	}
	for i := range f.Alerts {
		a := f.Alerts[i]
		if a.Transport == "" || a.Rule == "" {
			continue
		}
		k.alerts[key{a.Transport, a.Rule}] = &a
	}
	return k, nil
}

// Delivered records that transport delivered e. A firing alert of a
// transport that asks for refreshes is kept (replacing the rule's
// previous one); a resolved one is forgotten. Entries about no rule's
// alert are ignored. It does not block: the file is written by Run.
func (k *Keeper) Delivered(e *outbox.Entry, transport string) {
	a := e.Mail.Alert
	if a == nil || e.Rule == "" {
		return
	}
	id := key{transport, e.Rule}
	k.mu.Lock()
	defer k.mu.Unlock()
	if a.State != sdk.AlertFiring {
		if _, ok := k.alerts[id]; ok {
			delete(k.alerts, id)
			k.dirty = true
		}
		return
	}
	if k.ts.RefreshInterval(transport) <= 0 {
		return
	}
	alert := *a
	alert.Refresh = false
	k.alerts[id] = &Alert{
		Transport: transport, Rule: e.Rule, ID: e.ID, To: e.Mail.To, Subject: e.Mail.Subject, Text: e.Mail.Text,
		Alert: alert, Sent: k.now(),
	}
	k.dirty = true
}

// Kept returns the alerts kept, by transport and rule.
func (k *Keeper) Kept() []Alert {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Alert, 0, len(k.alerts))
	for _, a := range k.alerts {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Transport != out[j].Transport {
			return out[i].Transport < out[j].Transport
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// Refresh sends every kept alert whose transport's interval has passed
// since it last went out, one Send per transport, and forgets first the
// alerts whose rule firing reports as no longer firing (removed by a
// reload, or ended without a resolved notification) or whose transport no
// longer asks for refreshes. It returns how many alerts went out.
func (k *Keeper) Refresh(ctx context.Context, firing func(rule string) bool) int {
	now := k.now()
	due := map[string][]*Alert{}
	k.mu.Lock()
	for id, a := range k.alerts {
		every := k.ts.RefreshInterval(a.Transport)
		if every <= 0 || !firing(a.Rule) {
			delete(k.alerts, id)
			k.dirty = true
			continue
		}
		if now.Sub(a.Sent) >= every {
			c := *a
			due[a.Transport] = append(due[a.Transport], &c)
		}
	}
	k.mu.Unlock()

	sent := 0
	names := make([]string, 0, len(due))
	for t := range due {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		sent += k.send(ctx, t, due[t], now)
	}
	return sent
}

// send refreshes the alerts of transport in one Send and records the time
// of those the transport took.
func (k *Keeper) send(ctx context.Context, transport string, alerts []*Alert, now time.Time) int {
	sort.Slice(alerts, func(i, j int) bool { return alerts[i].Rule < alerts[j].Rule })
	from, err := k.ts.From(transport)
	if err != nil {
		k.logger.Warn("firing alerts cannot be refreshed: the transport is gone", "transport", transport, "error", err)
		return 0
	}
	msgs := make([]*sdk.Message, len(alerts))
	for i, a := range alerts {
		alert := a.Alert
		alert.Refresh = true
		m := notify.Message(&outbox.Entry{ID: a.ID, EnqueuedAt: a.Alert.StartsAt, Mail: outbox.Mail{To: a.To, Subject: a.Subject, Text: a.Text}}, from)
		m.Alert = &alert
		msgs[i] = m
	}
	sctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	res, err := k.ts.Send(sctx, transport, msgs)
	if err != nil {
		k.logger.Warn("refreshing firing alerts failed; they are tried again at the next interval", "transport", transport, "alerts", len(msgs), "error", err)
		return 0
	}
	ok := 0
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, a := range alerts {
		if i < len(res) && res[i].Err != nil {
			k.logger.Warn("refreshing a firing alert failed; it is tried again at the next interval", "transport", transport, "rule", a.Rule, "error", res[i].Err)
			continue
		}
		ok++
		// A notification delivered meanwhile replaced the alert: keep it.
		if cur := k.alerts[key{transport, a.Rule}]; cur != nil && cur.ID == a.ID && cur.Sent.Equal(a.Sent) {
			cur.Sent = now
			k.dirty = true
		}
	}
	return ok
}

// Save writes the alerts kept to data_dir when they changed since the
// last Save.
func (k *Keeper) Save() error {
	k.mu.Lock()
	if !k.dirty || k.dir == "" {
		k.mu.Unlock()
		return nil
	}
	f := file{Version: fileVersion, Alerts: make([]Alert, 0, len(k.alerts))}
	for _, a := range k.alerts {
		f.Alerts = append(f.Alerts, *a)
	}
	k.dirty = false
	k.mu.Unlock()
	sort.Slice(f.Alerts, func(i, j int) bool {
		if f.Alerts[i].Transport != f.Alerts[j].Transport {
			return f.Alerts[i].Transport < f.Alerts[j].Transport
		}
		return f.Alerts[i].Rule < f.Alerts[j].Rule
	})
	data, err := json.Marshal(f)
	if err == nil {
		err = fsafe.WriteFileAtomic(k.dir, FileName, append(data, '\n'))
	}
	if err != nil {
		k.mu.Lock()
		k.dirty = true
		k.mu.Unlock()
		return fmt.Errorf("save the alerts to refresh: %w", err)
	}
	return nil
}

// Run refreshes due alerts and saves changes every tick until ctx ends,
// then saves once more.
func (k *Keeper) Run(ctx context.Context, tick time.Duration, firing func(rule string) bool) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := k.Save(); err != nil {
				k.logger.Error("the alerts to refresh could not be saved", "error", err)
			}
			return
		case <-t.C:
		}
		k.Refresh(ctx, firing)
		if err := k.Save(); err != nil {
			k.logger.Error("the alerts to refresh could not be saved; after a restart they are refreshed from their rule's next notification", "error", err)
		}
	}
}
