package facts

import (
	"context"
	"net"

	"github.com/zclconf/go-cty/cty"
)

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
