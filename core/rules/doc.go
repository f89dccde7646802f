// Package rules evaluates alert rules: their HCL conditions, their alert
// state machine, the persistence of that state, their mail templates and
// the cron schedules they run on.
//
// The config package decodes `rule "NAME"` blocks into [Rule]; this package
// never reads HCL files. The rule runner (core/engine) calls
// [Rule.Prepare] once per rule after loading the configuration, builds one
// [hcl.EvalContext] per tick from a [Vars] (node, check.*, peer.*, agent
// and outbox) with [Functions], calls [Evaluate] for each rule that is
// due, hands the resulting notifications to the outbox, and then persists
// the new states in a [Store].
//
// [Vars] is the one owner of the variables a rule reads: their values for
// an evaluation (the runner's and `tocsin rules test`'s) and, through
// [VarTypes], their types for the configuration's validation.
//
// # Functions
//
// Conditions and templates may call:
//
//   - now(): the current time (from the injected clock) as an RFC 3339
//     string in UTC, e.g. "2025-06-01T08:00:00Z".
//   - age(ts): the seconds (a number, fractional) elapsed since the RFC 3339
//     timestamp ts; negative when ts is in the future (a peer's clock ahead
//     of ours). A null or empty ts is an error that says the fact may not
//     have been observed yet: guard with try(age(x), 0) or can(age(x)).
//   - duration(s): the seconds in a duration: Go syntax ("90s", "1h30m",
//     "250ms") plus "d" for days of 24 hours ("7d", "1d12h"). So
//     age(check.sync.observed) > duration("24h") reads as it should.
//   - try(...) and can(expr) from hcl's tryfunc.
//   - from the cty standard library: abs, ceil, floor, max, min, contains,
//     length (also of a string, in characters), keys, values, lookup,
//     coalesce, concat, distinct, flatten, join, split, lower, upper,
//     trimspace, trimprefix, trimsuffix, format, formatlist, regex,
//     regexall, replace (a "/.../" pattern is a regular expression, as in
//     Terraform), substr, timeadd, formatdate, tostring, tonumber, tobool.
//
// # Conditions
//
// A rule's when expression must produce a known bool. An error, a null, an
// unknown or a value of another type makes [Rule.Holds] return an error
// naming the rule and the expression's position as file:line:col. Such an
// error is not a state change of the alert: see the table below.
//
// # Evaluation speed
//
// HCL's evaluator is general and allocates at every operator (each one is
// a cty function call with conversions). [Rule.Prepare] compiles the
// common shapes of a condition (attribute traversals, literals, !, &&, ||,
// ==, !=, <, <=, >, >=, and function calls whose arguments already have
// the parameter types; duration("literal") is computed once) into a tree
// of closures that computes the same value directly. Whenever it meets
// something it does not handle exactly as HCL does (an unknown, null or
// marked value, a value HCL would convert, an error), it gives up and
// Holds evaluates the whole condition with HCL, which also produces the
// diagnostics; other nodes (conditionals, arithmetic, for expressions,
// try, can, ...) are evaluated by HCL inside the compiled tree. Tests
// compare both paths on thousands of generated conditions. On the 2-core
// build machine, 10,000 rules over 1,000 facts take about 2-3 µs per rule
// prepared and 5-6 µs with HCL alone (BenchmarkEvaluateTick).
//
// # State machine
//
// [Step] is a pure function of (rule, state, holds, error, now). Each row is
// checked in order; the first that matches applies. "For" and "Repeat" are
// the rule's durations; all times are the now given to Step, and LastEval is
// set to now in every row.
//
//	| #  | evaluation         | phase before | also                        | phase after | events            | fields set                                  |
//	|----|--------------------|--------------|-----------------------------|-------------|-------------------|---------------------------------------------|
//	| 1  | error, text == Err | any          |                             | unchanged   | -                 | -                                           |
//	| 2  | error, text != Err | any          |                             | unchanged   | ErrorStarted      | Err = text                                  |
//	| 3  | ok, Err != ""      | any          | then one of rows 4-11       |             | ErrorCleared, ... | Err = ""                                    |
//	| 4  | holds              | Inactive     | For == 0                    | Firing      | Fire              | ActiveSince, FiredAt, LastNotified = now;   |
//	|    |                    |              |                             |             |                   | Repeats = 0; ResolvedAt = zero              |
//	| 5  | holds              | Inactive     | For > 0                     | Pending     | -                 | ActiveSince = now                           |
//	| 6  | holds              | Pending      | now - ActiveSince >= For    | Firing      | Fire              | FiredAt, LastNotified = now; Repeats = 0;   |
//	|    |                    |              |                             |             |                   | ResolvedAt = zero                           |
//	| 7  | holds              | Pending      | now - ActiveSince < For     | Pending     | -                 | -                                           |
//	| 8  | holds              | Firing       | Repeat > 0 and              | Firing      | Repeat            | LastNotified = now; Repeats++               |
//	|    |                    |              | now - LastNotified >= Repeat|             |                   |                                             |
//	| 9  | holds              | Firing       | otherwise                   | Firing      | -                 | -                                           |
//	| 10 | does not hold      | Firing       |                             | Inactive    | Resolve           | ResolvedAt = now; ActiveSince = zero        |
//	| 11 | does not hold      | Pending,     |                             | Inactive    | -                 | ActiveSince = zero                          |
//	|    |                    | Inactive     |                             |             |                   |                                             |
//
// Consequences worth spelling out:
//
//   - An erroring rule keeps its phase and its ActiveSince: it neither
//     fires, nor repeats, nor resolves while it errors; a pending rule whose
//     For elapsed during the error fires at the first successful evaluation
//     that holds. The error is reported once (EventErrorStarted) per
//     distinct message, not at every tick; Err is persisted, so a restart
//     does not report it again either. An error whose text changes on every
//     tick (say, it embeds a timestamp) is reported on every tick.
//   - A condition that flaps faster than For never fires: every evaluation
//     that does not hold sends a pending rule back to Inactive (row 11),
//     and the next one that holds starts For anew.
//   - EventResolve is emitted whatever the rule's OnResolve; the caller
//     sends the resolved mail only when OnResolve is set.
//   - If the wall clock steps backwards behind ActiveSince or LastNotified,
//     that time is moved to now, so the rule is not frozen until the clock
//     catches up; For or Repeat then counts from now.
//
// # Flapping
//
// A rule with flap detection ([Rule.Flap], Changes > 0) keeps the times
// of its fires and resolves (rows 4, 6 and 10) within Flap.Window in
// State.Changes. After the rows above have applied:
//
//   - not flapping, and the window holds Flap.Changes changes or more: the
//     rule starts to flap (FlappingSince = now); the step's Fire or Resolve
//     is replaced by FlapStart, which sends one "Flapping: ..." notification;
//   - flapping, and the last change is less than Flap.Settle (default
//     Window) ago: Fire, Repeat and Resolve are dropped, the phase moves on;
//   - flapping, and no change for Settle: the flapping ends (FlapEnd;
//     Changes and FlappingSince cleared) with Fire when the rule is firing
//     (LastNotified = now, Repeats = 0: repeats count from here), or with
//     Resolve when it is not (sent as the alert's end, per OnResolve).
//
// Contract with the caller (at-least-once): Step sets LastNotified when it
// emits EventFire or EventRepeat, as if the notification went out. Persist
// the new State only after every notification the events call for is
// durably in the outbox. A crash in between loses nothing: the old state is
// loaded after the restart and the notification is produced again (a
// duplicate, never a gap). Conversely, once the state is saved a restart
// neither repeats nor forgets the alert.
//
// # Persistence
//
// [Store] keeps one JSON record per rule name ({"v":1,"phase":"firing",
// ...}) in a bbolt file under data_dir. Writes are synced transactions;
// [Store.SaveMany] writes a tick's states at once. [OpenStore] refuses a
// damaged file with an error that says how to recover instead of starting
// empty, and fails within a second, saying so, when another tocsin process
// holds the file.
//
// # Templates
//
// Subject, text and HTML are HCL template expressions rendered by [Render].
// In ModeHTML every string taken from the variables is HTML-escaped before
// evaluation, while the template's literal text, written by the operator,
// is kept as is. In ModeSubject line breaks and control characters become
// spaces and the result is capped at [MaxSubjectRunes], so that no fact can
// add a mail header.
//
// # Schedules
//
// [ParseSchedule] accepts cron specs with an optional seconds field,
// descriptors such as @daily and "@every 5m", and a CRON_TZ=Zone (or
// TZ=Zone) prefix. Specs are validated before robfig/cron parses them (its
// parser panics on "CRON_TZ=UTC" without a schedule) and the parser runs
// under recover, so no spec can crash the agent.
//
// [Scheduler] runs jobs on those schedules with panic recovery and a
// no-overlap policy: a tick that comes while the job's previous run is
// still going is skipped (not queued, not run in parallel), and the overrun
// is logged once, when the first tick is skipped, plus one line with the
// count when it ends. An evaluation therefore never blocks the scheduler
// and never piles up. [Scheduler.Stop] waits for running jobs until its
// context ends, then cancels the jobs' context.
package rules
