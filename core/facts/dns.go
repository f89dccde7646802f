package facts

import (
	"context"
	"fmt"
	"net"

	"github.com/zclconf/go-cty/cty"
)

// checkDNS resolves the name, through the given server if there is one.
// Values: name, addresses (sorted, IPv4 first). It fails when the name
// has no address of the asked type.
func checkDNS(ctx context.Context, s Spec, _ *env, v map[string]cty.Value) error {
	d := s.DNS
	r := net.DefaultResolver
	if d.Server != "" {
		server := d.Server
		r = &net.Resolver{
			PreferGo: true,
			// The resolver dials the servers of resolv.conf; every
			// dial goes to the configured server instead, over the
			// network (udp, or tcp for long answers) it asks for.
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var dialer net.Dialer
				return dialer.DialContext(ctx, network, server)
			},
		}
	}
	network := "ip"
	switch d.Type {
	case "A":
		network = "ip4"
	case "AAAA":
		network = "ip6"
	}
	addrs, err := r.LookupNetIP(ctx, network, d.Name)
	if err != nil {
		return err
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	v["addresses"] = addrList(addrs)
	if len(addrs) == 0 {
		what := "addresses"
		if d.Type != "" {
			what = d.Type + " records"
		}
		return fmt.Errorf("lookup %s: no %s", d.Name, what)
	}
	return nil
}
