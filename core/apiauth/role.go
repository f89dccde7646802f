package apiauth

import (
	"fmt"
	"strconv"
)

// Role is what a credential may do. Roles are ordered: a higher role may do
// all that a lower one may. The zero Role is no role and passes no check.
type Role int

const (
	// RoleRead may read metrics and the status without anything secret.
	RoleRead Role = iota + 1
	// RolePeer is the partner node: the status in full.
	RolePeer
	// RoleAdmin may read and change everything: the outbox, reload.
	RoleAdmin
)

// roleNames are the names ParseRole accepts, by Role.
var roleNames = map[Role]string{RoleRead: "read", RolePeer: "peer", RoleAdmin: "admin"}

// validRoles lists the names for errors, in order.
const validRoles = `"read", "peer" or "admin"`

// ParseRole returns the Role named s: "read", "peer" or "admin".
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if s == name {
			return r, nil
		}
	}
	return 0, fmt.Errorf("parse role %q: not a role: use %s", s, validRoles)
}

// String returns the role's name as ParseRole accepts it, or "Role(N)" for
// a value that is not a role.
func (r Role) String() string {
	if name, ok := roleNames[r]; ok {
		return name
	}
	return "Role(" + strconv.Itoa(int(r)) + ")"
}

// valid reports whether r is one of the three roles.
func (r Role) valid() bool {
	_, ok := roleNames[r]
	return ok
}
