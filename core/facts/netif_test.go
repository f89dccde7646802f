package facts

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestCheckInterface(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr
	hosts := []netInterface{
		{Name: "lo", Up: true, Addrs: []netip.Addr{a("::1"), a("127.0.0.1")}},
		{Name: "eth0", Up: true, Addrs: []netip.Addr{a("192.0.2.2"), a("fd00::2")}},
		{Name: "eth1", Up: false, Addrs: []netip.Addr{a("10.0.0.5")}},
		{Name: "eth2", Up: true},
	}
	tests := []struct {
		name      string
		spec      InterfaceSpec
		listErr   error
		ok        bool
		errPart   string
		assigned  string // "true", "false" or "null"
		up        string
		iface     string
		addresses []string
	}{
		{name: "address on an up interface", spec: InterfaceSpec{Address: "192.0.2.2"}, ok: true,
			assigned: "true", up: "true", iface: "eth0", addresses: []string{"192.0.2.2", "fd00::2"}},
		{name: "ipv6 address", spec: InterfaceSpec{Address: "fd00::2"}, ok: true, assigned: "true", up: "true", iface: "eth0"},
		{name: "ipv4-mapped address", spec: InterfaceSpec{Address: "::ffff:192.0.2.2"}, ok: true, assigned: "true", up: "true", iface: "eth0"},
		{name: "address nowhere", spec: InterfaceSpec{Address: "198.51.100.7"}, errPart: "198.51.100.7 is not assigned to any interface",
			assigned: "false", up: "null", iface: "null"},
		{name: "address on a down interface", spec: InterfaceSpec{Address: "10.0.0.5"}, errPart: "interface eth1 is down",
			assigned: "true", up: "false", iface: "eth1", addresses: []string{"10.0.0.5"}},
		{name: "name alone, up", spec: InterfaceSpec{Name: "lo"}, ok: true, assigned: "null", up: "true", iface: "lo",
			addresses: []string{"127.0.0.1", "::1"}},
		{name: "name alone, no addresses", spec: InterfaceSpec{Name: "eth2"}, ok: true, assigned: "null", up: "true", iface: "eth2", addresses: []string{}},
		{name: "name alone, down", spec: InterfaceSpec{Name: "eth1"}, errPart: "interface eth1 is down", assigned: "null", up: "false", iface: "eth1"},
		{name: "name missing", spec: InterfaceSpec{Name: "wlan9"}, errPart: "interface wlan9: not found", assigned: "null", up: "null", iface: "wlan9"},
		{name: "address on the named interface", spec: InterfaceSpec{Name: "eth0", Address: "192.0.2.2"}, ok: true, assigned: "true", up: "true", iface: "eth0"},
		{name: "address on another interface", spec: InterfaceSpec{Name: "eth0", Address: "127.0.0.1"}, errPart: "127.0.0.1 is not assigned to eth0",
			assigned: "false", up: "true", iface: "eth0"},
		{name: "address missing and interface down", spec: InterfaceSpec{Name: "eth1", Address: "192.0.2.2"},
			errPart: "192.0.2.2 is not assigned to eth1, and eth1 is down", assigned: "false", up: "false", iface: "eth1"},
		{name: "address with a missing interface", spec: InterfaceSpec{Name: "wlan9", Address: "192.0.2.2"}, errPart: "interface wlan9: not found",
			assigned: "false", up: "null", iface: "wlan9"},
		{name: "listing fails", spec: InterfaceSpec{Name: "eth0"}, listErr: errors.New("list interfaces: netlink: denied"),
			errPart: "netlink: denied", assigned: "null", up: "null", iface: "eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := systemEnv(time.Now)
			e.interfaces = func() ([]netInterface, error) { return hosts, tt.listErr }
			spec := tt.spec
			f := runWith(t, Spec{Name: "vip", Interface: &spec}, e)
			wantOK(t, f, tt.ok, tt.errPart)
			for name, want := range map[string]string{"assigned": tt.assigned, "up": tt.up} {
				got := "null"
				if !isNull(t, f, name) {
					got = "false"
					if boolean(t, f, name) {
						got = "true"
					}
				}
				if got != want {
					t.Errorf("%s = %s, want %s", name, got, want)
				}
			}
			gotName := "null"
			if !isNull(t, f, "name") {
				gotName = str(t, f, "name")
			}
			if gotName != tt.iface {
				t.Errorf("name = %s, want %s", gotName, tt.iface)
			}
			if tt.spec.Address != "" && str(t, f, "address") != tt.spec.Address {
				t.Errorf("address = %q", str(t, f, "address"))
			}
			if tt.addresses != nil {
				if got := strs(t, f, "addresses"); !slices.Equal(got, tt.addresses) {
					t.Errorf("addresses = %q, want %q", got, tt.addresses)
				}
			}
		})
	}
}

// TestCheckInterface_System looks at this host's real interfaces.
func TestCheckInterface_System(t *testing.T) {
	t.Parallel()
	list, err := systemInterfaces()
	if err != nil {
		t.Fatal(err)
	}
	var lo *netInterface
	for i := range list {
		if slices.Contains(list[i].Addrs, netip.MustParseAddr("127.0.0.1")) {
			lo = &list[i]
		}
	}
	if lo == nil {
		t.Skip("no interface holds 127.0.0.1")
	}
	f := runCheck(t, Spec{Name: "lo", Interface: &InterfaceSpec{Address: "127.0.0.1"}})
	if lo.Up {
		wantOK(t, f, true, "")
	}
	if !boolean(t, f, "assigned") || str(t, f, "name") != lo.Name {
		t.Errorf("values = %v", f.Values)
	}
	f = runCheck(t, Spec{Name: "missing", Interface: &InterfaceSpec{Address: "198.51.100.77"}})
	wantOK(t, f, false, "198.51.100.77 is not assigned to any interface")
	f = runCheck(t, Spec{Name: "byname", Interface: &InterfaceSpec{Name: lo.Name}})
	if got := boolean(t, f, "up"); got != lo.Up {
		t.Errorf("up = %v, want %v", got, lo.Up)
	}
}
