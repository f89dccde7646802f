package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func specsOrFatal(t *testing.T) []cmdSpec {
	t.Helper()
	specs, err := commandSpecs()
	if err != nil {
		t.Fatal(err)
	}
	return specs
}

// TestCommandSpecs_FlagsMatchHelp holds every command's help to its flag
// set: completion and the man page take the flags from the one and their
// words from the other.
func TestCommandSpecs_FlagsMatchHelp(t *testing.T) {
	specs := specsOrFatal(t)
	visible := 0
	for name := range newCLI(nil, nil, nil).commands() {
		if name != "__complete" {
			visible++
		}
	}
	if len(specs) != visible {
		t.Fatalf("%d specs for %d visible commands", len(specs), visible)
	}
	for _, s := range specs {
		for _, f := range s.flags {
			if !f.documented {
				t.Errorf("%s: flag -%s is not in the Options of its help", s.name, f.name)
			}
			if !f.boolean && f.metavar == "" {
				t.Errorf("%s: flag -%s takes a value but its help names none", s.name, f.name)
			}
		}
		for name := range helpOptions(s.help) {
			if !hasFlag(s, name) {
				t.Errorf("%s: the help lists -%s, which the command does not define", s.name, name)
			}
		}
	}
}

func hasFlag(s cmdSpec, name string) bool {
	for _, f := range s.flags {
		if f.name == name {
			return true
		}
	}
	return false
}

func specNamed(t *testing.T, specs []cmdSpec, name string) cmdSpec {
	t.Helper()
	for _, s := range specs {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no command %q", name)
	return cmdSpec{}
}

func TestCommandSpecs_ReadFromHelp(t *testing.T) {
	specs := specsOrFatal(t)
	tests := []struct {
		cmd, flag, metavar, completer string
		boolean                       bool
	}{
		{cmd: "test-send", flag: "transport", metavar: "NAME", completer: "transports"},
		{cmd: "oauth login", flag: "transport", metavar: "NAME", completer: "transports"},
		{cmd: "run", flag: "dev", boolean: true},
		{cmd: "run", flag: "dev-dir", metavar: "DIR", completer: "dirs"},
		{cmd: "validate", flag: "config", metavar: "PATH", completer: "files"},
		{cmd: "outbox list", flag: "state", metavar: "S", completer: "choices"},
		{cmd: "silence add", flag: "for", metavar: "DURATION"},
		{cmd: "silence add", flag: "all", boolean: true},
		{cmd: "plugins", flag: "plugin-dir", metavar: "DIR", completer: "dirs"},
	}
	for _, tt := range tests {
		var got *flagSpec
		for _, f := range specNamed(t, specs, tt.cmd).flags {
			if f.name == tt.flag {
				got = &f
			}
		}
		if got == nil {
			t.Errorf("%s: no flag -%s", tt.cmd, tt.flag)
			continue
		}
		if got.boolean != tt.boolean || got.metavar != tt.metavar || valueCompleter(*got) != tt.completer {
			t.Errorf("%s -%s = boolean %v, metavar %q, completer %q; want %v, %q, %q", tt.cmd, tt.flag,
				got.boolean, got.metavar, valueCompleter(*got), tt.boolean, tt.metavar, tt.completer)
		}
	}
	for _, f := range specNamed(t, specs, "outbox list").flags {
		if f.name == "state" && strings.Join(f.choices, " ") != "pending dead" {
			t.Errorf("outbox list -state choices = %v", f.choices)
		}
	}
	args := []struct {
		cmd  string
		want argSpec
	}{
		{"rules test", argSpec{kind: argFiles, many: true}},
		{"fmt", argSpec{kind: argFiles, many: true}},
		{"man", argSpec{kind: argDirs}},
		{"completion", argSpec{kind: argWords, words: []string{"bash", "zsh"}}},
		{"outbox show", argSpec{kind: argNone}},
		{"silence add", argSpec{kind: argNone}},
		{"silence expire", argSpec{kind: argNone}},
		{"run", argSpec{kind: argNone}},
	}
	for _, tt := range args {
		got := specNamed(t, specs, tt.cmd).args
		if got.kind != tt.want.kind || got.many != tt.want.many || strings.Join(got.words, " ") != strings.Join(tt.want.words, " ") {
			t.Errorf("%s: args = %+v, want %+v", tt.cmd, got, tt.want)
		}
	}
	if got := specNamed(t, specs, "outbox").subcommands; strings.Join(got, " ") != "drop list recover retry show" {
		t.Errorf("outbox subcommands = %v", got)
	}
	if got := specNamed(t, specs, "silence").subcommands; strings.Join(got, " ") != "add expire list" {
		t.Errorf("silence subcommands = %v", got)
	}
}

// sections splits a completion script at the case labels of the
// commands: label is how the script writes a command's label.
func sections(t *testing.T, script string, specs []cmdSpec, label func(string) string) map[string]string {
	t.Helper()
	type at struct {
		name string
		pos  int
	}
	var starts []at
	for _, s := range specs {
		i := strings.Index(script, label(s.name))
		if i < 0 {
			t.Errorf("the script has no entry for %q", s.name)
			continue
		}
		starts = append(starts, at{s.name, i})
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].pos < starts[j].pos })
	out := map[string]string{}
	for i, s := range starts {
		end := len(script)
		if i+1 < len(starts) {
			end = starts[i+1].pos
		}
		out[s.name] = script[s.pos:end]
	}
	return out
}

// TestCompletion_EveryCommandAndFlag fails when a command of the table,
// or one of its flags or subcommands, is missing from a script.
func TestCompletion_EveryCommandAndFlag(t *testing.T) {
	specs := specsOrFatal(t)
	labels := map[string]func(string) string{
		"bash": func(n string) string { return "\n    '" + n + "')\n" },
		"zsh":  func(n string) string { return "\n    ('" + n + "')\n" },
	}
	for shell, label := range labels {
		r := runCLI(t, "completion", shell)
		if r.code != exitOK {
			t.Fatalf("completion %s = %d: %s", shell, r.code, r.stderr)
		}
		secs := sections(t, r.stdout, specs, label)
		for _, s := range specs {
			sec := secs[s.name]
			for _, f := range s.flags {
				if !strings.Contains(sec, "-"+f.name+" ") && !strings.Contains(sec, "-"+f.name+"'") && !strings.Contains(sec, "'-"+f.name+"[") {
					t.Errorf("%s: %s: no flag -%s in\n%s", shell, s.name, f.name, sec)
				}
			}
			for _, sub := range s.subcommands {
				if !strings.Contains(sec, sub) {
					t.Errorf("%s: %s: no subcommand %s", shell, s.name, sub)
				}
			}
		}
		top := topCommands(specs)
		if shell == "bash" && !strings.Contains(r.stdout, "_tocsin_words '"+strings.Join(top, " ")+"'") {
			t.Errorf("bash: the top-level commands are not %v", top)
		}
		for _, name := range top {
			if shell == "zsh" && !strings.Contains(r.stdout, "\n        '"+name+":") {
				t.Errorf("zsh: no top-level command %s", name)
			}
		}
		if strings.Contains(r.stdout, "'__complete'") {
			t.Errorf("%s: the hidden __complete is offered", shell)
		}
	}
}

func TestCompletion_Usage(t *testing.T) {
	for _, args := range [][]string{{"completion"}, {"completion", "fish"}, {"completion", "bash", "zsh"}} {
		if r := runCLI(t, args...); r.code != exitUsage || !strings.Contains(r.stderr, "Usage: tocsin completion") {
			t.Errorf("%v = %d %q", args, r.code, r.stderr)
		}
	}
}

// checkSyntax runs shell -n on script, skipping when shell is missing.
func checkSyntax(t *testing.T, shell, script string) {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("no %s: %v", shell, err)
	}
	file := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, "-n", file).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("%s -n: %v\n%s", shell, err, out)
	}
}

func TestCompletion_BashSyntax(t *testing.T) {
	checkSyntax(t, "bash", runCLI(t, "completion", "bash").stdout)
}

func TestCompletion_ZshSyntax(t *testing.T) {
	checkSyntax(t, "zsh", runCLI(t, "completion", "zsh").stdout)
}

// TestCompletion_Bash runs the bash script's completion function on
// command lines, as bash does on TAB.
func TestCompletion_Bash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "tocsin.bash")
	if err := os.WriteFile(script, []byte(runCLI(t, "completion", "bash").stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"a.hcl", "b.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := filepath.Abs("testdata/valid/agent.hcl")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		line string // the words, the last one being completed
		want string
		// needsBin is set when the completion calls tocsin back.
		needsBin bool
	}{
		{name: "commands", line: "tocsin ou", want: "outbox"},
		{name: "all commands", line: "tocsin ", want: "completion fmt identity man oauth outbox plugin plugins rules run silence state test-send validate version"},
		{name: "subcommands", line: "tocsin outbox r", want: "recover retry"},
		{name: "flags", line: "tocsin test-send -t", want: "-timeout -to -transport"},
		{name: "flags without a dash", line: "tocsin validate ", want: "-config"},
		{name: "choices", line: "tocsin outbox list -state ", want: "pending dead"},
		{name: "a value", line: "tocsin test-send -to ", want: ""},
		{name: "after a boolean", line: "tocsin run -dev -", want: "-config -dev -dev-dir"},
		{name: "shells", line: "tocsin completion ", want: "bash zsh"},
		{name: "files", line: "tocsin fmt " + dir + "/a", want: dir + "/a.hcl"},
		{name: "flags of fmt", line: "tocsin fmt -", want: "-check -diff"},
		{name: "plugin subcommands", line: "tocsin plugin ", want: "check"},
		{name: "flags of plugin check", line: "tocsin plugin check -", want: "-config -json -timeout -v"},
		{name: "transports", line: "tocsin test-send -config " + cfg + " -transport ", want: "relay", needsBin: true},
		{name: "a config", line: "tocsin oauth login -transport r -config " + cfg, want: cfg},
		{name: "transports, with a prefix", line: "tocsin oauth login -config " + cfg + " -transport r", want: "relay", needsBin: true},
		{name: "transports, no such config", line: "tocsin test-send -config /nonexistent -transport ", want: "", needsBin: true},
	}
	bin := os.Getenv("TOCSIN_BIN_DIR")
	fakePlugins(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			words := strings.Split(tt.line, " ")
			if tt.needsBin {
				if bin == "" {
					t.Skip("TOCSIN_BIN_DIR (set by make test) names the built tocsin")
				}
				words[0] = filepath.Join(bin, "tocsin")
			}
			var quoted []string
			for _, w := range words {
				quoted = append(quoted, shSingle(w))
			}
			prog := "source " + shSingle(script) + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
				"COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n_tocsin\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
			out, err := exec.Command(bash, "-c", prog).CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			got := strings.Join(strings.Fields(string(out)), " ")
			if got != tt.want {
				t.Errorf("%q completes to %q, want %q", tt.line, got, tt.want)
			}
		})
	}
}

// fakePlugins makes testdata/valid/agent.hcl load without building the
// plugins: loading wants the plugin's file, not a working plugin.
func fakePlugins(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tocsin-plugin-smtp-basic"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOCSIN_TEST_PLUGIN_DIR", dir)
	t.Setenv("TOCSIN_TEST_PASSWORD", "unused")
}

func TestComplete_Transports(t *testing.T) {
	fakePlugins(t)
	r := runCLI(t, "__complete", "transports", "-config", "testdata/valid/agent.hcl")
	if r.code != exitOK || r.stdout != "relay\n" || r.stderr != "" {
		t.Errorf("__complete transports = %d %q %q", r.code, r.stdout, r.stderr)
	}
	// The examples together are not one valid configuration (an agent
	// block each), but their transports are read.
	r = runCLI(t, "__complete", "transports", "-config", "../../examples")
	if r.code != exitError || r.stdout != "gmail\ngoogle\nrelay\nsecond_relay\ngraph\nm365\nteams\nmail\n" || r.stderr != "" {
		t.Errorf("__complete transports = %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "__complete", "transports", "-config", filepath.Join(t.TempDir(), "none.hcl"))
	if r.code != exitError || r.stdout != "" || r.stderr != "" {
		t.Errorf("__complete transports, no config = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "__complete", "contacts"); r.code != exitUsage {
		t.Errorf("__complete contacts = %d", r.code)
	}
	if r := runCLI(t); strings.Contains(r.stderr, "__complete") {
		t.Errorf("the help shows the hidden __complete:\n%s", r.stderr)
	}
}

// TestBuild_CompletionAndMan checks what make build generated into bin/:
// the scripts as the commands make them now, and a man page with every
// command.
func TestBuild_CompletionAndMan(t *testing.T) {
	bin := os.Getenv("TOCSIN_BIN_DIR")
	if bin == "" {
		t.Skip("TOCSIN_BIN_DIR (set by make test) names the built tocsin")
	}
	for file, shell := range map[string]string{"completion/tocsin.bash": "bash", "completion/_tocsin": "zsh"} {
		got, err := os.ReadFile(filepath.Join(bin, file))
		if err != nil {
			t.Fatalf("%v (make build generates it)", err)
		}
		if want := runCLI(t, "completion", shell).stdout; string(got) != want {
			t.Errorf("%s differs from tocsin completion %s: run make build", file, shell)
		}
	}
	got, err := os.ReadFile(filepath.Join(bin, "man", "tocsin.1"))
	if err != nil {
		t.Fatalf("%v (make build generates it)", err)
	}
	_, gotBody, _ := strings.Cut(string(got), "\n.nh\n")
	_, wantBody, _ := strings.Cut(runCLI(t, "man").stdout, "\n.nh\n")
	if gotBody != wantBody || gotBody == "" {
		t.Errorf("bin/man/tocsin.1 differs from tocsin man: run make build")
	}
}

// TestCompletion_Zsh types command lines and TAB into an interactive zsh
// (on a pseudo-terminal, zsh/zpty) with the script loaded, and waits for
// the completions each must list.
func TestCompletion_Zsh(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("no zsh (apt-get install zsh)")
	}
	bin := os.Getenv("TOCSIN_BIN_DIR")
	if bin == "" {
		t.Skip("TOCSIN_BIN_DIR (set by make test) names the built tocsin")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "_tocsin")
	if err := os.WriteFile(script, []byte(runCLI(t, "completion", "zsh").stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	tocsin := filepath.Join(bin, "tocsin")
	tests := []struct {
		line string
		// want is a zsh pattern that the listing must match.
		want string
	}{
		{line: "", want: "*completion*--*test-send*--*version*"},
		{line: "outbox ", want: "*drop*--*Delete*recover*--*Salvage*"},
		{line: "outbox list -state ", want: "*dead*pending*"},
		{line: "run -", want: "*-dev-dir*--*Dev mode*"},
		{line: "test-send -config " + examples + " -transport ", want: "*gmail*m365*second_relay*"},
		{line: "completion ", want: "*bash*zsh*"},
	}
	var b strings.Builder
	b.WriteString("zmodload zsh/zpty\nzpty z 'TERM=dumb zsh -f -i'\n")
	// The prompt, READY# or READY%, does not match its own definition.
	// Listings run along the rows, so that the patterns' order (sorted)
	// holds however many columns the names take.
	fmt.Fprintf(&b, "zpty -w z %s\n", shSingle(`PS1="READY%# "; autoload -U compinit; compinit -u -D; source `+shSingle(script)+`; zstyle ":completion:*" list-prompt ""; zstyle ":completion:*" list-rows-first true`))
	b.WriteString("zpty -r z out '*READY[%#] *'\n")
	for _, tt := range tests {
		fmt.Fprintf(&b, "print -r -- %s\n", shSingle("case: "+tt.line))
		fmt.Fprintf(&b, "zpty -w -n z $'\\C-u'%s$'\\t'\n", shSingle(tocsin+" "+tt.line))
		fmt.Fprintf(&b, "zpty -r z out %s\n", shSingle(tt.want))
	}
	b.WriteString("zpty -d z\nprint done\n")
	file := filepath.Join(dir, "drive.zsh")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, zsh, "-f", file).CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "done\n") {
		// The last case printed is the one whose listing never came.
		t.Errorf("zsh: %v\n%s", err, out)
	}
}
