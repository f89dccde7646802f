package facts

import (
	"context"
	"net"

	"github.com/zclconf/go-cty/cty"
)

// KindTCP is the kind that checks that a TCP connection opens.
const KindTCP Kind = "tcp"

// TCPSpec is a check that a TCP connection can be opened.
type TCPSpec struct {
	// Address is "host:port"; the host may be a name or an IP address.
	Address string
}

func init() {
	register(10, &kindDef{
		name: KindTCP,
		args: []Arg{{Name: "tcp", Main: true, Type: cty.String, Field: "tcp.address", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
			s.TCP = &TCPSpec{Address: v.AsString()}
			return nil
		}}},
		values: map[string]cty.Type{
			"address": cty.String,
		},
		has:      func(s Spec) bool { return s.TCP != nil },
		defaults: func(s Spec) Spec { c := *s.TCP; s.TCP = &c; return s },
		valid: func(s Spec, add addFunc) {
			if err := checkHostPort(s.TCP.Address); err != nil {
				add("tcp.address", "%v", err)
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if s.TCP != nil {
				v["address"] = stringVal(s.TCP.Address)
			}
		},
		run: checkTCP,
	})
}

// checkTCP opens a TCP connection to the address and closes it again.
// Values: address.
func checkTCP(ctx context.Context, s Spec, _ *env, _ map[string]cty.Value) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.TCP.Address)
	if err != nil {
		return err
	}
	_ = conn.Close()
	return nil
}
