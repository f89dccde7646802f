// Package config loads the agent's HCL configuration into a [Config]. It
// knows ten kinds of block:
//
//   - agent: the node's name, data_dir, plugin_dir, local_plugin_dir,
//     listen, TLS, limits;
//   - transport "NAME": a plugin and its settings (see Plugin settings);
//   - contact "NAME": addresses and the via list of transports;
//   - credential "NAME": who may call the agent's API (a token, its hash,
//     a client certificate's fingerprint or a verified client) and with
//     which role (read, peer, admin);
//   - check "NAME": one check of a registered kind (core/facts) and its
//     options;
//   - peer "NAME": the partner node's API, with its TLS pin or token;
//   - node: the node facts (role, version, ...) as expressions;
//   - rule "NAME": a condition, its schedule, for, repeat, flapping and
//     the mail it sends (decoded here, evaluated by core/rules);
//   - delivery: retry, fallback and throttling of the outbox (core/delivery
//     owns the defaults);
//   - library "NAME": a built-in rule library, expanded by core/library.
//
// The variables a rule may read and their types come from rules.Vars;
// config checks every reference against them at file:line:col.
//
// # Files
//
// [Load] takes a file or a directory. A directory loads every "*.hcl" file in
// it, not recursively, sorted by name; hidden files (a leading '.') and
// editor temporary files (a leading '#' or '~', or a trailing '~') are
// skipped. A directory without any .hcl file is an error.
//
// Each file is parsed with hclsyntax and decoded against a fixed schema with
// its own evaluation context, so that relative paths resolve against the
// directory of the file that contains them. Relative paths (data_dir,
// plugin_dir, local_plugin_dir, a transport's path and the argument of file()) are stored
// absolute. Diagnostics carry the file name as it was reached from the path
// given to Load (a relative path stays relative) so that they print the way
// the operator typed it; [Config.Files] holds the absolute paths.
//
// # Functions
//
// Expressions may call env("NAME") (an unset variable is an error, unlike an
// empty one), env("NAME", "default"), file("path") and the cty standard
// library functions upper, lower, trimspace, join, split, format and concat.
// No variables exist, except that the via list of a contact is read
// statically and may name transports as transport.NAME.
//
// # Merge rules
//
// When several files are loaded they form one configuration:
//
//   - agent blocks may appear in any number of files (and several times in
//     one file); their arguments merge one by one. Setting the same argument
//     in two places is an error at the second place that names the first.
//     An argument set to null counts as not set.
//   - transport names are unique across all files; a second transport of the
//     same name is an error at its label that names the first.
//   - contact names are unique across all files, in the same way.
//   - a contact may name a transport declared in any file. The check is
//     skipped when a file failed to parse, because its transports are then
//     unknown and every reference to them would be a false error. A
//     transport listed twice in one via list is a warning.
//   - transports and contacts keep file order: files sorted by name, then
//     the order of the blocks within each file.
//   - defaults ([DefaultConfig]) fill the agent arguments that no file set,
//     once, after the merge.
//
// # Libraries
//
// A `library "failover"` block enables the built-in rule library (the
// top-level rules directory, embedded in the binary) with a few settings:
// role, peer_url, notify and optional ones such as version, shared_ips,
// test_ips and sync_file. What the block means is the library package's
// (core/library): it decodes the settings, and once every file is loaded
// expands them into ordinary configuration through this loader: the peer
// "partner", the checks self, primary_hostname, shared_ip_N, test_ip_N and
// sync, node facts, and the library's rules, decoded from their files with
// the rule decoder (so their diagnostics read rules/FILE:LINE:COL) and each
// notifying the block's contacts. A rule whose setting is missing (its
// file's header says which it needs), or that disable names, is left out.
// Names the operator's own blocks already use are errors at the library
// block. rules/README.md lists the settings, what each becomes, and the
// rules.
//
// # Plugin settings
//
// The config block of a transport is decoded later, by
// [Transport.DecodeSettings], against the schema the plugin declares, so
// that a wrong setting is reported at its line before the plugin runs.
// [Transport.PluginDiagnostics] turns the plugin's own complaints into
// diagnostics at the line of the setting they are about.
//
// # Diagnostics and secrets
//
// Every diagnostic has a Subject range. [Config.WriteDiagnostics] and
// [WriteDiagnostics] render them with the offending source line. In the
// printed lines, the value of every setting the plugin schema marks
// sensitive, and of every argument whose name contains "password",
// "secret", "token" or "key" (or looks like a misspelling of one), is
// replaced by "(sensitive)". Which settings a schema marks sensitive is
// known only after DecodeSettings, so render diagnostics about a
// transport's config block after calling it. Decoded values of sensitive
// settings, and whatever file() read, are also removed from summaries and
// details. A line of a file that does not parse, and the line of an
// argument name that is not expected, print no string text at all ("…");
// on a broken line, what follows a secret-looking name is "(sensitive)".
//
// A rendering is bounded: of the diagnostics with the same summary in one
// file, the first 5 are shown and the rest counted in one line, and a
// source line wider than 160 characters is shown as a window around the
// column, cut with "…".
//
// A secret written as a plain string (a setting the schema marks
// sensitive, or whose name looks secret) is valid but gets a warning that
// suggests env() or file().
//
// # Limits
//
// Before a file is parsed, [CheckSource] checks it against
// [MaxSourceSize] (4 MiB), [MaxLineLength] (32 KiB) and [MaxNesting]
// (200 levels of brackets, strings, interpolations and chained operators).
// Each is an error at its file:line:col, and the file is not parsed: the
// parser recurses once per level, and a stack overflow kills the process
// whatever recover does. Configuration files, the rule library and rules
// test files all go through these limits; FuzzLoad and FuzzReload check
// that nothing gets past them.
//
// Addresses (a transport's from, a contact's email) are checked with
// net/mail and kept as written.
package config
