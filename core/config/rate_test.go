package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    Rate
		errPart string
	}{
		{in: "30/1m", want: Rate{30, time.Minute}},
		{in: "30/m", want: Rate{30, time.Minute}},
		{in: " 10000 / 10m ", want: Rate{10000, 10 * time.Minute}},
		{in: "2000/24h", want: Rate{2000, 24 * time.Hour}},
		{in: "1/500ms", want: Rate{1, 500 * time.Millisecond}},
		{in: "30", errPart: `has no "/"`},
		{in: "0/1m", errPart: "at least 1"},
		{in: "-3/1m", errPart: "at least 1"},
		{in: "many/1m", errPart: "whole number"},
		{in: "30/", errPart: "not a duration"},
		{in: "30/minute", errPart: "not a duration"},
		{in: "30/0s", errPart: "not a duration"},
		{in: "30/200h", errPart: "a week"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("ParseRate(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.errPart)
				}
				if !strings.Contains(err.Error(), `"30/1m"`) {
					t.Errorf("the error does not show how to write it: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
