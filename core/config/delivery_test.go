package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDelivery(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Delivery
		errs []string // summaries, with file:line:col
	}{
		{name: "defaults", src: ``, want: DefaultDelivery()},
		{
			name: "set",
			src:  "delivery {\n  retry_initial = \"1s\"\n  retry_max = \"30s\"\n  max_age = \"5m\"\n  batch_size = 10\n  drain_timeout = \"3s\"\n}\n",
			want: Delivery{RetryInitial: time.Second, RetryMax: 30 * time.Second, MaxAge: 5 * time.Minute, BatchSize: 10, DrainTimeout: 3 * time.Second},
		},
		{
			name: "partly set",
			src:  "delivery {\n  retry_initial = \"2s\"\n}\n",
			want: Delivery{RetryInitial: 2 * time.Second, RetryMax: 10 * time.Minute, MaxAge: time.Hour, BatchSize: 25, DrainTimeout: 20 * time.Second},
		},
		{
			name: "max below initial",
			src:  "delivery {\n  retry_initial = \"1m\"\n  retry_max = \"10s\"\n}\n",
			errs: []string{"a.hcl:3:3: Retry limits do not fit"},
		},
		{
			name: "bad values",
			src:  "delivery {\n  retry_initial = \"soon\"\n  batch_size = 0\n}\n",
			errs: []string{"a.hcl:2:19: Invalid duration", "a.hcl:3:16: Invalid batch size"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.hcl")
			if err := os.WriteFile(path, []byte(tt.src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, diags := Load(path)
			var got []string
			for _, d := range diags {
				got = append(got, fmt.Sprintf("%s:%d:%d: %s", filepath.Base(d.Subject.Filename), d.Subject.Start.Line, d.Subject.Start.Column, d.Summary))
			}
			if len(tt.errs) > 0 {
				if strings.Join(got, "\n") != strings.Join(tt.errs, "\n") {
					t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.errs, "\n"))
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			d := cfg.Delivery
			d.set = nil
			if !reflect.DeepEqual(d, tt.want) {
				t.Errorf("Delivery = %+v, want %+v", d, tt.want)
			}
		})
	}
}
