package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/tocsin-dev/tocsin/core/facts"
	"github.com/tocsin-dev/tocsin/core/library"
	"github.com/tocsin-dev/tocsin/core/rules"
)

// libraryBlock is a library block, decoded by the library package, with
// the directory of the file it is written in, for the rules it expands
// into.
type libraryBlock struct {
	*library.Block
	dir      string // absolute directory of its file
	shownDir string // the same, as the operator reaches it
}

// decodeLibrary decodes a library block (see the library package). What
// it declares is added once every file is loaded (expandLibrary), so that
// it sees the merged agent and node settings.
func (f *fileDecoder) decodeLibrary(block *hcl.Block) hcl.Diagnostics {
	name, labelRange := block.Labels[0], block.LabelRanges[0]
	if name != library.Failover {
		detail := fmt.Sprintf("There is no library %q; the libraries are: %s.", name, strings.Join(library.Names, ", "))
		if s := nameSuggestion(name, library.Names); s != "" {
			detail = fmt.Sprintf("There is no library %q. Did you mean %q?", name, s)
		}
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown library", Detail: detail, Subject: labelRange.Ptr()}}
	}
	if prev := f.l.library; prev != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate library",
			Detail:   fmt.Sprintf("The library %q is already used at %s; use it once, with all its settings in one block.", name, where(prev.DefRange())),
			Subject:  labelRange.Ptr(),
			Context:  block.DefRange.Ptr(),
		}}
	}
	lib, diags := library.Decode(block, libraryEnv{f})
	f.l.library = &libraryBlock{Block: lib, dir: f.dir, shownDir: filepath.Dir(block.DefRange.Filename)}
	return diags
}

// expandLibrary adds what the library block declares (library.Expand).
// It runs once every file is loaded and before the references to
// contacts are checked.
func (l *loader) expandLibrary() hcl.Diagnostics {
	lib := l.library
	if lib == nil || lib.Failed() {
		return nil
	}
	// Every rule notifies through the same notify elements: a contact
	// that is not declared is reported once, not once per rule.
	firstRef := len(l.notifies)
	defer func() {
		seen := map[hcl.Pos]bool{}
		refs := l.notifies[:firstRef]
		for _, ref := range l.notifies[firstRef:] {
			if !seen[ref.rng.Start] {
				seen[ref.rng.Start] = true
				refs = append(refs, ref)
			}
		}
		l.notifies = refs
	}()
	node := l.cfg.Agent.Node
	if _, set := l.agentSet["node"]; !set {
		node = DefaultConfig().Agent.Node
	}
	listen := l.cfg.Agent.Listen
	if listen == "" {
		listen = DefaultListen
	}
	agent := library.Agent{Node: node, Listen: listen, TLS: l.cfg.Agent.ServesTLS(), DefaultSchedule: DefaultSchedule}
	return lib.Expand(&libraryHost{l: l, lib: lib}, agent)
}

// libraryEnv gives the library package what it needs of the file a
// library block is written in.
type libraryEnv struct{ f *fileDecoder }

// EvalContext implements library.Env: the file's context.
func (e libraryEnv) EvalContext() *hcl.EvalContext { return e.f.ctx }

// String implements library.Env: a required string argument.
func (e libraryEnv) String(attr *hcl.Attribute) (string, hcl.Diagnostics) {
	return requiredString(attr, e.f.ctx)
}

// Path implements library.Env: relative to the file's directory.
func (e libraryEnv) Path(p string) string { return e.f.path(p) }

// PeerSecurity implements library.Env, as for a peer block.
func (e libraryEnv) PeerSecurity(ps *facts.PeerSpec, attrs hcl.Attributes) hcl.Diagnostics {
	return e.f.peerSecurity(ps, attrs)
}

// ContactRef implements library.Env, as for a contact list.
func (e libraryEnv) ContactRef(el hcl.Expression, arg string) (string, hcl.Diagnostics) {
	return refName(el, e.f.ctx, arg, "contact")
}

// libraryHost adds what a library block declares to the loader's
// configuration, with the loader's bookkeeping.
type libraryHost struct {
	l   *loader
	lib *libraryBlock
	dec *fileDecoder // decodes the library's rules
}

// Declared implements library.Host.
func (h *libraryHost) Declared(kind, name string) (hcl.Range, bool) {
	seen := h.l.checks
	switch kind {
	case "peer":
		seen = h.l.peers
	case "rule":
		seen = h.l.rules
	}
	rng, ok := seen[name]
	return rng, ok
}

// AddCheck implements library.Host.
func (h *libraryHost) AddCheck(spec facts.Spec, rng hcl.Range) {
	seen, list := h.l.checks, &h.l.cfg.Checks
	if spec.Kind == facts.KindPeer {
		seen, list = h.l.peers, &h.l.cfg.Peers
	}
	seen[spec.Name] = rng
	*list = append(*list, &Check{Name: spec.Name, Spec: spec, DeclRange: rng})
}

// NodeSet implements library.Host.
func (h *libraryHost) NodeSet(field string) (hcl.Range, bool) {
	rng, ok := h.l.nodeSet[field]
	return rng, ok
}

// SetNode implements library.Host: the first node fact declares the
// node at the library block.
func (h *libraryHost) SetNode(field string, expr hcl.Expression, rng hcl.Range) {
	n := &h.l.cfg.Node
	if n.Fields == nil {
		n.Fields = map[string]hcl.Expression{}
		n.DeclRange = h.lib.DefRange()
	}
	h.l.nodeSet[field] = rng
	n.Fields[field] = expr
}

// AddSource implements library.Host: the file's lines show in
// diagnostics, and its size is checked as any configuration file's.
func (h *libraryHost) AddSource(name string, src []byte) hcl.Diagnostics {
	h.l.cfg.Sources[name] = src
	if _, seen := h.l.fileOrder[name]; !seen {
		h.l.fileOrder[name] = len(h.l.fileOrder)
	}
	return CheckSource(name, src)
}

// DecodeRule implements library.Host with the rule decoder, in the
// context of the library block's file plus vars.
func (h *libraryHost) DecodeRule(block *hcl.Block, vars map[string]cty.Value) (*rules.Rule, hcl.Diagnostics) {
	if h.dec == nil {
		ctx := evalContext(h.lib.dir, h.lib.shownDir, h.l.lookupEnv, h.l.cfg.noteFileRead)
		h.dec = &fileDecoder{l: h.l, dir: h.lib.dir, ctx: ctx}
	}
	h.dec.ctx.Variables = vars
	before := len(h.l.cfg.Rules)
	diags := h.dec.decodeRule(block)
	if len(h.l.cfg.Rules) > before {
		return h.l.cfg.Rules[len(h.l.cfg.Rules)-1], diags
	}
	return nil, diags
}

// ContactRef implements library.Host, reading the element as a
// notify list's, without evaluating variables.
func (h *libraryHost) ContactRef(el hcl.Expression) (string, bool) {
	name, d := refName(el, nil, "notify", "contact")
	return name, !d.HasErrors()
}

// ContactVia implements library.Host.
func (h *libraryHost) ContactVia(name string) []string {
	if c := h.l.contacts[name]; c != nil {
		return c.Via
	}
	return nil
}
