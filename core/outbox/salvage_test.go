package outbox

import (
	"os"
	"testing"
)

func FuzzSalvage(f *testing.F) {
	// Seeds: a sound tiny outbox, and damaged copies of it. salvage must
	// never panic, and whatever it keeps must be a valid entry.
	d := buildDatasetForFuzz(f)
	data, err := os.ReadFile(d)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add(append(make([]byte, 8192), data[8192:]...))
	f.Add([]byte("not a database"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := salvage(b)
		for _, e := range s.entries {
			if err := checkEntry(e); err != nil {
				t.Fatalf("salvage kept an invalid entry: %v", err)
			}
		}
	})
}

// buildDatasetForFuzz writes a small outbox and returns its path.
func buildDatasetForFuzz(f *testing.F) string {
	f.Helper()
	path := f.TempDir() + "/outbox.db"
	o, err := Open(path, Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	for _, id := range []string{"a@x", "b@x", "c@x"} {
		e := newEntry(id)
		e.Mail.Text, e.Mail.HTML = "short", ""
		if err := o.Enqueue(f.Context(), e); err != nil {
			f.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		f.Fatal(err)
	}
	return path
}
