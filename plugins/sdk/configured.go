package sdk

import (
	"errors"
	"sync"
)

// ErrNotConfigured is the error a transport's Check and Send return
// before a Configure without error diagnostics: permanent, with the
// remedy to fix the transport's settings.
var ErrNotConfigured = PermanentError(errors.New("transport is not configured"), "", "Fix the errors `tocsin validate` reports for this transport.")

// Configured holds what a transport's last good Configure set up (its
// sender, its client), for Check and Send to use. Until Set is called
// with a value, Get fails with ErrNotConfigured. It is safe for
// concurrent use; the zero value is ready.
//
//	type Transport struct{ cur sdk.Configured[sender] }
//
//	func (t *Transport) Configure(ctx context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
//		s, diags := newSender(cfg) // nil with error diagnostics
//		t.cur.Set(s)
//		return diags, nil
//	}
//
//	func (t *Transport) Check(ctx context.Context) error {
//		s, err := t.cur.Get()
//		if err != nil {
//			return err
//		}
//		return s.check(ctx)
//	}
type Configured[T any] struct {
	mu  sync.RWMutex
	v   *T
	err error
}

// Set makes v what Get returns; a nil v makes Get fail with
// ErrNotConfigured.
func (c *Configured[T]) Set(v *T) {
	c.mu.Lock()
	c.v, c.err = v, nil
	c.mu.Unlock()
}

// Fail makes Get fail with err, or with ErrNotConfigured when err is nil:
// for a Configure that leaves the transport unable to send for a reason
// of its own, such as a login the operator has not done yet.
func (c *Configured[T]) Fail(err error) {
	c.mu.Lock()
	c.v, c.err = nil, err
	c.mu.Unlock()
}

// Get returns the value of the last Set, or the error Check and Send
// should fail with.
func (c *Configured[T]) Get() (*T, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	switch {
	case c.v != nil:
		return c.v, nil
	case c.err != nil:
		return nil, c.err
	default:
		return nil, ErrNotConfigured
	}
}
