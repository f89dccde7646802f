// Package alertmanager is the alertmanager transport: each notification
// becomes an alert posted to a Prometheus Alertmanager cluster through its
// v2 API, to every instance at once (as Prometheus does), delivered when
// one instance accepts it. The fleet's Alertmanager then does the
// routing, grouping, silencing and on-call paging.
//
// Every post carries an endsAt ends_after ahead, so an alert stays active
// while it is posted again before then, and resolves on its own ends_after
// after the last post when the agent that sent it is gone.
//
// Settings follow Prometheus' alertmanager_config: the instances' urls, a
// path_prefix, TLS trust through ca_file, and basic auth or a bearer
// token. Errors are classified and remedied by package amclient.
package alertmanager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/plugins/alertmanager/amclient"
	"github.com/tocsin-dev/tocsin/plugins/internal/oauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name.
const Name = "alertmanager"

// Defaults of the settings.
const (
	// DefaultTimeout bounds each request to one instance (Prometheus'
	// default for alertmanager_config).
	DefaultTimeout = 10 * time.Second
	// DefaultRefreshInterval is how often a firing alert is refreshed.
	DefaultRefreshInterval = time.Minute
	// EndsAfterIntervals is how many refresh intervals ahead endsAt lies
	// by default: a refresh or two may be lost before the alert resolves.
	EndsAfterIntervals = 3
)

// Schema is the alertmanager config block.
var Schema = sdk.Schema{
	{Name: "urls", Type: sdk.TypeListOfString, Required: true, Description: "Every instance of the Alertmanager cluster, each as http(s)://host:port (such as \"https://am1.example.com:9093\"). Each notification is posted to all at once, as Prometheus does, and is delivered when one accepts it."},
	{Name: "path_prefix", Type: sdk.TypeString, Description: "The path Alertmanager is served under, when not /: its --web.route-prefix, or a reverse proxy's path (such as \"/alertmanager\")."},
	{Name: "basic_auth_username", Type: sdk.TypeString, Description: "HTTP basic auth user (Alertmanager's web.config.file, or a proxy in front of it). Needs basic_auth_password; not with bearer_token."},
	{Name: "basic_auth_password", Type: sdk.TypeString, Sensitive: true, Description: "HTTP basic auth password; use env(\"...\") or file(\"...\")."},
	{Name: "bearer_token", Type: sdk.TypeString, Sensitive: true, Description: "Sent as Authorization: Bearer, for a proxy that wants one; use env(\"...\") or file(\"...\"). Not with basic auth."},
	{Name: "allow_insecure_auth", Type: sdk.TypeBool, Default: "false", Description: "Allow basic auth or bearer_token over plain http, where anyone on the path reads them."},
	{Name: "ca_file", Type: sdk.TypeString, Description: "PEM file of CA certificates to trust in addition to the system's, for https urls."},
	{Name: "tls_skip_verify", Type: sdk.TypeBool, Default: "false", Description: "Do not verify the instances' certificates. Dangerous: anyone on the path can read the alerts and the credentials."},
	{Name: "timeout", Type: sdk.TypeDuration, Default: "10s", Description: "Bound for each request to one instance, from connecting to the end of the reply."},
	{Name: "refresh_interval", Type: sdk.TypeDuration, Default: "1m", Description: "How often a firing alert is posted again to keep it active."},
	{Name: "ends_after", Type: sdk.TypeDuration, Default: "3 × refresh_interval", Description: "How far ahead of each post its endsAt lies: an alert not posted again within this resolves on its own, so the alerts of an agent that died resolve after it. Must be longer than refresh_interval."},
}

// settings is the decoded config block.
type settings struct {
	URLs              []string     `json:"urls"`
	PathPrefix        string       `json:"path_prefix"`
	BasicAuthUsername string       `json:"basic_auth_username"`
	BasicAuthPassword string       `json:"basic_auth_password"`
	BearerToken       string       `json:"bearer_token"`
	AllowInsecureAuth bool         `json:"allow_insecure_auth"`
	CAFile            string       `json:"ca_file"`
	TLSSkipVerify     bool         `json:"tls_skip_verify"`
	Timeout           sdk.Duration `json:"timeout"`
	RefreshInterval   sdk.Duration `json:"refresh_interval"`
	EndsAfter         sdk.Duration `json:"ends_after"`
}

func defaultSettings() settings {
	return settings{
		Timeout:         sdk.Duration(DefaultTimeout),
		RefreshInterval: sdk.Duration(DefaultRefreshInterval),
	}
}

// sender is a configured transport. It is safe for concurrent use.
type sender struct {
	client    *amclient.Client
	refresh   time.Duration
	endsAfter time.Duration
	logger    hclog.Logger
	now       func() time.Time
}

// Transport is the alertmanager transport.
type Transport struct {
	version string

	cur sdk.Configured[sender]
}

// New returns an unconfigured transport reporting version.
func New(version string) *Transport { return &Transport{version: version} }

var (
	_ sdk.Transport      = (*Transport)(nil)
	_ sdk.AlertRefresher = (*Transport)(nil)
)

// AlertRefreshInterval asks the agent to post each firing alert again
// every refresh_interval (sdk.AlertRefresher), well within ends_after, so
// that Alertmanager keeps it active while the rule fires and resolves it
// on its own once the agent is gone.
func (t *Transport) AlertRefreshInterval(context.Context) (time.Duration, error) {
	s, err := t.cur.Get()
	if err != nil {
		return 0, err
	}
	return s.refresh, nil
}

// Describe returns the plugin's identity and schema. A batch is one
// request per instance, holding an alert per message.
func (t *Transport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    Name,
		Version: t.version,
		Summary: "Each notification posted as an alert to every instance of a Prometheus Alertmanager cluster (API v2), which routes, groups, silences and pages.",
		Schema:  Schema,
		Batch:   true,
	}, nil
}

// Configure validates the settings and, when they are good, applies them.
// It reads ca_file but does not talk to the network.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	s := defaultSettings()
	if err := cfg.Settings.Decode(&s); err != nil {
		t.cur.Set(nil)
		return nil, err
	}
	snd, diags := newSender(s, cfg.Logger, "Tocsin alertmanager/"+t.version)
	t.cur.Set(snd)
	return diags, nil
}

// newSender checks s and builds the sender it describes; the sender is nil
// when the diagnostics hold an error.
func newSender(s settings, logger hclog.Logger, userAgent string) (*sender, sdk.Diagnostics) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	urls, diags := checkURLs(s.URLs)

	user, pass, token := s.BasicAuthUsername, s.BasicAuthPassword, s.BearerToken
	basic := user != "" || pass != ""
	switch {
	case basic && token != "":
		diags = diags.Errorf("bearer_token", "Use either basic auth (basic_auth_username and basic_auth_password) or bearer_token, not both.", "bearer_token is set together with basic auth")
	case user != "" && pass == "":
		diags = diags.Errorf("basic_auth_password", "Set basic_auth_password for basic_auth_username, with env(\"...\") or file(\"...\").", "basic_auth_username is set but basic_auth_password is not")
	case user == "" && pass != "":
		diags = diags.Errorf("basic_auth_username", "Set basic_auth_username, the user basic_auth_password belongs to.", "basic_auth_password is set but basic_auth_username is not")
	}
	if (basic || token != "") && !s.AllowInsecureAuth {
		for i, u := range urls {
			if u.Scheme == "http" {
				diags = diags.Errorf("urls", "Over plain http the credentials travel in the clear: use https, or set allow_insecure_auth = true for a trusted network.", "urls entry %d (%s) is http, and credentials are set", i+1, u.Host)
			}
		}
	}

	if s.Timeout <= 0 {
		diags = diags.Errorf("timeout", "Use a positive duration, such as \"10s\".", "timeout %s is not positive", time.Duration(s.Timeout))
	}
	refresh := time.Duration(s.RefreshInterval)
	endsAfter := time.Duration(s.EndsAfter)
	if refresh <= 0 {
		diags = diags.Errorf("refresh_interval", "Use a positive duration, such as \"1m\".", "refresh_interval %s is not positive", refresh)
	}
	if endsAfter == 0 {
		endsAfter = EndsAfterIntervals * refresh
	} else if refresh > 0 && endsAfter <= refresh {
		diags = diags.Errorf("ends_after", fmt.Sprintf("ends_after must be longer than refresh_interval (%s), or every alert would resolve before it is refreshed; leave it out for %d × refresh_interval.", refresh, EndsAfterIntervals), "ends_after %s is not longer than refresh_interval", endsAfter)
	}

	hc, err := httpClient(s.CAFile, s.TLSSkipVerify, time.Duration(s.Timeout))
	if err != nil {
		diags = diags.Errorf("ca_file", "Point ca_file at a readable PEM file of CA certificates.", "%v", err)
	}
	if s.TLSSkipVerify {
		diags = diags.Warnf("tls_skip_verify", "Anyone between this host and Alertmanager can read the alerts and the credentials, and post as you. Set ca_file to the instances' CA instead.", "Certificate verification is OFF")
		logger.Warn("TLS certificate verification is OFF for this transport: anyone on the path can read the alerts and the credentials; set ca_file instead")
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return &sender{
		client: amclient.New(amclient.Config{
			URLs:        urls,
			PathPrefix:  s.PathPrefix,
			HTTPClient:  hc,
			Username:    user,
			Password:    pass,
			BearerToken: token,
			UserAgent:   userAgent,
		}),
		refresh:   refresh,
		endsAfter: endsAfter,
		logger:    logger,
		now:       time.Now,
	}, diags
}

// checkURLs parses urls: each absolute http or https with a host and no
// user, query or fragment; a duplicate is warned about.
func checkURLs(raw []string) ([]*url.URL, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	if len(raw) == 0 {
		return nil, diags.Errorf("urls", "List every instance of the Alertmanager cluster, such as [\"https://am1.example.com:9093\", \"https://am2.example.com:9093\"].", "urls is empty")
	}
	var out []*url.URL
	seen := map[string]bool{}
	for i, r := range raw {
		u, err := url.Parse(strings.TrimSpace(r))
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			diags = diags.Errorf("urls", "Write each instance as http(s)://host:port, such as \"https://am1.example.com:9093\".", "urls entry %d is not an absolute http or https URL", i+1)
			continue
		case u.User != nil:
			diags = diags.Errorf("urls", "Put the user and password in basic_auth_username and basic_auth_password, not in the URL.", "urls entry %d carries a user or password", i+1)
			continue
		case u.RawQuery != "" || u.Fragment != "":
			diags = diags.Errorf("urls", "Write the instance's address only, http(s)://host:port; a path Alertmanager is served under goes into path_prefix.", "urls entry %d (%s) has a query or fragment", i+1, u.Host)
			continue
		}
		key := u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/")
		if seen[key] {
			diags = diags.Warnf("urls", "Each instance is posted to once per notification; remove the duplicate.", "urls entry %d (%s) is listed twice", i+1, u.Host)
			continue
		}
		seen[key] = true
		out = append(out, u)
	}
	return out, diags
}

// httpClient returns a client that trusts the system roots plus caFile,
// or verifies nothing with skipVerify, and bounds each request by
// timeout.
func httpClient(caFile string, skipVerify bool, timeout time.Duration) (*http.Client, error) {
	extra, err := oauth.CACertsPEM(caFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify} //nolint:gosec // the operator's explicit, warned choice
	if extra != nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(extra)
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// Check asks every instance for its status (GET /api/v2/status), proving
// the addresses, TLS and the credentials without posting an alert. It
// fails when any instance fails, naming each, although a send needs only
// one: a wrong URL among good ones would otherwise go unseen.
func (t *Transport) Check(ctx context.Context) error {
	s, err := t.cur.Get()
	if err != nil {
		return err
	}
	_, err = s.client.Status(ctx)
	return err
}

// Send posts one alert per valid message, in one request per instance.
// Every message of the request shares its outcome; a message that cannot
// become an alert gets a permanent error of its own and is not posted.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	s, err := t.cur.Get()
	if err != nil {
		return nil, err
	}
	return s.send(ctx, msgs), nil
}

func (s *sender) send(ctx context.Context, msgs []*sdk.Message) []sdk.Result {
	results := make([]sdk.Result, len(msgs))
	now := s.now()
	var (
		alerts []amclient.Alert
		posted []int
	)
	for i, m := range msgs {
		results[i].MessageID = m.ID
		if err := m.Validate(); err != nil {
			results[i].Err = sdk.PermanentError(fmt.Errorf("message %s: %w", m.ID, err), "", remedyInvalidMessage)
			continue
		}
		a := alertOf(m, now, s.endsAfter)
		if err := a.Validate(); err != nil {
			results[i].Err = sdk.PermanentError(fmt.Errorf("message %s: %w", m.ID, err), "", remedyInvalidMessage)
			continue
		}
		alerts = append(alerts, a)
		posted = append(posted, i)
	}
	if len(alerts) == 0 {
		return results
	}
	outcome, err := s.client.Post(ctx, alerts)
	if err == nil {
		for _, f := range outcome.Failed {
			s.logger.Warn("an Alertmanager instance did not take the alerts; another did", "instance", f.Instance, "error", f.Err.Error(), "remedy", f.Err.Remedy)
		}
	}
	for _, i := range posted {
		if err != nil {
			results[i].Err = err
			continue
		}
		results[i].Receipt = outcome.String()
	}
	return results
}

// remedyInvalidMessage is the remedy of a message that cannot be posted.
const remedyInvalidMessage = "The agent handed over a message that cannot become an alert; this is a bug in the rule or template that made it."
