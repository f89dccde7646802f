package hcldecode

import (
	"math"
	"math/big"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

func TestWholeNumber(t *testing.T) {
	tests := []struct {
		name string
		v    cty.Value
		want int64
		ok   bool
	}{
		{name: "whole", v: cty.NumberIntVal(42), want: 42, ok: true},
		{name: "negative", v: cty.NumberIntVal(-3), want: -3, ok: true},
		{name: "largest int64", v: cty.NumberIntVal(math.MaxInt64), want: math.MaxInt64, ok: true},
		{name: "past int64", v: cty.NumberVal(new(big.Float).Add(big.NewFloat(math.MaxInt64), big.NewFloat(1))), ok: false},
		{name: "fraction", v: cty.NumberFloatVal(1.5), ok: false},
		{name: "string", v: cty.StringVal("1"), ok: false},
		{name: "null", v: cty.NullVal(cty.Number), ok: false},
		{name: "unknown", v: cty.UnknownVal(cty.Number), ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := WholeNumber(tt.v)
			if ok != tt.ok || ok && n != tt.want {
				t.Errorf("WholeNumber(%#v) = %d, %v; want %d, %v", tt.v, n, ok, tt.want, tt.ok)
			}
		})
	}
}
