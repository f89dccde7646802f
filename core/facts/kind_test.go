package facts

import (
	"slices"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// TestKinds_Registry checks what the config decoder relies on of every
// registered kind, so that a new kind that breaks it fails here.
func TestKinds_Registry(t *testing.T) {
	t.Parallel()
	kinds := Kinds()
	builtIn := []Kind{KindTCP, KindDNS, KindHTTP, KindPing, KindInterface, KindFile, KindCommand}
	if len(kinds) < len(builtIn)+1 || !slices.Equal(kinds[:len(builtIn)], builtIn) || kinds[len(kinds)-1] != KindPeer {
		t.Fatalf("Kinds() = %v, want %v first (the documentation's order) and peer last", kinds, builtIn)
	}
	mainOf := map[string]Kind{}
	optionType := map[string]cty.Type{}
	for _, name := range kinds {
		k, ok := Lookup(name)
		if !ok || k.Name() != name {
			t.Fatalf("Lookup(%q) = %v, %v", name, k, ok)
		}
		if len(k.ValueTypes()) == 0 {
			t.Errorf("%s: no values", name)
		}
		for _, a := range k.Args() {
			if a.Name == "" || a.Set == nil || a.Type == cty.NilType {
				t.Errorf("%s: argument %+v lacks a name, a type or a Set", name, a)
			}
			if a.Name == "every" || a.Name == "timeout" {
				t.Errorf("%s: argument %q is common to every check", name, a.Name)
			}
			if a.Main {
				if other, dup := mainOf[a.Name]; dup {
					t.Errorf("%s: main argument %q is %s's already", name, a.Name, other)
				}
				mainOf[a.Name] = name
				continue
			}
			// The config evaluates an option before it knows which
			// kind reads it only to report it; still, one name means
			// one type.
			if ty, seen := optionType[a.Name]; seen && !ty.Equals(a.Type) {
				t.Errorf("%s: option %q is %s here, %s for another kind", name, a.Name, a.Type.FriendlyName(), ty.FriendlyName())
			}
			optionType[a.Name] = a.Type
		}
	}
	for name := range optionType {
		if k, clash := mainOf[name]; clash {
			t.Errorf("option %q is also the main argument of %s", name, k)
		}
	}
	if _, ok := Lookup("smtp"); ok {
		t.Error("Lookup(smtp) found a kind")
	}
	if ObjectType("smtp").Equals(ObjectType(KindTCP)) {
		t.Error("an unknown kind has the attributes of tcp")
	}
}

func TestRegister_Twice(t *testing.T) {
	t.Parallel()
	before := Kinds()
	defer func() {
		if recover() == nil {
			t.Error("registering tcp twice did not panic")
		}
		if !slices.Equal(Kinds(), before) {
			t.Errorf("Kinds() = %v after a refused registration, want %v", Kinds(), before)
		}
	}()
	register(10, &kindDef{name: KindTCP})
}
