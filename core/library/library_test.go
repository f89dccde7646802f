package library

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	rulefiles "github.com/tocsin-dev/tocsin/rules"
)

// TestRules_Files keeps the library's files and their headers in step:
// one rule per file, named as the file, each with a valid header saying
// what it needs, and each with a test file.
func TestRules_Files(t *testing.T) {
	list := Rules()
	if len(list) == 0 {
		t.Fatal("the library embeds no rule file")
	}
	names := RuleNames()
	if !sort.StringsAreSorted(names) || len(names) != len(list) {
		t.Errorf("RuleNames = %v", names)
	}
	for _, r := range list {
		if r.Err != nil {
			t.Errorf("%s: %v", r.File, r.Err)
		}
		if r.Needs != "" && !isSetting(r.Needs) && r.Needs != NeedStaticRole && r.Needs != NeedObservedRole {
			t.Errorf("%s needs %q", r.File, r.Needs)
		}
	}
	for _, f := range rulefiles.Files() {
		file, diags := hclsyntax.ParseConfig(f.Src, f.Name, hcl.InitialPos)
		if diags.HasErrors() {
			t.Errorf("%s: %v", f.Name, diags)
			continue
		}
		blocks := file.Body.(*hclsyntax.Body).Blocks
		if len(blocks) != 1 || blocks[0].Type != "rule" || blocks[0].Labels[0]+".hcl" != f.Name {
			t.Errorf("%s must hold one rule named after the file", f.Name)
		}
		test := filepath.Join("..", "..", rulefiles.Dir, strings.TrimSuffix(f.Name, ".hcl")+"_test.hcl")
		if _, err := os.Stat(test); err != nil {
			t.Errorf("%s has no test file: %v", f.Name, err)
		}
	}
}

func TestLibraryExpr(t *testing.T) {
	static := cty.ObjectVal(map[string]cty.Value{
		"peer_url":   cty.StringVal("http://x"),
		"backup_ops": cty.UnknownVal(cty.Bool),
	})
	parse := func(src string) hcl.Expression {
		e, diags := hclsyntax.ParseExpression([]byte(src), "r.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return e
	}
	ops := parse("check.product.ok")
	tests := []struct {
		name    string
		expr    string
		ctx     map[string]cty.Value
		want    cty.Value
		wantErr string
	}{
		{name: "a setting", expr: "library.peer_url", want: cty.StringVal("http://x")},
		{name: "the context's variables", expr: "node.role", ctx: map[string]cty.Value{"node": cty.ObjectVal(map[string]cty.Value{"role": cty.StringVal("backup")})}, want: cty.StringVal("backup")},
		{name: "backup_ops evaluated in the context", expr: "!library.backup_ops",
			ctx:  map[string]cty.Value{"check": cty.ObjectVal(map[string]cty.Value{"product": cty.ObjectVal(map[string]cty.Value{"ok": cty.False})})},
			want: cty.True},
		{name: "backup_ops unknown", expr: "library.backup_ops",
			ctx:  map[string]cty.Value{"check": cty.ObjectVal(map[string]cty.Value{"product": cty.UnknownVal(cty.Object(map[string]cty.Type{"ok": cty.Bool}))})},
			want: cty.UnknownVal(cty.Bool)},
		{name: "backup_ops null", expr: "library.backup_ops",
			ctx:     map[string]cty.Value{"check": cty.ObjectVal(map[string]cty.Value{"product": cty.ObjectVal(map[string]cty.Value{"ok": cty.NullVal(cty.Bool)})})},
			wantErr: "Invalid backup_ops"},
		{name: "backup_ops fails", expr: "library.backup_ops", ctx: map[string]cty.Value{"check": cty.EmptyObjectVal},
			wantErr: "Unsupported attribute"},
		{name: "backup_ops is not evaluated when not read", expr: "library.peer_url", ctx: map[string]cty.Value{"check": cty.EmptyObjectVal},
			want: cty.StringVal("http://x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLibraryExpr(parse(tt.expr), static, ops)
			v, diags := e.Value(&hcl.EvalContext{Variables: tt.ctx})
			if tt.wantErr != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tt.wantErr) {
					t.Fatalf("diagnostics = %v, want %q", diags, tt.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if !v.RawEquals(tt.want) {
				t.Errorf("value = %#v, want %#v", v, tt.want)
			}
			for _, tr := range e.Variables() {
				if tr.RootName() == "library" {
					t.Errorf("Variables lists %s", tr.RootName())
				}
			}
		})
	}
	if _, diags := newLibraryExpr(parse("library.peer_url"), static, nil).Value(nil); diags.HasErrors() {
		t.Errorf("nil context: %v", diags)
	}
}

func TestSelfURL(t *testing.T) {
	for listen, want := range map[string]string{
		"":               "http://127.0.0.1:9870/healthz",
		"0.0.0.0:9870":   "http://127.0.0.1:9870/healthz",
		":9000":          "http://127.0.0.1:9000/healthz",
		"[::]:9870":      "http://[::1]:9870/healthz",
		"10.0.0.5:9870":  "http://10.0.0.5:9870/healthz",
		"localhost:1234": "http://localhost:1234/healthz",
	} {
		if got := selfURL(listen, false); got != want {
			t.Errorf("selfURL(%q) = %q, want %q", listen, got, want)
		}
	}
	if got, want := selfURL("0.0.0.0:9870", true), "https://127.0.0.1:9870/healthz"; got != want {
		t.Errorf("selfURL with TLS = %q, want %q", got, want)
	}
}

func TestHostPort(t *testing.T) {
	tests := []struct{ host, peer, want string }{
		{"a.example.com", "http://192.0.2.1:9870", "a.example.com:9870"},
		{"a.example.com", "https://192.0.2.1", "a.example.com:443"},
		{"a.example.com", "http://192.0.2.1", "a.example.com:80"},
		{"a.example.com:8443", "http://192.0.2.1:9870", "a.example.com:8443"},
		{"2001:db8::1", "http://[2001:db8::2]:9870", "[2001:db8::1]:9870"},
	}
	for _, tt := range tests {
		if got := hostPort(tt.host, tt.peer); got != tt.want {
			t.Errorf("hostPort(%q, %q) = %q, want %q", tt.host, tt.peer, got, tt.want)
		}
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name, src     string
		needs, notify string
		wantErr       bool
	}{
		{name: "a setting", src: "# r: what it does\n#\n# needs: version\nrule \"r\" {}\n", needs: "version", notify: "notify"},
		{name: "none", src: "# needs: none\nrule \"r\" {}\n", needs: "", notify: "notify"},
		{name: "the role", src: "# needs: observed role\n", needs: NeedObservedRole, notify: "notify"},
		{name: "its own contacts", src: "# needs: delivery_alert_contact\n# notify: delivery_alert_contact\n", needs: "delivery_alert_contact", notify: "delivery_alert_contact"},
		{name: "no needs line", src: "# r: what it does\nrule \"r\" {}\n", wantErr: true},
		{name: "a needs line after the header", src: "# r\nrule \"r\" {}\n# needs: version\n", wantErr: true},
		{name: "an unknown setting", src: "# needs: versoin\n", wantErr: true},
		{name: "needs twice", src: "# needs: version\n# needs: none\n", wantErr: true},
		{name: "notify names no setting", src: "# needs: none\n# notify: contact.ops\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needs, notify, err := parseHeader([]byte(tt.src))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (needs != tt.needs || notify != tt.notify) {
				t.Errorf("needs %q, notify %q; want %q, %q", needs, notify, tt.needs, tt.notify)
			}
		})
	}
}

// TestOverdueAfter: library.takeover_overdue_after, the for of
// takeover_overdue, is takeover_after and TakeoverGrace, written as the
// operator writes a duration.
func TestOverdueAfter(t *testing.T) {
	for in, want := range map[string]string{
		DefaultTakeoverAfter: "10m",
		"90s":                "6m30s",
		"1h":                 "1h5m",
		"55m":                "1h",
		"1d":                 "24h5m",
		"":                   "",
		"soon":               "",
		"-5m":                "",
	} {
		if got := overdueAfter(in); got != want {
			t.Errorf("overdueAfter(%q) = %q, want %q", in, got, want)
		}
	}
	lib := &Block{takeoverAfter: "1h"}
	if got := lib.staticValue().GetAttr("takeover_overdue_after"); !got.RawEquals(cty.StringVal("1h5m")) {
		t.Errorf("library.takeover_overdue_after = %#v", got)
	}
}
