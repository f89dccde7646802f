package sdk_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

func TestConfigured(t *testing.T) {
	t.Parallel()
	a, b := "a", "b"
	noLogin := errors.New("no login yet")
	tests := []struct {
		name    string
		steps   func(c *sdk.Configured[string])
		want    *string
		wantErr error
	}{
		{name: "zero value", steps: func(*sdk.Configured[string]) {}, wantErr: sdk.ErrNotConfigured},
		{name: "set", steps: func(c *sdk.Configured[string]) { c.Set(&a) }, want: &a},
		{name: "set again", steps: func(c *sdk.Configured[string]) { c.Set(&a); c.Set(&b) }, want: &b},
		{name: "set nil", steps: func(c *sdk.Configured[string]) { c.Set(&a); c.Set(nil) }, wantErr: sdk.ErrNotConfigured},
		{name: "fail", steps: func(c *sdk.Configured[string]) { c.Set(&a); c.Fail(noLogin) }, wantErr: noLogin},
		{name: "fail nil", steps: func(c *sdk.Configured[string]) { c.Fail(noLogin); c.Fail(nil) }, wantErr: sdk.ErrNotConfigured},
		{name: "set after fail", steps: func(c *sdk.Configured[string]) { c.Fail(noLogin); c.Set(&b) }, want: &b},
		{name: "set nil after fail", steps: func(c *sdk.Configured[string]) { c.Fail(noLogin); c.Set(nil) }, wantErr: sdk.ErrNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c sdk.Configured[string]
			tt.steps(&c)
			got, err := c.Get()
			if got != tt.want || err != tt.wantErr {
				t.Errorf("Get = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestErrNotConfigured(t *testing.T) {
	t.Parallel()
	e := sdk.ErrNotConfigured
	if e.Kind != sdk.Permanent || e.Err == nil || e.Err.Error() != "transport is not configured" || e.Remedy == "" {
		t.Errorf("ErrNotConfigured = %+v; want permanent \"transport is not configured\" with a remedy", e)
	}
}

// TestConfigured_concurrent is for -race: Set, Fail and Get from many
// goroutines.
func TestConfigured_concurrent(t *testing.T) {
	t.Parallel()
	var c sdk.Configured[int]
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				switch (i + j) % 3 {
				case 0:
					c.Set(&j)
				case 1:
					c.Fail(nil)
				default:
					if v, err := c.Get(); (v == nil) == (err == nil) {
						t.Errorf("Get = %v, %v; want a value or an error", v, err)
					}
				}
			}
		})
	}
	wg.Wait()
}
