// Package amclient posts alerts to a Prometheus Alertmanager cluster
// through its v2 API (POST /api/v2/alerts), the way Prometheus does: the
// same list of alerts to every instance at once, delivered when at least
// one instance accepts it. Alertmanager's instances gossip what they got,
// and an alert is identified by its labels, so the cluster shows it once
// however many instances took it.
//
// Every failure is an *sdk.DeliveryError with a remedy: refused
// connections, timeouts, 5xx, 408 and 429 are temporary (with the wait a
// Retry-After asks for), 400 and 422 permanent with what Alertmanager
// said was wrong, 401 and 403 permanent with the credentials' remedy, TLS
// failures permanent naming ca_file. When every instance fails, the error
// lists each one's failure.
package amclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// The API paths, below an instance's URL and path prefix.
const (
	AlertsPath = "/api/v2/alerts"
	StatusPath = "/api/v2/status"
)

// Config describes a cluster and how to reach it.
type Config struct {
	// URLs are the instances, each scheme://host:port with an optional
	// path. Required, at least one; none may carry a user or password.
	URLs []*url.URL
	// PathPrefix is what Alertmanager is served under (its
	// --web.route-prefix, or a reverse proxy's path), added after each
	// URL's own path.
	PathPrefix string
	// HTTPClient makes the requests; its Timeout bounds each one. Nil
	// means one like http.DefaultClient. Redirects are never followed (a
	// POST would become a GET): they fail as the status they are.
	HTTPClient *http.Client
	// Username and Password are HTTP basic auth; BearerToken an
	// Authorization: Bearer token. At most one of the two is used, basic
	// auth first.
	Username, Password string
	BearerToken        string
	// UserAgent is sent with every request.
	UserAgent string
	// Now is the clock, for Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// Client posts to the instances of one cluster. It is safe for concurrent
// use.
type Client struct {
	cfg       Config
	instances []instance
	secrets   []string
}

// instance is one Alertmanager: where to post, and how it is named in
// errors and receipts.
type instance struct {
	base string // scheme://host[:port]/path-prefix, no trailing slash
	name string
}

// New returns a client for cfg. The URLs must have been checked (absolute
// http or https, with a host).
func New(cfg Config) *Client {
	hc := http.Client{}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.HTTPClient = &hc
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg}
	prefix := strings.Trim(cfg.PathPrefix, "/")
	for _, u := range cfg.URLs {
		base := u.Scheme + "://" + u.Host
		if p := strings.Trim(u.EscapedPath(), "/"); p != "" {
			base += "/" + p
		}
		if prefix != "" {
			base += "/" + prefix
		}
		c.instances = append(c.instances, instance{base: base, name: base})
	}
	for _, s := range []string{cfg.Password, cfg.BearerToken} {
		if len(s) >= 4 {
			c.secrets = append(c.secrets, s)
		}
	}
	return c
}

// Instances returns the instances' names (their base URLs), in the order
// of Config.URLs.
func (c *Client) Instances() []string {
	out := make([]string, len(c.instances))
	for i, in := range c.instances {
		out[i] = in.name
	}
	return out
}

// Outcome is what each instance made of a request.
type Outcome struct {
	// Accepted names the instances that answered 2xx.
	Accepted []string
	// Failed holds the others' errors, in the order of the instances.
	Failed []*InstanceError
}

// String is a receipt: "accepted by 2 of 2 Alertmanager instances", and
// which failed.
func (o *Outcome) String() string {
	n := len(o.Accepted) + len(o.Failed)
	s := fmt.Sprintf("accepted by %d of %s", len(o.Accepted), count(n, "Alertmanager instance"))
	if len(o.Failed) > 0 {
		names := make([]string, len(o.Failed))
		for i, f := range o.Failed {
			names[i] = f.Instance
		}
		s += " (not by " + strings.Join(names, ", ") + ")"
	}
	return s
}

// InstanceError is one instance's failure.
type InstanceError struct {
	Instance string
	Err      *sdk.DeliveryError
}

func (e *InstanceError) Error() string { return e.Instance + ": " + e.Err.Error() }

// Unwrap returns the instance's *sdk.DeliveryError.
func (e *InstanceError) Unwrap() error { return e.Err }

// Post sends alerts to every instance at once and returns when all have
// answered. It succeeds when at least one instance accepted them; the
// Outcome then also names those that did not. When none did, the error is
// an *sdk.DeliveryError that lists each instance's failure (see [Join]).
func (c *Client) Post(ctx context.Context, alerts []Alert) (*Outcome, error) {
	if alerts == nil {
		alerts = []Alert{}
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		return &Outcome{}, sdk.PermanentError(fmt.Errorf("encode the alerts: %w", err), "", remedyInvalid)
	}
	return c.all(ctx, "post "+count(len(alerts), "alert")+" to", func(ctx context.Context, in instance) *sdk.DeliveryError {
		return c.do(ctx, in, http.MethodPost, AlertsPath, body)
	})
}

// Status asks every instance for its status (GET /api/v2/status), which
// proves the address, TLS, the credentials and that the API answers. It
// fails when any instance fails, so that a wrong URL among good ones is
// seen; the error lists each failure. Post, in contrast, needs only one.
func (c *Client) Status(ctx context.Context) (*Outcome, error) {
	o, err := c.all(ctx, "get the status of", func(ctx context.Context, in instance) *sdk.DeliveryError {
		return c.do(ctx, in, http.MethodGet, StatusPath, nil)
	})
	if err == nil && len(o.Failed) > 0 {
		err = Join("get the status of", len(c.instances), o.Failed)
	}
	return o, err
}

// all runs one request per instance concurrently and gathers the
// outcome; the error is non-nil when no instance succeeded.
func (c *Client) all(ctx context.Context, op string, call func(context.Context, instance) *sdk.DeliveryError) (*Outcome, error) {
	if len(c.instances) == 0 {
		return &Outcome{}, sdk.PermanentError(errors.New(op+" Alertmanager: no instance is configured"), "", remedyURL)
	}
	errs := make([]*sdk.DeliveryError, len(c.instances))
	var wg sync.WaitGroup
	for i, in := range c.instances {
		wg.Go(func() { errs[i] = call(ctx, in) })
	}
	wg.Wait()
	o := &Outcome{}
	for i, in := range c.instances {
		if errs[i] == nil {
			o.Accepted = append(o.Accepted, in.name)
			continue
		}
		o.Failed = append(o.Failed, &InstanceError{Instance: in.name, Err: errs[i]})
	}
	if len(o.Accepted) == 0 {
		return o, Join(op, len(c.instances), o.Failed)
	}
	return o, nil
}

// do makes one request to one instance and classifies what went wrong.
func (c *Client) do(ctx context.Context, in instance, method, path string, body []byte) *sdk.DeliveryError {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, in.base+path, rd)
	if err != nil {
		return sdk.PermanentError(fmt.Errorf("%s %s: %w", method, path, err), "", remedyURL)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	switch {
	case c.cfg.Username != "" || c.cfg.Password != "":
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	case c.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+c.cfg.BearerToken)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return c.classifyLocal(err, method+" "+path)
	}
	defer resp.Body.Close()
	reply, cut, _ := oauth.ReadReply(resp.Body)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return c.classifyReply(method+" "+path, resp.StatusCode, resp.Header, reply, cut)
}

// Join makes one error of every instance's failure: temporary when
// retrying can help (some instance failed for a passing reason and none
// refused the alerts themselves), with the shortest wait any instance
// asked for; permanent otherwise. Code is the deciding failure's code;
// Reply and Remedy list each instance's.
func Join(op string, total int, failed []*InstanceError) *sdk.DeliveryError {
	if len(failed) == 0 {
		return nil
	}
	var (
		decider   *sdk.DeliveryError
		temporary bool
		wait      time.Duration
		first     = true
		lines     []string
		replies   []string
		remedies  []string
	)
	for _, f := range failed {
		lines = append(lines, f.Instance+": "+f.Err.Error())
		if f.Err.Reply != "" {
			replies = append(replies, f.Instance+": "+f.Err.Reply)
		}
		if f.Err.Remedy != "" && !slices.Contains(remedies, f.Err.Remedy) {
			remedies = append(remedies, f.Err.Remedy)
		}
		if f.Err.Kind != sdk.Permanent {
			temporary = true
			if first || f.Err.RetryAfter < wait {
				wait = f.Err.RetryAfter
			}
			first = false
		}
	}
	// A refusal of the alerts themselves is the same at every instance:
	// it decides, and no retry can help.
	for _, f := range failed {
		if invalidAlerts(f.Err.Code) {
			decider, temporary = f.Err, false
			break
		}
	}
	if decider == nil {
		for _, f := range failed {
			if (f.Err.Kind != sdk.Permanent) == temporary {
				decider = f.Err
				break
			}
		}
	}
	de := &sdk.DeliveryError{
		Kind:   sdk.Permanent,
		Code:   decider.Code,
		Reply:  strings.Join(replies, "; "),
		Remedy: strings.Join(remedies, " "),
		Err:    fmt.Errorf("%s %s: none accepted: %s", op, count(total, "Alertmanager instance"), strings.Join(lines, "; ")),
	}
	if len(failed) < total {
		de.Err = fmt.Errorf("%s %s: %d failed: %s", op, count(total, "Alertmanager instance"), len(failed), strings.Join(lines, "; "))
	}
	if temporary {
		de.Kind, de.RetryAfter = sdk.Temporary, wait
	}
	return de
}

// count is "1 alert", "2 alerts".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
