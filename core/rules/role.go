package rules

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/zclconf/go-cty/cty"
	bolt "go.etcd.io/bbolt"

	"github.com/tocsin-dev/tocsin/core/boltsafe"
)

// RoleSettle is how long a new role must be read, at every evaluation,
// before it counts as a change: a role check that misreads once makes no
// takeover, nor one back.
const RoleSettle = 2 * time.Minute

// RoleMemory is what the agent remembers of this node's role (the node
// fact role) across evaluations and restarts, so that rules can tell a
// role that changed from one that has always been: the takeover that
// happened, not only the one predicted. Rules read it as agent.role,
// agent.role_since and agent.previous_role.
type RoleMemory struct {
	// Role is the role last settled on; "" before any was seen.
	Role string `json:"role,omitempty"`
	// Since is when Role was first read (after the one before it).
	Since time.Time `json:"since,omitzero"`
	// Previous is the role before Role; "" until a change was seen.
	Previous string `json:"previous,omitempty"`
	// Next is another role read since NextSince at every evaluation,
	// not yet for RoleSettle; "" when the last read was Role.
	Next      string    `json:"next,omitempty"`
	NextSince time.Time `json:"next_since,omitzero"`
}

// Observe returns m after the node fact role was read as v at now, and
// whether it changed (and is worth saving). The first role read is taken
// at once; another one once it has been read for RoleSettle. A role that
// cannot be read (null, unknown, not a string, empty) changes nothing: a
// role check that fails for a while does not count as a change when it
// reads the same role again.
func (m RoleMemory) Observe(v cty.Value, now time.Time) (RoleMemory, bool) {
	if v == cty.NilVal || !v.IsKnown() || v.IsNull() || v.IsMarked() || v.Type() != cty.String || v.AsString() == "" {
		return m, false
	}
	role := v.AsString()
	switch {
	case m.Role == "":
		return RoleMemory{Role: role, Since: now}, true
	case role == m.Role:
		if m.Next == "" {
			return m, false
		}
		m.Next, m.NextSince = "", time.Time{}
		return m, true
	case role != m.Next:
		m.Next, m.NextSince = role, now
		return m, true
	case now.Sub(m.NextSince) < RoleSettle:
		return m, false
	}
	return RoleMemory{Role: role, Since: m.NextSince, Previous: m.Role}, true
}

// RoleValue is agent.role: the role settled on (node.role, once read
// for RoleSettle), or null before any role was read.
func (m RoleMemory) RoleValue() cty.Value {
	if m.Role == "" {
		return cty.NullVal(cty.String)
	}
	return cty.StringVal(m.Role)
}

// PreviousValue is agent.previous_role: the role before the current one,
// or null when no change has been seen.
func (m RoleMemory) PreviousValue() cty.Value {
	if m.Previous == "" {
		return cty.NullVal(cty.String)
	}
	return cty.StringVal(m.Previous)
}

// SinceValue is agent.role_since: when the current role was first seen,
// RFC 3339 in UTC, or null before any role was seen.
func (m RoleMemory) SinceValue() cty.Value {
	if m.Role == "" || m.Since.IsZero() {
		return cty.NullVal(cty.String)
	}
	return cty.StringVal(m.Since.UTC().Format(time.RFC3339))
}

// memoryBucket holds what the agent remembers besides the rules' states.
var (
	memoryBucket = []byte("memory")
	roleKey      = []byte("role")
)

// SaveRole stores m in one synced transaction.
func (s *Store) SaveRole(m RoleMemory) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("save the role: %w", err)
	}
	err = boltsafe.Guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(memoryBucket)
			if err != nil {
				return err
			}
			return bk.Put(roleKey, b)
		})
	})
	if err != nil {
		return fmt.Errorf("save the role: %w", err)
	}
	return nil
}

// LoadRole returns the role memory last saved; the zero RoleMemory when
// none was.
func (s *Store) LoadRole() (RoleMemory, error) {
	var m RoleMemory
	err := boltsafe.Guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			bk := tx.Bucket(memoryBucket)
			if bk == nil {
				return nil
			}
			v := bk.Get(roleKey)
			if v == nil {
				return nil
			}
			return json.Unmarshal(v, &m)
		})
	})
	if err != nil {
		return RoleMemory{}, fmt.Errorf("load the role: %w", err)
	}
	return m, nil
}
