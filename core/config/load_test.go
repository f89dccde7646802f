package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// dump renders the exported content of a Config as stable JSON, with the
// absolute path of testdata replaced by $TESTDATA.
func dump(t *testing.T, cfg *Config) []byte {
	t.Helper()
	type transport struct {
		Name, Plugin, From, Path, SHA256 string
		RateLimit                        string
		DeclRange, PluginRange           string
		Settings                         json.RawMessage
	}
	type contact struct {
		Name      string
		Email     []string
		Via       []string
		DeclRange string
	}
	out := struct {
		Agent      Agent
		Transports []transport
		Contacts   []contact
		Files      []string
		Sources    []string
	}{Agent: cfg.Agent}
	for _, tr := range cfg.Transports {
		out.Transports = append(out.Transports, transport{
			Name: tr.Name, Plugin: tr.Plugin, From: tr.From, Path: tr.Path, SHA256: tr.SHA256,
			RateLimit: tr.RateLimit.String(),
			DeclRange: tr.DeclRange.String(), PluginRange: tr.PluginRange.String(),
			Settings: tr.Settings.JSON(),
		})
	}
	for _, c := range cfg.Contacts {
		out.Contacts = append(out.Contacts, contact{c.Name, c.Email, c.Via, c.DeclRange.String()})
	}
	out.Files = cfg.Files
	for name := range cfg.Sources {
		out.Sources = append(out.Sources, name)
	}
	sort.Strings(out.Sources)
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(b.String(), mustAbs(t, "testdata"), "$TESTDATA"))
}

func TestLoad_Full(t *testing.T) {
	schemas := map[string]sdk.Schema{
		"smtp-oauth-ms": {
			{Name: "host", Type: sdk.TypeString, Required: true},
			{Name: "client_secret", Type: sdk.TypeString, Sensitive: true},
		},
		"smtp-basic": {
			{Name: "host", Type: sdk.TypeString, Required: true},
			{Name: "password", Type: sdk.TypeString, Sensitive: true},
		},
	}
	tests := []struct {
		name   string
		env    map[string]string
		golden string
	}{
		{
			name:   "env default",
			env:    map[string]string{"TOCSIN_TEST_SECRET": "from-the-environment"},
			golden: "testdata/full.golden.json",
		},
		{
			name:   "env set",
			env:    map[string]string{"TOCSIN_TEST_SECRET": "", "TOCSIN_TEST_FROM": "o365@contoso.example"},
			golden: "testdata/full-env.golden.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := loadWith("testdata/full/agent.hcl", tt.env)
			if len(diags) > 0 {
				t.Fatalf("Load: %s", render(t, cfg, diags))
			}
			for _, tr := range cfg.Transports {
				if diags := tr.DecodeSettings(schemas[tr.Plugin]); len(diags) > 0 {
					t.Fatalf("DecodeSettings(%s): %s", tr.Name, render(t, cfg, diags))
				}
			}
			golden(t, tt.golden, dump(t, cfg))
		})
	}

	// The same facts, checked directly rather than through the golden file.
	cfg, diags := loadWith("testdata/full/agent.hcl", map[string]string{"TOCSIN_TEST_SECRET": "x"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	dir := mustAbs(t, "testdata/full")
	want := Agent{
		Node:      "APPLIANCE-B",
		DataDir:   filepath.Join(dir, "state"),
		PluginDir: "/usr/lib/tocsin/plugins",
		Listen:    "0.0.0.0:9870",

		LocalPluginDir: filepath.Join(dir, "local-plugins"),
		LogLevel:       "debug",
		LogJSON:        true,
		Mute:           true,

		TokenKeyFile: filepath.Join(dir, "keys", "token.key"),
	}
	if cfg.Agent != want {
		t.Errorf("Agent = %+v, want %+v", cfg.Agent, want)
	}
	o365 := cfg.Transport("o365")
	if o365 == nil || o365.Path != filepath.Join(dir, "bin/tocsin-plugin-smtp-oauth-ms") ||
		o365.SHA256 != "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" ||
		o365.From != "Alerts <alerts@contoso.example>" {
		t.Errorf("transport o365 = %+v", o365)
	}
	if cfg.Transport("nope") != nil || cfg.Contact("nope") != nil {
		t.Error("lookup of an undeclared name is not nil")
	}
	relay := cfg.Transport("relay")
	if diags := relay.DecodeSettings(schemas["smtp-basic"]); diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := string(relay.Settings.JSON()); got != `{"host":"relay.contoso.example","password":"correct horse battery staple"}` {
		t.Errorf("relay settings = %s", got)
	}
	ops := cfg.Contact("ops")
	if ops == nil || !reflect.DeepEqual(ops.Via, []string{"o365", "relay"}) ||
		!reflect.DeepEqual(ops.Email, []string{"ops@contoso.example", "Oncall <oncall@contoso.example>"}) {
		t.Errorf("contact ops = %+v", ops)
	}
	if !reflect.DeepEqual(cfg.Files, []string{filepath.Join(dir, "agent.hcl")}) {
		t.Errorf("Files = %v", cfg.Files)
	}
	if _, ok := cfg.Sources["testdata/full/agent.hcl"]; !ok {
		t.Errorf("Sources has no testdata/full/agent.hcl: %v", cfg.Sources)
	}
}

func TestLoad_RealEnvironment(t *testing.T) {
	t.Setenv("TOCSIN_TEST_FROM", "env@contoso.example")
	t.Setenv("TOCSIN_TEST_SECRET", "")
	cfg, diags := Load("testdata/full/agent.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := cfg.Transport("o365").From; got != "Alerts <env@contoso.example>" {
		t.Errorf("From = %q", got)
	}
}

func TestLoad_RelativeToWorkingDirectory(t *testing.T) {
	t.Chdir("testdata")
	cfg, diags := loadWith("full", map[string]string{})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if got := cfg.Transport("relay").DeclRange.Filename; got != filepath.Join("full", "agent.hcl") {
		t.Errorf("range file name = %q, want the path as given joined with the file name", got)
	}
	if got, want := cfg.Agent.DataDir, mustAbs(t, "full/state"); got != want {
		t.Errorf("DataDir = %q, want %q", got, want)
	}
}

func TestDefaultConfig(t *testing.T) {
	def := DefaultConfig()
	host, err := os.Hostname()
	if err != nil {
		host = "localhost"
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want := Agent{
		Node:      host,
		DataDir:   "/var/lib/tocsin",
		PluginDir: filepath.Join(filepath.Dir(exe), "plugins"),
		Listen:    "127.0.0.1:9870",
		LogLevel:  "info",
	}
	if def.Agent != want {
		t.Errorf("DefaultConfig().Agent = %+v, want %+v", def.Agent, want)
	}

	cfg, diags := loadWith("testdata/minimal.hcl", nil)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if cfg.Agent != want {
		t.Errorf("Agent of a file without an agent block = %+v, want the defaults %+v", cfg.Agent, want)
	}
}

func TestLoad_Directory(t *testing.T) {
	cfg, diags := loadWith("testdata/merge", nil)
	if len(diags) > 0 {
		t.Fatalf("Load: %s", render(t, cfg, diags))
	}
	dir := mustAbs(t, "testdata/merge")
	var files []string
	for _, n := range []string{"10-agent.hcl", "15-more.hcl", "20-transports.hcl", "30-contacts.hcl"} {
		files = append(files, filepath.Join(dir, n))
	}
	if !reflect.DeepEqual(cfg.Files, files) {
		t.Errorf("Files = %v, want %v", cfg.Files, files)
	}
	def := DefaultConfig().Agent
	want := Agent{
		Node:      "appliance-a",              // 10-agent.hcl
		DataDir:   filepath.Join(dir, "data"), // 10-agent.hcl
		PluginDir: def.PluginDir,              // default
		Listen:    "127.0.0.1:9999",           // 20-transports.hcl
		LogLevel:  def.LogLevel,               // default
		Mute:      true,                       // 30-contacts.hcl
	}
	if cfg.Agent != want {
		t.Errorf("Agent = %+v, want %+v", cfg.Agent, want)
	}
	var names []string
	for _, tr := range cfg.Transports {
		names = append(names, tr.Name)
	}
	if want := []string{"backup", "relay", "o365"}; !reflect.DeepEqual(names, want) {
		t.Errorf("transports = %v, want file order %v", names, want)
	}
	if got := cfg.Contact("ops").Via; !reflect.DeepEqual(got, []string{"o365", "relay"}) {
		t.Errorf("via = %v", got)
	}
	for _, n := range []string{"10-agent.hcl", "15-more.hcl", "20-transports.hcl", "30-contacts.hcl"} {
		if _, ok := cfg.Sources[filepath.Join("testdata/merge", n)]; !ok {
			t.Errorf("Sources lacks %s", n)
		}
	}
}

func TestLoad_DirectorySkipsFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	broken := "this is { not hcl"
	write("b.hcl", `agent { node = "b" }`)
	write("a.hcl", `agent { listen = "127.0.0.1:1" }`)
	for _, n := range []string{".hidden.hcl", "#autosave.hcl", "~lock.hcl", "backup.hcl~", "notes.txt", "agent.hcl.example", "nested/c.hcl"} {
		write(n, broken)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.hcl"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nested"), filepath.Join(dir, "link.hcl")); err != nil {
		t.Fatal(err)
	}
	cfg, diags := loadWith(dir, nil)
	if len(diags) > 0 {
		t.Fatalf("Load: %s", render(t, cfg, diags))
	}
	want := []string{filepath.Join(dir, "a.hcl"), filepath.Join(dir, "b.hcl")}
	if !reflect.DeepEqual(cfg.Files, want) {
		t.Errorf("Files = %v, want %v", cfg.Files, want)
	}
	if cfg.Agent.Node != "b" || cfg.Agent.Listen != "127.0.0.1:1" {
		t.Errorf("Agent = %+v", cfg.Agent)
	}
}

func TestLoad_Errors(t *testing.T) {
	env := map[string]string{}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{
			name: "syntax error",
			path: "testdata/errors/syntax.hcl",
			want: []string{
				"testdata/errors/syntax.hcl:3:27: error: Invalid multi-line string",
				"testdata/errors/syntax.hcl:3:27: error: Unterminated template string",
				"testdata/errors/syntax.hcl:4:2: error: Invalid multi-line string",
			},
		},
		{
			name: "unknown block",
			path: "testdata/errors/unknown_block.hcl",
			want: []string{"testdata/errors/unknown_block.hcl:5:1: error: Unsupported block type"},
		},
		{
			name: "unknown attribute",
			path: "testdata/errors/unknown_attribute.hcl",
			want: []string{
				"testdata/errors/unknown_attribute.hcl:3:3: error: Unsupported argument",
				"testdata/errors/unknown_attribute.hcl:4:3: error: Unsupported argument",
			},
		},
		{
			name: "wrong type",
			path: "testdata/errors/wrong_type.hcl",
			want: []string{
				"testdata/errors/wrong_type.hcl:2:14: error: Incorrect attribute value type",
				"testdata/errors/wrong_type.hcl:7:11: error: Incorrect attribute value type",
			},
		},
		{
			name: "missing required",
			path: "testdata/errors/missing_required.hcl",
			want: []string{
				"testdata/errors/missing_required.hcl:1:19: error: Missing required argument",
				"testdata/errors/missing_required.hcl:5:15: error: Missing required argument",
			},
		},
		{
			name: "unset env var",
			path: "testdata/errors/unset_env.hcl",
			want: []string{"testdata/errors/unset_env.hcl:2:14: error: Error in function call"},
		},
		{
			name: "missing file",
			path: "testdata/errors/missing_file.hcl",
			want: []string{"testdata/errors/missing_file.hcl:2:16: error: Invalid function argument"},
		},
		{
			name: "duplicate transport",
			path: "testdata/errors/duplicate_transport.hcl",
			want: []string{"testdata/errors/duplicate_transport.hcl:6:11: error: Duplicate transport"},
		},
		{
			name: "duplicate config block",
			path: "testdata/errors/duplicate_config.hcl",
			want: []string{"testdata/errors/duplicate_config.hcl:7:3: error: Duplicate config block"},
		},
		{
			name: "duplicate agent argument",
			path: "testdata/errors/duplicate_agent_argument.hcl",
			want: []string{"testdata/errors/duplicate_agent_argument.hcl:10:3: error: Duplicate agent argument"},
		},
		{
			name: "unknown transport",
			path: "testdata/errors/unknown_transport.hcl",
			want: []string{
				"testdata/errors/unknown_transport.hcl:13:28: error: Contact names an unknown transport",
				"testdata/errors/unknown_transport.hcl:13:45: error: Contact names an unknown transport",
			},
		},
		{
			name: "bad listen",
			path: "testdata/errors/bad_listen.hcl",
			want: []string{"testdata/errors/bad_listen.hcl:2:12: error: Invalid listen address"},
		},
		{
			name: "token key in two places, bad env name",
			path: "testdata/errors/token_key.hcl",
			want: []string{
				"testdata/errors/token_key.hcl:3:3: error: Conflicting token key settings",
				"testdata/errors/token_key.hcl:3:20: error: Invalid environment variable name",
			},
		},
		{
			name: "bad log level",
			path: "testdata/errors/bad_log_level.hcl",
			want: []string{"testdata/errors/bad_log_level.hcl:2:15: error: Invalid log level"},
		},
		{
			name: "bad sha256",
			path: "testdata/errors/bad_sha256.hcl",
			want: []string{"testdata/errors/bad_sha256.hcl:4:12: error: Invalid sha256"},
		},
		{
			name: "bad rate_limit",
			path: "testdata/errors/bad_rate_limit.hcl",
			want: []string{"testdata/errors/bad_rate_limit.hcl:4:16: error: Invalid rate_limit"},
		},
		{
			name: "bad from",
			path: "testdata/errors/bad_from.hcl",
			want: []string{"testdata/errors/bad_from.hcl:3:12: error: Invalid email address"},
		},
		{
			name: "bad contact email",
			path: "testdata/errors/bad_email.hcl",
			want: []string{
				"testdata/errors/bad_email.hcl:9:5: error: Invalid email address",
				"testdata/errors/bad_email.hcl:15:11: error: No email address",
				"testdata/errors/bad_email.hcl:16:11: error: No transport",
			},
		},
		{
			name: "bad plugin name",
			path: "testdata/errors/bad_plugin_name.hcl",
			want: []string{"testdata/errors/bad_plugin_name.hcl:2:12: error: Invalid plugin name"},
		},
		{
			name: "bad labels",
			path: "testdata/errors/bad_label.hcl",
			want: []string{
				"testdata/errors/bad_label.hcl:1:11: error: Invalid transport name",
				"testdata/errors/bad_label.hcl:6:9: error: Missing name for contact",
			},
		},
		{
			name: "variables and bad references",
			path: "testdata/errors/variables.hcl",
			want: []string{
				"testdata/errors/variables.hcl:2:10: error: Variables not allowed",
				"testdata/errors/variables.hcl:12:12: error: Invalid transport reference",
				"testdata/errors/variables.hcl:12:25: error: Invalid transport reference",
				"testdata/errors/variables.hcl:12:47: error: Contact names an unknown transport",
			},
		},
		{
			name: "transport listed twice",
			path: "testdata/errors/via_twice.hcl",
			want: []string{"testdata/errors/via_twice.hcl:8:29: warning: Transport listed twice"},
		},
		{
			name: "conflicting files",
			path: "testdata/conflict",
			want: []string{
				"testdata/conflict/b.hcl:3:3: error: Duplicate agent argument",
				"testdata/conflict/b.hcl:6:11: error: Duplicate transport",
				"testdata/conflict/b.hcl:11:9: error: Duplicate contact",
			},
		},
		{
			name: "a file that does not parse",
			path: "testdata/partial",
			want: []string{
				"testdata/partial/a.hcl:3:12: error: Invalid expression",
				"testdata/partial/b.hcl:3:3: error: Unsupported argument",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := loadWith(tt.path, env)
			if cfg == nil {
				t.Fatal("Load returned a nil Config")
			}
			sameLines(t, "diagnostics", locations(diags), tt.want)
			out := render(t, cfg, diags)
			name := strings.TrimSuffix(filepath.Base(tt.path), ".hcl")
			golden(t, filepath.Join("testdata", "golden", "load-"+name+".txt"), []byte(out))
		})
	}
}

func TestLoad_ConflictNamesBothPlaces(t *testing.T) {
	cfg, diags := loadWith("testdata/conflict", nil)
	out := render(t, cfg, diags)
	for _, want := range []string{
		"on testdata/conflict/b.hcl:3:3:",
		"already set at testdata/conflict/a.hcl:2:3",
		"on testdata/conflict/b.hcl:6:11:",
		"already declared at testdata/conflict/a.hcl:5:11",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The first of each stays.
	if cfg.Agent.Node != "appliance-a" || cfg.Transport("relay").Plugin != "smtp-basic" {
		t.Errorf("the first declaration did not win: %+v, %+v", cfg.Agent, cfg.Transport("relay"))
	}
	// Settings that do not conflict still merge.
	if cfg.Agent.LogLevel != "warn" {
		t.Errorf("LogLevel = %q, want warn from b.hcl", cfg.Agent.LogLevel)
	}
}

func TestLoad_NoFiles(t *testing.T) {
	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "README"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		summary string
	}{
		{name: "empty directory", path: empty, summary: "No configuration files"},
		{name: "missing path", path: filepath.Join(empty, "nope.hcl"), summary: "Cannot read the configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := loadWith(tt.path, nil)
			if cfg == nil || len(diags) != 1 || diags[0].Summary != tt.summary {
				t.Fatalf("diags = %v, want one %q", diags, tt.summary)
			}
			if s := diags[0].Subject; s == nil || s.Filename != tt.path {
				t.Errorf("subject = %v, want the path", s)
			}
			var b strings.Builder
			if err := cfg.WriteDiagnostics(&b, diags); err != nil || !strings.Contains(b.String(), tt.path) {
				t.Errorf("rendered %q, %v", b.String(), err)
			}
		})
	}
}

// TestDefaultConfig_PluginDirs: the packaged executable finds the bundled
// plugins in /usr/lib/tocsin/plugins and third-party ones in
// /usr/local/lib/tocsin/plugins; any other executable finds them in
// "plugins" beside it and has no local directory, so that a build from
// source never runs what /usr/local holds. A file's settings win; a
// relative local_plugin_dir is relative to its file, and "" turns it off.
func TestDefaultConfig_PluginDirs(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bare := write("bare.hcl", "")
	bundledOnly := write("bundled.hcl", "agent {\n  plugin_dir = \"/opt/tocsin/plugins\"\n}\n")
	relative := write("relative.hcl", "agent {\n  local_plugin_dir = \"mine\"\n}\n")
	off := write("off.hcl", "agent {\n  local_plugin_dir = \"\"\n}\n")

	for _, tt := range []struct {
		name, exe, file    string
		err                error
		wantDir, wantLocal string
	}{
		{name: "packaged", exe: "/usr/bin/tocsin", wantDir: "/usr/lib/tocsin/plugins", wantLocal: "/usr/local/lib/tocsin/plugins"},
		{name: "packaged, no agent block", exe: "/usr/bin/tocsin", file: bare, wantDir: "/usr/lib/tocsin/plugins", wantLocal: "/usr/local/lib/tocsin/plugins"},
		{name: "packaged, plugin_dir set", exe: "/usr/bin/tocsin", file: bundledOnly, wantDir: "/opt/tocsin/plugins", wantLocal: "/usr/local/lib/tocsin/plugins"},
		{name: "packaged, local_plugin_dir relative", exe: "/usr/bin/tocsin", file: relative, wantDir: "/usr/lib/tocsin/plugins", wantLocal: filepath.Join(dir, "mine")},
		{name: "packaged, local_plugin_dir off", exe: "/usr/bin/tocsin", file: off, wantDir: "/usr/lib/tocsin/plugins"},
		{name: "elsewhere", exe: "/home/op/tocsin/bin/tocsin", wantDir: "/home/op/tocsin/bin/plugins"},
		{name: "elsewhere in /usr/bin", exe: "/usr/bin/tocsin-dev", wantDir: "/usr/bin/plugins"},
		{name: "elsewhere, local_plugin_dir set", exe: "/home/op/tocsin/bin/tocsin", file: relative, wantDir: "/home/op/tocsin/bin/plugins", wantLocal: filepath.Join(dir, "mine")},
		{name: "executable unknown", err: os.ErrNotExist, wantDir: filepath.Join(cwd, "plugins")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			was := executable
			t.Cleanup(func() { executable = was })
			executable = func() (string, error) { return tt.exe, tt.err }
			a := DefaultConfig().Agent
			if tt.file != "" {
				cfg, diags := Load(tt.file)
				if diags.HasErrors() {
					t.Fatal(diags)
				}
				a = cfg.Agent
			}
			if a.PluginDir != tt.wantDir || a.LocalPluginDir != tt.wantLocal {
				t.Errorf("plugin_dir %q, local_plugin_dir %q; want %q, %q", a.PluginDir, a.LocalPluginDir, tt.wantDir, tt.wantLocal)
			}
		})
	}
}
