package facts

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/zclconf/go-cty/cty"
)

// KindInterface is the kind that checks this host's network interfaces.
const KindInterface Kind = "interface"

// InterfaceSpec is a check of this host's network interfaces. At least one
// of Address and Name is set.
type InterfaceSpec struct {
	// Address is an IP address that should be assigned to an interface
	// (to the interface Name when that is set too).
	Address string
	// Name is the name of an interface that should be up.
	Name string
}

func init() {
	register(50, &kindDef{
		name: KindInterface,
		args: []Arg{
			// interface = "10.0.0.10" names an address, interface =
			// "eth0" an interface.
			{Name: "interface", Main: true, Type: cty.String, Field: "interface.address", Set: func(s *Spec, v cty.Value, _ ArgContext) error {
				if _, err := netip.ParseAddr(v.AsString()); err == nil {
					s.Interface = &InterfaceSpec{Address: v.AsString()}
				} else {
					s.Interface = &InterfaceSpec{Name: v.AsString()}
				}
				return nil
			}},
			{Name: "interface_name", Type: cty.String, Field: "interface.name", Set: setString(func(s *Spec) *string { return &s.Interface.Name })},
		},
		values: map[string]cty.Type{
			"address":   cty.String,
			"name":      cty.String,
			"assigned":  cty.Bool,
			"up":        cty.Bool,
			"addresses": cty.List(cty.String),
		},
		has:      func(s Spec) bool { return s.Interface != nil },
		defaults: func(s Spec) Spec { c := *s.Interface; s.Interface = &c; return s },
		valid: func(s Spec, add addFunc) {
			i := s.Interface
			if i.Address == "" && i.Name == "" {
				add("interface", "set address, name or both")
			}
			if i.Address != "" {
				if _, err := netip.ParseAddr(i.Address); err != nil {
					add("interface.address", "%q is not an IP address", i.Address)
				}
			}
		},
		baseFn: func(s Spec, v map[string]cty.Value) {
			if s.Interface != nil {
				if s.Interface.Address != "" {
					v["address"] = stringVal(s.Interface.Address)
				}
				if s.Interface.Name != "" {
					v["name"] = stringVal(s.Interface.Name)
				}
			}
		},
		run: checkInterface,
	})
}

// netInterface is what the interface check needs to know of one network
// interface.
type netInterface struct {
	Name string
	// Up is true when the interface is administratively up and has a
	// carrier (the kernel's IFF_UP and IFF_RUNNING).
	Up    bool
	Addrs []netip.Addr
}

// systemInterfaces lists this host's interfaces.
func systemInterfaces() ([]netInterface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]netInterface, 0, len(ifs))
	for _, i := range ifs {
		addrs, err := i.Addrs()
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", i.Name, err)
		}
		ni := netInterface{
			Name: i.Name,
			Up:   i.Flags&net.FlagUp != 0 && i.Flags&net.FlagRunning != 0,
		}
		for _, a := range addrs {
			var ip net.IP
			switch a := a.(type) {
			case *net.IPNet:
				ip = a.IP
			case *net.IPAddr:
				ip = a.IP
			}
			if addr, ok := netip.AddrFromSlice(ip); ok {
				ni.Addrs = append(ni.Addrs, addr.Unmap())
			}
		}
		out = append(out, ni)
	}
	return out, nil
}

// checkInterface looks for the address among this host's interfaces (on
// the named one, when a name is given) and at the state of the interface.
// Values: address, name (of the interface holding the address when none
// is given), assigned (null without an address), up, addresses (all of
// the interface's). It succeeds when the address is assigned and its
// interface is up, or, with a name alone, when that interface is up.
func checkInterface(_ context.Context, s Spec, e *env, v map[string]cty.Value) error {
	spec := s.Interface
	var want netip.Addr
	if spec.Address != "" {
		a, err := netip.ParseAddr(spec.Address)
		if err != nil {
			return fmt.Errorf("interface.address: %w", err)
		}
		want = a.Unmap().WithZone("")
		v["assigned"] = cty.False
	}
	list, err := e.interfaces()
	if err != nil {
		return err
	}

	var found *netInterface
	for i := range list {
		switch {
		case spec.Name != "" && list[i].Name == spec.Name:
			found = &list[i]
		case spec.Name == "" && slices.Contains(list[i].Addrs, want):
			found = &list[i]
		}
		if found != nil {
			break
		}
	}
	if found == nil {
		if spec.Name != "" {
			return fmt.Errorf("interface %s: not found", spec.Name)
		}
		return fmt.Errorf("%s is not assigned to any interface", spec.Address)
	}

	v["name"] = stringVal(found.Name)
	v["up"] = cty.BoolVal(found.Up)
	v["addresses"] = addrList(found.Addrs)
	assigned := true
	if want.IsValid() {
		assigned = slices.Contains(found.Addrs, want)
		v["assigned"] = cty.BoolVal(assigned)
	}
	switch {
	case !assigned && !found.Up:
		return fmt.Errorf("%s is not assigned to %s, and %s is down", spec.Address, found.Name, found.Name)
	case !assigned:
		return fmt.Errorf("%s is not assigned to %s", spec.Address, found.Name)
	case !found.Up:
		return fmt.Errorf("interface %s is down", found.Name)
	}
	return nil
}
