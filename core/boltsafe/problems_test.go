package boltsafe

import (
	"errors"
	"fmt"
	"testing"
)

func TestFirstProblem(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want string // "" for nil
	}{
		{name: "none", n: 0},
		{name: "one", n: 1, want: "problem 1"},
		{name: "two", n: 2, want: "problem 1 (and 1 more problems)"},
		{name: "three", n: 3, want: "problem 1 (and 2 more problems)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan error, tt.n)
			var first error
			for i := range tt.n {
				err := fmt.Errorf("problem %d", i+1)
				if first == nil {
					first = err
				}
				ch <- err
			}
			close(ch)
			err := firstProblem(ch)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("firstProblem = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, first) {
				t.Errorf("firstProblem = %v, want %q wrapping the first", err, tt.want)
			}
		})
	}
}
