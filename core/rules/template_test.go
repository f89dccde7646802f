package rules

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
)

// templateVars are facts with hostile strings.
func templateVars() map[string]cty.Value {
	return map[string]cty.Value{
		"check": cty.ObjectVal(map[string]cty.Value{
			"web": cty.ObjectVal(map[string]cty.Value{
				"body":    cty.StringVal("<script>alert('x')</script> & \"more\""),
				"latency": cty.NumberFloatVal(0.25),
				"ok":      cty.False,
				"lines":   cty.ListVal([]cty.Value{cty.StringVal("<a>"), cty.StringVal("b")}),
				"headers": cty.MapVal(map[string]cty.Value{"<k>": cty.StringVal("<v>")}),
				"tags":    cty.SetVal([]cty.Value{cty.StringVal("<t>")}),
				"missing": cty.NullVal(cty.String),
				"later":   cty.UnknownVal(cty.String),
				"secret":  cty.StringVal("<s>").Mark("sensitive"),
			}),
		}),
		"node": cty.ObjectVal(map[string]cty.Value{
			"name":    cty.StringVal("appliance-b"),
			"version": cty.StringVal("4.2\r\nBcc: victim@example.com"),
		}),
	}
}

func TestRender(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name    string
		src     string
		mode    Mode
		want    string
		wantErr string
	}{
		{name: "html escapes values, not literal markup", mode: ModeHTML,
			src:  `<b>${check.web.body}</b>`,
			want: "<b>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;more&#34;</b>"},
		{name: "html brief example", mode: ModeHTML,
			src: `<b>${upper("x")}${check.web.lines[0]}</b>`, want: "<b>X&lt;a&gt;</b>"},
		{name: "html for directive", mode: ModeHTML,
			src:  `<ul>%{ for l in check.web.lines }<li>${l}</li>%{ endfor }</ul>`,
			want: "<ul><li>&lt;a&gt;</li><li>b</li></ul>"},
		{name: "html map key escaped", mode: ModeHTML,
			src: `%{ for k, v in check.web.headers }${k}=${v}%{ endfor }`, want: "&lt;k&gt;=&lt;v&gt;"},
		{name: "html set", mode: ModeHTML, src: `${join(",", check.web.tags)}`, want: "&lt;t&gt;"},
		{name: "html marked value", mode: ModeHTML, src: `${check.web.secret}`, want: "&lt;s&gt;"},
		{name: "html number", mode: ModeHTML, src: `${check.web.latency}s`, want: "0.25s"},
		{name: "text is as is", mode: ModeText, src: `${check.web.body}`, want: "<script>alert('x')</script> & \"more\""},
		{name: "text keeps newlines", mode: ModeText, src: "a\n${node.name}\n", want: "a\nappliance-b\n"},
		{name: "subject header injection", mode: ModeSubject,
			src: `Version ${node.version} on ${node.name}`, want: "Version 4.2  Bcc: victim@example.com on appliance-b"},
		{name: "subject trimmed", mode: ModeSubject, src: "  \n hello \t", want: "hello"},
		{name: "subject nul and nel", mode: ModeSubject, src: "a\x00b\u0085c\u2028d", want: "a b c d"},
		{name: "subject capped", mode: ModeSubject, src: long, want: strings.Repeat("é", MaxSubjectRunes-1) + "…"},
		{name: "subject exactly max", mode: ModeSubject, src: long[:2*MaxSubjectRunes], want: long[:2*MaxSubjectRunes]},
		{name: "number result", mode: ModeText, src: `${check.web.latency}`, want: "0.25"},
		{name: "bool result", mode: ModeSubject, src: `${check.web.ok}`, want: "false"},
		{name: "list result", mode: ModeText, src: `${check.web.lines}`, wantErr: "must produce a string, not list of string"},
		{name: "null result", mode: ModeText, src: `${check.web.missing}`, wantErr: "null"},
		{name: "unknown result", mode: ModeText, src: `${check.web.later}`, wantErr: "not known"},
		{name: "unknown variable", mode: ModeHTML, src: `x ${chek.web.body}`, wantErr: "render html: rules.hcl:1:5: Unknown variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(mustTemplate(t, tt.src), evalCtx(templateVars()), tt.mode)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Render = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Render =\n%q\nwant\n%q", got, tt.want)
			}
			if tt.mode == ModeSubject && (strings.ContainsAny(got, "\r\n") || utf8.RuneCountInString(got) > MaxSubjectRunes) {
				t.Fatalf("unsafe subject %q", got)
			}
		})
	}
}

func TestRender_HTMLLeavesContextAlone(t *testing.T) {
	vars := templateVars()
	ctx := evalCtx(vars)
	if _, err := Render(mustTemplate(t, `${check.web.body}`), ctx, ModeHTML); err != nil {
		t.Fatal(err)
	}
	body := ctx.Variables["check"].GetAttr("web").GetAttr("body").AsString()
	if !strings.HasPrefix(body, "<script>") {
		t.Fatalf("the caller's context was modified: %q", body)
	}
}

func TestRender_HTMLParentContext(t *testing.T) {
	parent := evalCtx(map[string]cty.Value{"a": cty.StringVal("<p>"), "b": cty.StringVal("<shadowed>")})
	child := parent.NewChild()
	child.Variables = map[string]cty.Value{"b": cty.StringVal("<b>")}
	got, err := Render(mustTemplate(t, `${a}${b}${lower("X")}`), child, ModeHTML)
	if err != nil || got != "&lt;p&gt;&lt;b&gt;x" {
		t.Fatalf("Render = %q, %v", got, err)
	}
}

func TestRender_Misuse(t *testing.T) {
	if _, err := Render(nil, nil, ModeText); err == nil {
		t.Error("nil expression: want an error")
	}
	if _, err := Render(mustTemplate(t, "x"), nil, Mode(9)); err == nil {
		t.Error("unknown mode: want an error")
	}
	if got, err := Render(mustTemplate(t, "<x>"), nil, ModeHTML); err != nil || got != "<x>" {
		t.Errorf("nil context: %q, %v", got, err)
	}
}

func TestEscapeHTMLValues(t *testing.T) {
	in := cty.ObjectVal(map[string]cty.Value{
		"s":    cty.StringVal("a<b"),
		"n":    cty.NumberIntVal(3),
		"null": cty.NullVal(cty.String),
		"unk":  cty.UnknownVal(cty.String),
		"tup":  cty.TupleVal([]cty.Value{cty.StringVal("&"), cty.True}),
		"list": cty.ListValEmpty(cty.String),
		"a<b":  cty.StringVal("plain"),
		"mark": cty.StringVal(`"q"`).Mark("sensitive"),
		"nest": cty.ListVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"x": cty.StringVal(">")})}),
	})
	out := EscapeHTMLValues(in)
	check := func(got cty.Value, want string) {
		t.Helper()
		if got.AsString() != want {
			t.Errorf("got %q, want %q", got.AsString(), want)
		}
	}
	check(out.GetAttr("s"), "a&lt;b")
	check(out.GetAttr("tup").Index(cty.NumberIntVal(0)), "&amp;")
	check(out.GetAttr("a&lt;b"), "plain")
	check(out.GetAttr("nest").Index(cty.NumberIntVal(0)).GetAttr("x"), "&gt;")
	m := out.GetAttr("mark")
	if !m.HasMark("sensitive") {
		t.Error("mark lost")
	}
	um, _ := m.Unmark()
	check(um, "&#34;q&#34;")
	if !out.GetAttr("null").IsNull() || out.GetAttr("unk").IsKnown() || !out.GetAttr("n").RawEquals(cty.NumberIntVal(3)) {
		t.Errorf("non-strings changed: %#v", out)
	}
	if in.GetAttr("s").AsString() != "a<b" {
		t.Error("input modified")
	}
	plain := cty.ObjectVal(map[string]cty.Value{"x": cty.StringVal("fine")})
	if got := EscapeHTMLValues(plain); !got.RawEquals(plain) {
		t.Error("a value without special characters changed")
	}
	if got := EscapeHTMLValues(cty.NilVal); got != cty.NilVal {
		t.Error("NilVal changed")
	}
}
