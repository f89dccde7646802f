package facts

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// KindDNS is the kind that checks that a name resolves.
const KindDNS Kind = "dns"

// DNSSpec is a check that a name resolves.
type DNSSpec struct {
	// Name is the name to resolve.
	Name string
	// Type is "A", "AAAA" or "" for both.
	Type string
	// Server is "ip:port" (or "ip", port 53) of the DNS server to ask
	// instead of the system's. The Go resolver still consults /etc/hosts
	// first, so names listed there never reach the server.
	Server string
}

// DefaultDNSPort is the port of a DNS server given without one.
const DefaultDNSPort = "53"

func init() {
	register(20, &kindDef{
		name: KindDNS,
		args: []Arg{
			{Name: "dns", Main: true, Type: cty.String, Field: "dns.name", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				s.DNS = &DNSSpec{Name: v.AsString()}
				return nil
			}},
			{Name: "dns_type", Type: cty.String, Field: "dns.type", Set: setString(func(s *Spec) *string { return &s.DNS.Type })},
			{Name: "dns_server", Type: cty.String, Field: "dns.server", Set: setString(func(s *Spec) *string { return &s.DNS.Server })},
		},
		values: map[string]cty.Type{
			"name":      cty.String,
			"addresses": cty.List(cty.String),
		},
		has: func(s Spec) bool { return s.DNS != nil },
		defaults: func(s Spec) Spec {
			c := *s.DNS
			c.Type = strings.ToUpper(strings.TrimSpace(c.Type))
			if c.Server != "" {
				if _, err := netip.ParseAddr(c.Server); err == nil {
					c.Server = net.JoinHostPort(c.Server, DefaultDNSPort)
				}
			}
			s.DNS = &c
			return s
		},
		valid: func(s Spec, add addFunc) {
			d := s.DNS
			if strings.TrimSpace(d.Name) == "" {
				add("dns.name", "must be set")
			}
			if d.Type != "" && d.Type != "A" && d.Type != "AAAA" {
				add("dns.type", "%q is not one of \"A\", \"AAAA\" or \"\" (both)", d.Type)
			}
			if d.Server != "" {
				if err := checkIPPort(d.Server); err != nil {
					add("dns.server", "%v", err)
				}
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if s.DNS != nil {
				v["name"] = stringVal(s.DNS.Name)
			}
		},
		run: checkDNS,
	})
}

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
