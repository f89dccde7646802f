package outbox

import "testing"

// The report that `tocsin outbox recover` prints says what was kept and
// lost, and mentions scanned pages, stale copies and damage only when
// there are some.
func TestReport_String(t *testing.T) {
	tests := []struct {
		name string
		rep  Report
		want string
	}{
		{"intact", Report{Path: "/d/outbox.db", Intact: true}, "outbox /d/outbox.db is intact: nothing to recover"},
		{"nothing lost", Report{Path: "/d/outbox.db", Problem: "truncated", MovedTo: "/d/outbox.db.corrupt-x", Kept: 3, Pending: 2, Dead: 1},
			"outbox /d/outbox.db was damaged: truncated\n" +
				"moved it to /d/outbox.db.corrupt-x (keep it until the agent runs well again)\n" +
				"kept 3 entries (2 pending, 1 dead) in a new /d/outbox.db"},
		{"everything to say", Report{Path: "/d/outbox.db", Problem: "p", MovedTo: "/d/m", Kept: 1, Pending: 1,
			Lost: []string{`"a@x"`, `"b@x"`}, Scanned: 1, MaybeStale: true, Damage: []string{"page 3: bad", "page 4: bad"}},
			"outbox /d/outbox.db was damaged: p\n" +
				"moved it to /d/m (keep it until the agent runs well again)\n" +
				"kept 1 entries (1 pending, 0 dead) in a new /d/outbox.db\n" +
				"lost 2 entries that did not decode: \"a@x\", \"b@x\"\n" +
				"1 of the kept entries were found on pages the database no longer reached\n" +
				"warning: free pages could not be told from live ones: some kept entries may be older versions, or sent already and will be sent again\n" +
				"damage: page 3: bad\n" +
				"damage: page 4: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rep.String(); got != tt.want {
				t.Errorf("String =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
