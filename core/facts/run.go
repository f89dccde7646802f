package facts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// stopGrace is how long Run waits, once a check's timeout has passed, for
// the check to hand back what it observed before Run gives up on it.
const stopGrace = 2 * time.Second

// checkFunc runs one kind of check. It records what it observes in v,
// which holds every value of the kind already (typed nulls and what the
// spec says), and returns why the check failed, or nil. It honours ctx in
// everything that can block.
type checkFunc func(ctx context.Context, s Spec, e *env, v map[string]cty.Value) error

// env holds what the checks take from the world, so tests can replace it.
type env struct {
	now        func() time.Time
	interfaces func() ([]netInterface, error)
	ping       pingFunc
	// panicked, when set, hears of a check that panicked, with the
	// goroutine's stack, which the fact leaves out.
	panicked func(s Spec, value any, stack []byte)
	// notices are the peers' stop notices a peer check keeps and
	// forgets; nil: none.
	notices *PeerNotices
}

// systemEnv returns the real world, with now as its clock.
func systemEnv(now func() time.Time) *env {
	return &env{now: now, interfaces: systemInterfaces, ping: ping}
}

// Run runs one check once, bounded by spec.Timeout (after defaults) and by
// ctx, and returns what it observed. It always returns a fact: an invalid
// spec, an error, a timeout or a panic in the check is a failed fact, with
// the reason in Error. now stamps the fact and measures its latency; nil
// means time.Now.
//
// A check that ignores its timeout (a read from a hung network file system
// cannot be interrupted) is given a short grace, then Run returns a failed
// fact without it; the check's goroutine ends when its call returns.
func Run(ctx context.Context, spec Spec, now func() time.Time) Fact {
	if now == nil {
		now = time.Now
	}
	return run(ctx, spec, systemEnv(now), lookupChecker, stopGrace)
}

// lookupChecker returns the check of kind k, or nil.
func lookupChecker(k Kind) checkFunc {
	ck, ok := Lookup(k)
	if !ok {
		return nil
	}
	return ck.check
}

// run is Run with the checks, the environment and the grace given, for
// tests.
func run(ctx context.Context, spec Spec, e *env, lookup func(Kind) checkFunc, grace time.Duration) (f Fact) {
	spec = spec.WithDefaults()
	start := e.now()
	f = Fact{Check: spec.Name, Kind: spec.Kind}
	finish := func(values map[string]cty.Value, err error) Fact {
		f.Observed = e.now()
		f.Latency = max(f.Observed.Sub(start), 0)
		f.Values = values
		f.OK = err == nil
		f.Error = ""
		if err != nil {
			f.Error = errorText(err)
		}
		return f
	}
	defer func() {
		if p := recover(); p != nil {
			f = finish(baseValues(spec), fmt.Errorf("internal error: %v", p))
		}
	}()

	if err := spec.Validate(); err != nil {
		return finish(baseValues(spec), err)
	}
	check := lookup(spec.Kind)
	if check == nil {
		return finish(baseValues(spec), fmt.Errorf("no check for kind %q", spec.Kind))
	}

	ctx, cancel := context.WithTimeoutCause(ctx, spec.Timeout, fmt.Errorf("timed out after %s", spec.Timeout))
	defer cancel()

	type result struct {
		values map[string]cty.Value
		err    error
	}
	// The check runs in its own goroutine so that a check that hangs in
	// a call without a context cannot hold Run past its timeout. done is
	// buffered: the goroutine never blocks on a Run that gave up.
	done := make(chan result, 1)
	go func() {
		values := baseValues(spec)
		var err error
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error: the %s check panicked: %v", spec.Kind, p)
				if e.panicked != nil {
					e.panicked(spec, p, debug.Stack())
				}
			}
			done <- result{values, err}
		}()
		err = check(ctx, spec, e, values)
	}()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case res = <-done:
		case <-t.C:
			res = result{baseValues(spec), fmt.Errorf("%w, and the check did not stop within %s of it", context.Cause(ctx), grace)}
			return finish(res.values, res.err)
		}
	}
	if res.err != nil && ctx.Err() != nil && !errors.Is(res.err, context.Cause(ctx)) {
		res.err = fmt.Errorf("%w: %w", context.Cause(ctx), res.err)
	}
	return finish(res.values, res.err)
}

// errorText returns err's message for Fact.Error: never empty.
func errorText(err error) string {
	s := strings.TrimSpace(err.Error())
	if s == "" {
		s = "failed"
	}
	return s
}

// readCapped reads r to its end or to limit bytes, whichever comes first,
// checking ctx between reads. truncated reports that r had more.
func readCapped(ctx context.Context, r io.Reader, limit int64) (data []byte, truncated bool, err error) {
	var buf bytes.Buffer
	chunk := make([]byte, min(limit+1, 32<<10))
	lr := io.LimitReader(r, limit+1)
	for {
		if err := ctx.Err(); err != nil {
			return buf.Bytes(), false, err
		}
		n, err := lr.Read(chunk)
		buf.Write(chunk[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf.Bytes(), false, err
		}
	}
	if int64(buf.Len()) > limit {
		return buf.Bytes()[:limit], true, nil
	}
	return buf.Bytes(), false, nil
}

// capBuffer keeps the first max bytes written to it and counts the rest.
// It is safe for concurrent use.
type capBuffer struct {
	mu      sync.Mutex
	max     int64
	buf     []byte
	dropped int64
}

// Write keeps what fits and always reports success, so the writer is
// never blocked or failed by the cap.
func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := max(b.max-int64(len(b.buf)), 0)
	keep := min(int64(len(p)), room)
	b.buf = append(b.buf, p[:keep]...)
	b.dropped += int64(len(p)) - keep
	return len(p), nil
}

// Bytes returns what was kept and whether anything was dropped.
func (b *capBuffer) Bytes() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf, b.dropped > 0
}
