package rules

import (
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
)

func TestRoleMemory_Observe(t *testing.T) {
	s := func(r string) cty.Value { return cty.StringVal(r) }
	type read struct {
		at      time.Duration
		v       cty.Value
		changed bool
		want    RoleMemory // Since and NextSince as offsets from t0
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name  string
		reads []read
	}{{
		name: "the first role is taken at once, with no previous role",
		reads: []read{
			{at: 0, v: s("backup"), changed: true, want: RoleMemory{Role: "backup", Since: at(0)}},
			{at: m, v: s("backup"), want: RoleMemory{Role: "backup", Since: at(0)}},
		},
	}, {
		name: "another role counts once read for RoleSettle, since it was first read",
		reads: []read{
			{at: 0, v: s("backup"), changed: true, want: RoleMemory{Role: "backup", Since: at(0)}},
			{at: 10 * m, v: s("primary"), changed: true, want: RoleMemory{Role: "backup", Since: at(0), Next: "primary", NextSince: at(10 * m)}},
			{at: 12*m - time.Second, v: s("primary"), want: RoleMemory{Role: "backup", Since: at(0), Next: "primary", NextSince: at(10 * m)}},
			{at: 12 * m, v: s("primary"), changed: true, want: RoleMemory{Role: "primary", Since: at(10 * m), Previous: "backup"}},
			{at: 13 * m, v: s("primary"), want: RoleMemory{Role: "primary", Since: at(10 * m), Previous: "backup"}},
		},
	}, {
		name: "a role read once is forgotten when the old one is read again",
		reads: []read{
			{at: 0, v: s("backup"), changed: true, want: RoleMemory{Role: "backup", Since: at(0)}},
			{at: m, v: s("primary"), changed: true, want: RoleMemory{Role: "backup", Since: at(0), Next: "primary", NextSince: at(m)}},
			{at: 2 * m, v: s("backup"), changed: true, want: RoleMemory{Role: "backup", Since: at(0)}},
			{at: 5 * m, v: s("primary"), changed: true, want: RoleMemory{Role: "backup", Since: at(0), Next: "primary", NextSince: at(5 * m)}},
		},
	}, {
		name: "a third role restarts the count",
		reads: []read{
			{at: 0, v: s("backup"), changed: true, want: RoleMemory{Role: "backup", Since: at(0)}},
			{at: m, v: s("primary"), changed: true, want: RoleMemory{Role: "backup", Since: at(0), Next: "primary", NextSince: at(m)}},
			{at: 2 * m, v: s("standalone"), changed: true, want: RoleMemory{Role: "backup", Since: at(0), Next: "standalone", NextSince: at(2 * m)}},
			{at: 3 * m, v: s("standalone"), want: RoleMemory{Role: "backup", Since: at(0), Next: "standalone", NextSince: at(2 * m)}},
		},
	}, {
		name: "a role that cannot be read changes nothing",
		reads: []read{
			{at: 0, v: cty.NullVal(cty.String), want: RoleMemory{}},
			{at: 0, v: cty.NilVal, want: RoleMemory{}},
			{at: 0, v: s(""), want: RoleMemory{}},
			{at: 0, v: cty.True, want: RoleMemory{}},
			{at: 0, v: cty.UnknownVal(cty.String), want: RoleMemory{}},
			{at: 0, v: s("primary").Mark("sensitive"), want: RoleMemory{}},
			{at: m, v: s("backup"), changed: true, want: RoleMemory{Role: "backup", Since: at(m)}},
			{at: 2 * m, v: cty.NullVal(cty.String), want: RoleMemory{Role: "backup", Since: at(m)}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mem RoleMemory
			for i, r := range tt.reads {
				var changed bool
				mem, changed = mem.Observe(r.v, at(r.at))
				if changed != r.changed || mem != r.want {
					t.Fatalf("read %d (%#v at +%v): %+v, changed %v; want %+v, %v", i, r.v, r.at, mem, changed, r.want, r.changed)
				}
			}
		})
	}
}

func TestRoleMemory_Values(t *testing.T) {
	var zero RoleMemory
	if !zero.RoleValue().IsNull() || !zero.PreviousValue().IsNull() || !zero.SinceValue().IsNull() {
		t.Fatalf("zero memory: %#v %#v %#v; want nulls", zero.RoleValue(), zero.PreviousValue(), zero.SinceValue())
	}
	first := RoleMemory{Role: "backup", Since: t0.In(time.FixedZone("x", 3600))}
	if first.RoleValue() != cty.StringVal("backup") || !first.PreviousValue().IsNull() || first.SinceValue() != cty.StringVal(t0.UTC().Format(time.RFC3339)) {
		t.Fatalf("first memory: %#v %#v %#v", first.RoleValue(), first.PreviousValue(), first.SinceValue())
	}
	changed := RoleMemory{Role: "primary", Since: t0, Previous: "backup"}
	if changed.PreviousValue() != cty.StringVal("backup") {
		t.Fatalf("previous %#v", changed.PreviousValue())
	}
	if (RoleMemory{Role: "primary"}).SinceValue() != cty.NullVal(cty.String) {
		t.Fatal("a role without Since must give a null role_since")
	}
}

func TestStore_Role(t *testing.T) {
	s, path := openTestStore(t)
	if got, err := s.LoadRole(); err != nil || got != (RoleMemory{}) {
		t.Fatalf("LoadRole of a new store = %+v, %v; want the zero memory", got, err)
	}
	want := RoleMemory{Role: "primary", Since: t0.UTC(), Previous: "backup", Next: "backup", NextSince: t0.Add(m).UTC()}
	if err := s.SaveRole(want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s2.Close() }()
	got, err := s2.LoadRole()
	if err != nil || got != want {
		t.Fatalf("LoadRole after a reopen = %+v, %v; want %+v", got, err, want)
	}
	if states, err := s2.LoadAll(); err != nil || len(states) != 0 {
		t.Fatalf("the role memory is no rule state: LoadAll = %v, %v", states, err)
	}
}
