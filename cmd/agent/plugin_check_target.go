package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-smtp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/tocsin-dev/tocsin/core/config"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// The kit's targets, by the name a -config file refers to them with
// (kit.NAME).
const (
	kitSMTPHost     = "smtp_host"
	kitSMTPPort     = "smtp_port"
	kitSMTPUsername = "smtp_username"
	kitSMTPPassword = "smtp_password"
	kitHTTPURL      = "http_url"
	kitDirectory    = "directory"
)

// kitTargets are the targets `tocsin plugin check` started for a -config
// file: what the plugin delivers to, and their stalled twins.
type kitTargets struct {
	smtp      *testserver.Server
	smtpStall *blackhole
	http      *httptest.Server
	httpStall *httptest.Server
	httpOpen  atomic.Int64
	dir       string
	password  string
	refusing  atomic.Int32 // refuseNone, refuseTemporary or refusePermanent

	mu     sync.Mutex
	bodies [][]byte
}

// Close stops the targets and removes the directory.
func (k *kitTargets) Close() {
	if k.smtp != nil {
		_ = k.smtp.Close()
	}
	if k.smtpStall != nil {
		k.smtpStall.Close()
	}
	// http.Server.Close closes every connection without waiting for the
	// handlers (httptest's Close would wait on a plugin that hangs on),
	// which then return as their connection is gone.
	for _, s := range []*httptest.Server{k.httpStall, k.http} {
		if s != nil {
			_ = s.Config.Close()
		}
	}
	if k.dir != "" {
		_ = os.RemoveAll(k.dir)
	}
}

// start starts the targets names refers to and returns the values of
// kit.NAME for the real and for the stalled targets; stallable is false
// when none of them can stall.
func (k *kitTargets) start(names map[string]bool) (real, stalled map[string]cty.Value, stallable bool, err error) {
	real, stalled = map[string]cty.Value{}, map[string]cty.Value{}
	if names[kitSMTPHost] || names[kitSMTPPort] || names[kitSMTPUsername] || names[kitSMTPPassword] {
		k.password = "tocsin-kit-" + randomToken()
		if k.smtp, err = testserver.Start(testserver.Options{Users: map[string]string{"tocsin-kit": k.password}, AllowInsecureAuth: true, Fault: k.smtpFault}); err != nil {
			return nil, nil, false, fmt.Errorf("start the kit's SMTP server: %w", err)
		}
		if k.smtpStall, err = newBlackhole(); err != nil {
			return nil, nil, false, fmt.Errorf("start the kit's stalled SMTP server: %w", err)
		}
		host, port := k.smtpStall.hostPort()
		real[kitSMTPHost], stalled[kitSMTPHost] = cty.StringVal(k.smtp.Host()), cty.StringVal(host)
		real[kitSMTPPort], stalled[kitSMTPPort] = cty.NumberIntVal(int64(k.smtp.Port())), cty.NumberIntVal(int64(port))
		real[kitSMTPUsername], stalled[kitSMTPUsername] = cty.StringVal("tocsin-kit"), cty.StringVal("tocsin-kit")
		real[kitSMTPPassword], stalled[kitSMTPPassword] = cty.StringVal(k.password), cty.StringVal(k.password)
		stallable = true
	}
	if names[kitHTTPURL] {
		k.http = httptest.NewServer(http.HandlerFunc(k.record))
		k.httpStall = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k.httpOpen.Add(1)
			defer k.httpOpen.Add(-1)
			// The server notices the client hang up (and ends the
			// request's context) only once the body has been read.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}))
		real[kitHTTPURL], stalled[kitHTTPURL] = cty.StringVal(k.http.URL), cty.StringVal(k.httpStall.URL)
		stallable = true
	}
	if names[kitDirectory] {
		if k.dir, err = os.MkdirTemp("", "tocsin-plugin-check-"); err != nil {
			return nil, nil, false, fmt.Errorf("create the kit's directory: %w", err)
		}
		real[kitDirectory], stalled[kitDirectory] = cty.StringVal(k.dir), cty.StringVal(k.dir)
	}
	return real, stalled, stallable, nil
}

// The ways the targets refuse deliveries.
const (
	refuseNone int32 = iota
	refuseTemporary
	refusePermanent
)

// refuse makes the targets refuse every delivery until undo is called.
func (k *kitTargets) refuse(temporary bool) (undo func()) {
	mode := refusePermanent
	if temporary {
		mode = refuseTemporary
	}
	k.refusing.Store(mode)
	return func() { k.refusing.Store(refuseNone) }
}

// smtpFault is the SMTP target's fault: 451 at MAIL while refusing
// temporarily, 550 at RCPT while refusing permanently.
func (k *kitTargets) smtpFault(stage testserver.Stage, _, _ int) *smtp.SMTPError {
	switch {
	case stage == testserver.StageMail && k.refusing.Load() == refuseTemporary:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Refused by the kit, temporarily"}
	case stage == testserver.StageRcpt && k.refusing.Load() == refusePermanent:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Refused by the kit: no such mailbox"}
	}
	return nil
}

// record is the HTTP target: it keeps each POST or PUT body, and answers
// a GET or HEAD (a plugin's Check reading a status or health endpoint)
// with 200 and an empty JSON object.
func (k *kitTargets) record(w http.ResponseWriter, r *http.Request) {
	switch k.refusing.Load() {
	case refuseTemporary:
		http.Error(w, "refused by the kit, temporarily", http.StatusServiceUnavailable)
		return
	case refusePermanent:
		http.Error(w, "refused by the kit", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodPut:
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}\n")
		return
	default:
		http.Error(w, "the kit's HTTP target takes POST, PUT, GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	k.mu.Lock()
	k.bodies = append(k.bodies, body)
	k.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// received returns everything the targets got: mails, request bodies, and
// the files in the directory (those not starting with a dot), by name.
func (k *kitTargets) received() [][]byte {
	var out [][]byte
	if k.smtp != nil {
		for _, m := range k.smtp.Messages() {
			out = append(out, m.Data)
		}
	}
	k.mu.Lock()
	out = append(out, k.bodies...)
	k.mu.Unlock()
	if k.dir != "" {
		var names []string
		_ = filepath.WalkDir(k.dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
				names = append(names, p)
			}
			return nil
		})
		sort.Strings(names)
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// open returns how many connections the stalled targets hold.
func (k *kitTargets) open() int {
	n := int(k.httpOpen.Load())
	if k.smtpStall != nil {
		n += k.smtpStall.open()
	}
	return n
}

// blackhole accepts TCP connections on 127.0.0.1 and never answers.
type blackhole struct {
	ln net.Listener

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newBlackhole() (*blackhole, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &blackhole{ln: ln, conns: map[net.Conn]bool{}}
	b.wg.Go(b.serve)
	return b, nil
}

func (b *blackhole) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = true
		b.mu.Unlock()
		b.wg.Go(func() {
			// Read until the client hangs up (or Close closes it).
			_, _ = io.Copy(io.Discard, c)
			b.mu.Lock()
			delete(b.conns, c)
			b.mu.Unlock()
			_ = c.Close()
		})
	}
}

func (b *blackhole) hostPort() (string, int) {
	a := b.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

func (b *blackhole) open() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.conns)
}

// Close stops accepting, closes what is open and waits for its goroutines.
func (b *blackhole) Close() {
	_ = b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// loadCheckConfig reads a -config file of `tocsin plugin check`: the body
// of a transport's config block, whose expressions may use env("NAME") and
// kit.NAME. It starts the targets the file refers to and fills opts.
func (c *pluginCheckCommand) loadCheckConfig(path string, targets *kitTargets, opts *sdktest.Options) int {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: read -config: %v\n", err)
		return exitError
	}
	sources := map[string][]byte{path: src}
	fail := func(diags hcl.Diagnostics) int {
		_ = config.WriteDiagnostics(c.stderr, sources, diags)
		return exitError
	}
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return fail(diags)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		return fail(append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Settings only",
			Detail:   "The -config file of `tocsin plugin check` holds the body of a transport's config block: name = value lines, no blocks.",
		}))
	}
	names := map[string]bool{}
	for _, a := range attrs {
		for _, tr := range a.Expr.Variables() {
			if tr.RootName() != "kit" || len(tr) < 2 {
				continue
			}
			if at, ok := tr[1].(hcl.TraverseAttr); ok {
				names[at.Name] = true
			}
		}
	}
	real, stalled, stallable, err := targets.start(names)
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	settings, diags := evalSettings(attrs, real)
	if diags.HasErrors() {
		return fail(diags)
	}
	opts.Settings = settings
	if len(real) > 0 {
		opts.Received = targets.received
	}
	if targets.smtp != nil || targets.http != nil {
		opts.Refuse = targets.refuse
	}
	if targets.password != "" {
		opts.Secrets = append(opts.Secrets, targets.password)
	}
	if stallable {
		st, diags := evalSettings(attrs, stalled)
		if diags.HasErrors() {
			return fail(diags)
		}
		opts.Stall = &sdktest.Stall{Settings: st, Open: targets.open}
	}
	return exitOK
}

// evalSettings evaluates the attributes with kit as the kit object and
// returns them as the agent hands settings to a plugin: strings, numbers
// (int when whole), bools and lists of strings.
func evalSettings(attrs hcl.Attributes, kit map[string]cty.Value) (map[string]any, hcl.Diagnostics) {
	obj := cty.EmptyObjectVal
	if len(kit) > 0 {
		obj = cty.ObjectVal(kit)
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"kit": obj},
		Functions: map[string]function.Function{"env": envFunction},
	}
	out := map[string]any{}
	var diags hcl.Diagnostics
	for name, a := range attrs {
		v, d := a.Expr.Value(ctx)
		diags = append(diags, d...)
		if d.HasErrors() || v.IsNull() {
			continue
		}
		g, err := goValue(v)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported value",
				Detail:   fmt.Sprintf("Setting %q: %v. A setting is a string, a number, a bool or a list of strings.", name, err),
				Subject:  a.Expr.Range().Ptr(),
			})
			continue
		}
		out[name] = g
	}
	return out, diags
}

// goValue converts a cty value into a settings value.
func goValue(v cty.Value) (any, error) {
	if !v.IsWhollyKnown() {
		return nil, errors.New("the value is not known")
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString(), nil
	case t == cty.Bool:
		return v.True(), nil
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			i, acc := bf.Int64()
			if acc == big.Exact {
				return int(i), nil
			}
		}
		f, _ := bf.Float64()
		return f, nil
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		l := []string{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.Type() != cty.String || e.IsNull() {
				return nil, errors.New("a list holds strings only")
			}
			l = append(l, e.AsString())
		}
		return l, nil
	}
	return nil, fmt.Errorf("%s is not a setting's type", t.FriendlyName())
}

// envFunction is env("NAME"): the environment variable, "" when unset.
var envFunction = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "name", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.StringVal(os.Getenv(args[0].AsString())), nil
	},
})

func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
