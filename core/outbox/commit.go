package outbox

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/boltsafe"
)

// ErrClosed is returned (wrapped) by calls on a closed Outbox.
var ErrClosed = errors.New("outbox closed")

// request is one write waiting for the committer.
type request struct {
	ctx  context.Context
	fn   func(*bolt.Tx) error
	done chan error // buffered: the committer never blocks on it
	ran  bool       // fn ran in the transaction being committed
}

// write runs fn in a synced write transaction, together with the writes
// of other goroutines that arrive while the previous transaction is being
// synced (group commit). It returns when the transaction that holds fn is
// on disk, or when ctx ends; in that case fn may still be committed
// later, unless its transaction had not begun.
func (o *Outbox) write(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrClosed, o.path)
	}
	o.queue = append(o.queue, r)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default: // the committer is already awake
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commitLoop is the committer goroutine: it takes every queued request
// and commits them in one transaction, until Close. Requests queued
// before Close are committed before it returns.
func (o *Outbox) commitLoop() {
	defer close(o.stopped)
	for {
		select {
		case <-o.wake:
		case <-o.quit:
			// Close marked the outbox closed first, so the queue can
			// only shrink now.
			for o.commitQueued() {
			}
			return
		}
		for o.commitQueued() {
		}
	}
}

// commitQueued commits what is queued; it reports whether there was
// anything.
func (o *Outbox) commitQueued() bool {
	o.mu.Lock()
	batch := o.queue
	o.queue = nil
	o.mu.Unlock()
	if len(batch) == 0 {
		return false
	}
	o.commitBatch(batch)
	return true
}

// commitBatch commits batch in one transaction and delivers each result.
// When one request fails, the transaction is rolled back, the others are
// committed without it and then the failed one alone, so one bad request
// does not fail the others (as bbolt's DB.Batch does).
func (o *Outbox) commitBatch(batch []*request) {
	if o.fault != nil {
		if err := o.fault(); err != nil {
			for _, r := range batch {
				r.done <- err
			}
			return
		}
	}
	failed := -1
	err := boltsafe.Guard(func() error {
		return o.db.Update(func(tx *bolt.Tx) error {
			for i, r := range batch {
				r.ran = false
				if r.ctx.Err() != nil {
					continue // given up before its transaction began
				}
				if err := r.fn(tx); err != nil {
					failed = i
					return err
				}
				r.ran = true
			}
			return nil
		})
	})
	switch {
	case failed >= 0 && len(batch) > 1:
		solo := batch[failed]
		o.commitBatch(append(batch[:failed:failed], batch[failed+1:]...))
		o.commitBatch([]*request{solo})
	case err != nil:
		for _, r := range batch {
			r.done <- err
		}
	default:
		o.commits.Add(1)
		for _, r := range batch {
			if r.ran {
				r.done <- nil
			} else {
				r.done <- r.ctx.Err()
			}
		}
	}
}
