package apiauth

import (
	"strings"
	"testing"
)

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		ok   bool
	}{
		{"read", RoleRead, true},
		{"peer", RolePeer, true},
		{"admin", RoleAdmin, true},
		{"Admin", 0, false},
		{"", 0, false},
		{"root", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRole(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("ParseRole(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
			if err != nil {
				for _, name := range []string{"read", "peer", "admin"} {
					if !strings.Contains(err.Error(), name) {
						t.Errorf("error %q does not list %q", err, name)
					}
				}
				return
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestRole_order(t *testing.T) {
	if !(0 < RoleRead && RoleRead < RolePeer && RolePeer < RoleAdmin) {
		t.Fatalf("roles are not ordered: read=%d peer=%d admin=%d", RoleRead, RolePeer, RoleAdmin)
	}
	if s := Role(0).String(); s != "Role(0)" {
		t.Errorf("Role(0).String() = %q", s)
	}
}
