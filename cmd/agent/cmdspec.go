package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// cmdSpec is what the shell completion and the man page know of one
// command. All of it comes from the command table and from what the
// command itself prints with -h, so neither can drift from the CLI: the
// flags from the command's own flag set, their metavars and descriptions
// from the Options of its help, the arguments from its usage line.
type cmdSpec struct {
	// name is the command's key in the table ("outbox list").
	name     string
	synopsis string
	// help is the command's Help(), the text -h prints.
	help string
	// flags are the flags of the command's flag set, sorted by name; none
	// for a command that only groups subcommands.
	flags []flagSpec
	// args is what the command takes after its flags.
	args argSpec
	// subcommands are the names of the commands one word below this one
	// ("login" for "oauth").
	subcommands []string
}

// flagSpec is one flag of a command.
type flagSpec struct {
	name string
	// boolean flags take no value.
	boolean bool
	// metavar is the value's name in the help ("PATH"); "" for a boolean.
	metavar string
	// desc is the flag's description in the help's Options.
	desc string
	// documented is false when the help's Options do not list the flag.
	documented bool
	// choices are the values the usage line lists (-state pending|dead).
	choices []string
}

// argKind is what a command's positional arguments are.
type argKind int

const (
	argNone  argKind = iota // nothing to complete (an ID)
	argFiles                // files or directories (FILE, PATH)
	argDirs                 // directories (DIR)
	argWords                // one of words (bash|zsh)
)

// argSpec is what a command takes after its flags.
type argSpec struct {
	kind  argKind
	words []string
	// many is true when the command takes more than one (FILE...).
	many bool
}

// commandSpecs returns the specs of the visible commands of the table,
// sorted by name. Each command runs with -h, as an operator would, with
// its output discarded: its flag set is read when it prints its help.
func commandSpecs() ([]cmdSpec, error) {
	var specs []cmdSpec
	names := map[string]bool{}
	for name := range newCLI(nil, io.Discard, io.Discard).commands() {
		if !slices.Contains(hiddenCommands, name) {
			names[name] = true
		}
	}
	for name := range names {
		var fs *flag.FlagSet
		m := meta{stdout: io.Discard, stderr: io.Discard, sawFlags: func(f *flag.FlagSet) { fs = f }}
		cmd, err := (&app{meta: m}).commands()[name]()
		if err != nil {
			return nil, fmt.Errorf("command %s: %w", name, err)
		}
		cmd.Run([]string{"-h"})
		s := cmdSpec{name: name, synopsis: cmd.Synopsis(), help: strings.TrimSpace(cmd.Help())}
		opts := helpOptions(s.help)
		if fs != nil {
			fs.VisitAll(func(f *flag.Flag) {
				fl := flagSpec{name: f.Name}
				if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					fl.boolean = true
				}
				if o, ok := opts[f.Name]; ok {
					fl.metavar, fl.desc, fl.documented = o.metavar, o.desc, true
				}
				s.flags = append(s.flags, fl)
			})
		}
		s.args = usageArgs(s.help, name, s.flags)
		for other := range names {
			if rest, ok := strings.CutPrefix(other, name+" "); ok && !strings.Contains(rest, " ") {
				s.subcommands = append(s.subcommands, rest)
			}
		}
		sort.Strings(s.subcommands)
		specs = append(specs, s)
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].name < specs[j].name })
	return specs, nil
}

// topCommands returns the names of the commands of one word.
func topCommands(specs []cmdSpec) []string {
	var top []string
	for _, s := range specs {
		if !strings.Contains(s.name, " ") {
			top = append(top, s.name)
		}
	}
	return top
}

// helpOption is one line of a help's Options.
type helpOption struct {
	metavar, desc string
}

// optionLine matches "  -name METAVAR   description" in a help's Options.
var optionLine = regexp.MustCompile(`^  +-([A-Za-z0-9][\w-]*)(?: ([^ ]+))?(?: {2,}(.*))?$`)

// helpOptions reads the Options of a help: each flag with its metavar and
// its description, continuation lines joined.
func helpOptions(help string) map[string]helpOption {
	opts := map[string]helpOption{}
	_, body, ok := strings.Cut(help, "\nOptions:\n")
	if !ok {
		return opts
	}
	last := ""
	for _, line := range strings.Split(body, "\n") {
		if m := optionLine.FindStringSubmatch(line); m != nil {
			last = m[1]
			opts[last] = helpOption{metavar: m[2], desc: strings.TrimSpace(m[3])}
			continue
		}
		if t := strings.TrimSpace(line); t != "" && last != "" {
			o := opts[last]
			o.desc = strings.TrimSpace(o.desc + " " + t)
			opts[last] = o
		}
	}
	return opts
}

// choicesFlag matches "-state pending|dead" on a usage line.
var choicesFlag = regexp.MustCompile(`-([\w-]+) ([a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)+)`)

// usageArgs reads what a command takes after its flags from its usage
// line ("Usage: tocsin rules test [-v] [-run REGEXP] FILE|DIR..."), and
// sets the choices of the flags the line lists values for.
func usageArgs(help, name string, flags []flagSpec) argSpec {
	line, _, _ := strings.Cut(help, "\n")
	line = strings.TrimPrefix(line, "Usage: tocsin "+name)
	for _, m := range choicesFlag.FindAllStringSubmatch(line, -1) {
		for i := range flags {
			if flags[i].name == m[1] {
				flags[i].choices = strings.Split(m[2], "|")
			}
		}
	}
	valued := map[string]bool{}
	for _, f := range flags {
		valued["-"+f.name] = !f.boolean
	}
	var args argSpec
	fields := strings.Fields(line)
	for i := 0; i < len(fields); i++ {
		tok := strings.Trim(fields[i], "[]")
		if strings.HasPrefix(tok, "-") {
			if valued[tok] {
				i++ // its value
			}
			continue
		}
		if tok == "|" || strings.HasPrefix(tok, "<") {
			continue
		}
		if strings.HasSuffix(tok, "...") {
			args.many = true
		}
		for _, alt := range strings.Split(strings.TrimSuffix(tok, "..."), "|") {
			switch {
			case alt == "FILE" || alt == "PATH":
				args.kind = argFiles
			case alt == "DIR" && args.kind != argFiles:
				args.kind = argDirs
			case strings.Contains(tok, "|") && alt == strings.ToLower(alt):
				args.kind = argWords
				args.words = append(args.words, alt)
			}
		}
	}
	return args
}
