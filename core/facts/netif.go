package facts

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/zclconf/go-cty/cty"
)

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
