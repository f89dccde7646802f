package main

import (
	"fmt"
	"strings"

	"github.com/tocsin-dev/tocsin/core/config"
)

type completionCommand struct{ meta }

func (c *completionCommand) Synopsis() string {
	return "Print the shell completion script for bash or zsh"
}

func (c *completionCommand) Help() string {
	return `Usage: tocsin completion bash|zsh

  Prints the completion script for bash or zsh: it completes the commands,
  their flags, file names where a command takes them, and for -transport
  the transports of the configuration that -config names (or the default
  one), which it asks tocsin for, so that it follows the configuration.
  The script is made from the commands' own help and flags.

  Without a package that installs it, for bash (in ~/.bashrc):

    source <(tocsin completion bash)

  and for zsh, as _tocsin in a directory of $fpath before compinit runs:

    tocsin completion zsh > ~/.zfunc/_tocsin`
}

func (c *completionCommand) Run(args []string) int {
	fs := c.flags("completion", c.Help())
	rest, code, ok := c.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return c.usageError(fs, "give one shell: bash or zsh")
	}
	gen := map[string]func([]cmdSpec) string{"bash": bashCompletion, "zsh": zshCompletion}[rest[0]]
	if gen == nil {
		return c.usageError(fs, "unknown shell %q: bash or zsh", rest[0])
	}
	specs, err := commandSpecs()
	if err != nil {
		fmt.Fprintf(c.stderr, "Error: %v\n", err)
		return exitError
	}
	fmt.Fprint(c.stdout, gen(specs))
	return exitOK
}

// completeCommand answers the completion scripts' questions about the
// configuration. It is hidden: not in the help, the man page or the
// completion.
type completeCommand struct{ meta }

func (c *completeCommand) Synopsis() string { return "Print completions for the shell scripts" }

func (c *completeCommand) Help() string {
	return `Usage: tocsin __complete transports [-config PATH]

  Prints the names of the transports of the configuration, one a line,
  for the completion scripts (tocsin completion). It prints no diagnostic:
  a configuration with errors gives the transports that could be read,
  and exit code 1.

Options:

  -config PATH   Configuration file or directory (default $TOCSIN_CONFIG, else /etc/tocsin).`
}

func (c *completeCommand) Run(args []string) int {
	fs := c.flags("__complete", c.Help())
	path := fs.String("config", defaultConfigPath(), "")
	rest, code, ok := c.parseArgs(fs, args)
	if !ok {
		return code
	}
	if len(rest) != 1 || rest[0] != "transports" {
		return c.usageError(fs, "give what to complete: transports")
	}
	cfg, diags := config.Load(*path)
	if cfg != nil {
		for _, t := range cfg.Transports {
			fmt.Fprintln(c.stdout, t.Name)
		}
	}
	if diags.HasErrors() {
		return exitError
	}
	return exitOK
}

// valueCompleter names the completion of a flag's value: by the flag's
// name, then by its metavar in the help. "" offers nothing.
func valueCompleter(f flagSpec) string {
	switch {
	case f.boolean:
		return ""
	case len(f.choices) > 0:
		return "choices"
	case f.name == "transport":
		return "transports"
	case f.metavar == "PATH" || f.metavar == "FILE":
		return "files"
	case f.metavar == "DIR":
		return "dirs"
	}
	return ""
}

// bashCompletion returns the bash completion script for specs.
func bashCompletion(specs []cmdSpec) string {
	var b strings.Builder
	b.WriteString(bashHeader)
	var names []string
	for _, s := range specs {
		names = append(names, shSingle(s.name))
	}
	fmt.Fprintf(&b, "# _tocsin_is_command tells whether $1 is a command.\n_tocsin_is_command() {\n    case $1 in\n    %s) return 0 ;;\n    esac\n    return 1\n}\n\n", strings.Join(names, " | "))
	b.WriteString(`_tocsin() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local cmd= w i
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${cmd:+$cmd }${COMP_WORDS[i]}
        _tocsin_is_command "$w" || break
        cmd=$w
    done
    COMPREPLY=()
    case $cmd in
`)
	fmt.Fprintf(&b, "    '')\n        _tocsin_words %s ;;\n", shSingle(strings.Join(topCommands(specs), " ")))
	for _, s := range specs {
		fmt.Fprintf(&b, "    %s)\n", shSingle(s.name))
		var flagNames []string
		var valued []string
		for _, f := range s.flags {
			flagNames = append(flagNames, "-"+f.name)
			if f.boolean {
				continue
			}
			action := ";;"
			switch valueCompleter(f) {
			case "choices":
				action = "_tocsin_words " + shSingle(strings.Join(f.choices, " ")) + " ;;"
			case "transports":
				action = "_tocsin_transports ;;"
			case "files":
				action = "_tocsin_files ;;"
			case "dirs":
				action = "_tocsin_dirs ;;"
			}
			valued = append(valued, fmt.Sprintf("        -%s | --%s) %s\n", f.name, f.name, action))
		}
		var positional string
		switch {
		case len(s.subcommands) > 0:
			positional = "_tocsin_words " + shSingle(strings.Join(s.subcommands, " "))
		case s.args.kind == argFiles:
			positional = "_tocsin_files"
		case s.args.kind == argDirs:
			positional = "_tocsin_dirs"
		case s.args.kind == argWords:
			positional = "_tocsin_words " + shSingle(strings.Join(s.args.words, " "))
		}
		flagWords := "_tocsin_words " + shSingle(strings.Join(flagNames, " "))
		var rest string
		switch {
		case positional == "":
			rest = flagWords
		case len(flagNames) == 0:
			rest = positional
		default:
			rest = fmt.Sprintf("if [[ $cur == -* ]]; then %s; else %s; fi", flagWords, positional)
		}
		if len(valued) == 0 {
			fmt.Fprintf(&b, "        %s ;;\n", rest)
			continue
		}
		b.WriteString("        case $prev in\n")
		for _, v := range valued {
			b.WriteString(v)
		}
		fmt.Fprintf(&b, "        *) %s ;;\n        esac ;;\n", rest)
	}
	b.WriteString("    esac\n}\n\ncomplete -F _tocsin tocsin\n")
	return b.String()
}

const bashHeader = `# bash completion for tocsin.
# Generated by "tocsin completion bash" from tocsin's commands, their flags
# and their help; do not edit.

# _tocsin_words completes the words of $1.
_tocsin_words() {
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

_tocsin_files() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}

_tocsin_dirs() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
}

# _tocsin_transports completes the names of the transports of the
# configuration that -config names on the command line (else tocsin's
# default), as "tocsin __complete transports" prints them.
_tocsin_transports() {
    local i cfg= name
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -config | --config)
            cfg=${COMP_WORDS[i + 1]}
            [[ $cfg == = ]] && cfg=${COMP_WORDS[i + 2]}
            ;;
        esac
    done
    local bin=${COMP_WORDS[0]}
    local -a args=("${bin/#\~/$HOME}" __complete transports)
    [[ -n $cfg ]] && args+=(-config "${cfg/#\~/$HOME}")
    while IFS= read -r name; do
        [[ $name == "$cur"* ]] && COMPREPLY+=("$name")
    done < <("${args[@]}" 2>/dev/null)
}

`

// zshCompletion returns the zsh completion script for specs.
func zshCompletion(specs []cmdSpec) string {
	var b strings.Builder
	b.WriteString(zshHeader)
	var names []string
	for _, s := range specs {
		names = append(names, shSingle(s.name))
	}
	fmt.Fprintf(&b, `_tocsin() {
  local _tocsin_bin=${words[1]/#\~/$HOME} cmd= w
  integer i n=0
  for (( i = 2; i < CURRENT; i++ )); do
    w=${cmd:+$cmd }$words[i]
    case $w in
      (%s) cmd=$w; (( n++ )) ;;
      (*) break ;;
    esac
  done
  if (( n > 0 )); then
    shift $n words
    (( CURRENT -= n ))
  fi
  local -a cmds
  case $cmd in
`, strings.Join(names, "|"))
	bySpec := map[string]cmdSpec{}
	for _, s := range specs {
		bySpec[s.name] = s
	}
	describe := func(title, prefix string, subs []string) {
		b.WriteString("      cmds=(\n")
		for _, sub := range subs {
			fmt.Fprintf(&b, "        %s\n", shSingle(zshEscape(sub, ":")+":"+bySpec[prefix+sub].synopsis))
		}
		fmt.Fprintf(&b, "      )\n      _describe -t commands %s cmds ;;\n", shSingle(title))
	}
	b.WriteString("    ('')\n")
	describe("tocsin command", "", topCommands(specs))
	for _, s := range specs {
		fmt.Fprintf(&b, "    (%s)\n", shSingle(s.name))
		if len(s.subcommands) > 0 {
			describe("tocsin "+s.name+" command", s.name+" ", s.subcommands)
			continue
		}
		var lines []string
		for _, f := range s.flags {
			spec := "-" + f.name + "[" + zshEscape(firstSentence(f.desc), "[]:") + "]"
			if !f.boolean {
				msg := f.metavar
				if msg == "" {
					msg = "value"
				}
				action := " "
				switch valueCompleter(f) {
				case "choices":
					action = "(" + strings.Join(f.choices, " ") + ")"
				case "transports":
					action = "_tocsin_transports"
				case "files":
					action = "_files"
				case "dirs":
					action = "_files -/"
				}
				spec += ":" + zshEscape(msg, ":") + ":" + action
			}
			lines = append(lines, shSingle(spec))
		}
		pos := "1"
		if s.args.many {
			pos = "*"
		}
		switch s.args.kind {
		case argFiles:
			lines = append(lines, shSingle(pos+":file:_files"))
		case argDirs:
			lines = append(lines, shSingle(pos+":directory:_files -/"))
		case argWords:
			lines = append(lines, shSingle(pos+":argument:("+strings.Join(s.args.words, " ")+")"))
		}
		if len(lines) == 0 {
			b.WriteString("      _message 'no arguments' ;;\n")
			continue
		}
		fmt.Fprintf(&b, "      _arguments \\\n        %s ;;\n", strings.Join(lines, " \\\n        "))
	}
	b.WriteString(`  esac
}

# Run when autoloaded from $fpath, not when sourced.
if [[ $funcstack[1] == _tocsin ]]; then
  _tocsin "$@"
fi
`)
	return b.String()
}

const zshHeader = `#compdef tocsin
# zsh completion for tocsin.
# Generated by "tocsin completion zsh" from tocsin's commands, their flags
# and their help; do not edit.

compdef _tocsin tocsin

# _tocsin_transports completes the names of the transports of the
# configuration that -config names on the command line (else tocsin's
# default), as "tocsin __complete transports" prints them.
_tocsin_transports() {
  local cfg expl
  local -a args names
  integer i
  for (( i = 1; i < CURRENT; i++ )); do
    case $words[i] in
      (-config|--config) cfg=$words[i+1] ;;
      (-config=*|--config=*) cfg=${words[i]#*=} ;;
    esac
  done
  args=(__complete transports)
  [[ -n $cfg ]] && args+=(-config ${cfg/#\~/$HOME})
  names=(${(f)"$(_call_program transports ${(q)_tocsin_bin} ${(q)args[@]} 2>/dev/null)"})
  _wanted transports expl transport compadd -a names
}

`

// shSingle quotes s for a POSIX shell, in single quotes.
func shSingle(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// zshEscape puts a backslash before each of chars and each backslash in s,
// for the fields of _arguments and _describe.
func zshEscape(s, chars string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '\\' || strings.ContainsRune(chars, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// firstSentence returns s up to its first ". ", without a final period.
func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}
