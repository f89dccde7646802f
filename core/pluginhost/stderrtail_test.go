package pluginhost

import (
	"strings"
	"testing"
)

func TestStderrTail(t *testing.T) {
	tests := []struct {
		name  string
		input []string
		max   int
		want  []string
	}{
		{
			name:  "plain lines",
			input: []string{"panic: boom\n", "goroutine 1 [running]:\n"},
			max:   1024,
			want:  []string{"panic: boom", "goroutine 1 [running]:"},
		},
		{
			name: "hclog json keeps warnings and errors",
			input: []string{
				`{"@level":"debug","@message":"plugin address"}` + "\n",
				`{"@level":"error","@message":"cannot read ca_file","error":"no such file"}` + "\n",
			},
			max:  1024,
			want: []string{"cannot read ca_file: no such file"},
		},
		{
			name:  "keeps only the last bytes",
			input: []string{strings.Repeat("x", 50) + "\n", "last words\n"},
			max:   20,
			want:  []string{"xxxxxxxx", "last words"},
		},
		{
			name:  "last n lines",
			input: []string{"1\n2\n3\n4\n5\n"},
			max:   1024,
			want:  []string{"3", "4", "5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tail := newStderrTail(tt.max)
			for _, in := range tt.input {
				if n, err := tail.Write([]byte(in)); err != nil || n != len(in) {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := tail.Lines(3); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Lines = %q, want %q", got, tt.want)
			}
		})
	}
}
