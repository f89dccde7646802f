package facts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckFile(t *testing.T) {
	t.Parallel()
	mtime := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	touch := func(t *testing.T, path string) string {
		t.Helper()
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	dir := t.TempDir()
	tests := []struct {
		name    string
		file    func(t *testing.T) FileSpec
		ok      bool
		errPart string
		exists  string // "true", "false" or "null"
		check   func(t *testing.T, f Fact)
	}{
		{
			name: "text",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: touch(t, writeFile(t, "state", "primary\n"))}
			},
			ok: true, exists: "true",
			check: func(t *testing.T, f Fact) {
				if str(t, f, "content") != "primary\n" || num(t, f, "size") != 8 {
					t.Errorf("content %q size %v", str(t, f, "content"), num(t, f, "size"))
				}
				if str(t, f, "mtime") != "2026-02-03T04:05:06Z" {
					t.Errorf("mtime = %q", str(t, f, "mtime"))
				}
				if num(t, f, "age") != 90 {
					t.Errorf("age = %v, want 90", num(t, f, "age"))
				}
				if !isNull(t, f, "json") {
					t.Errorf("json = %#v without json asked", value(t, f, "json"))
				}
			},
		},
		{
			name: "json",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: writeFile(t, "s.json", `{"role": "backup", "peers": ["a", "b"]}`), JSON: true}
			},
			ok: true, exists: "true",
			check: func(t *testing.T, f Fact) {
				j := value(t, f, "json")
				if attr(t, j, "role").AsString() != "backup" || attr(t, j, "peers").LengthInt() != 2 {
					t.Errorf("json = %#v", j)
				}
			},
		},
		{
			name: "bad json",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: writeFile(t, "bad.json", `{"role": `), JSON: true}
			},
			errPart: "bad.json: parse json:", exists: "true",
			check: func(t *testing.T, f Fact) {
				if str(t, f, "content") != `{"role": ` || !isNull(t, f, "json") {
					t.Errorf("values = %v", f.Values)
				}
			},
		},
		{
			name: "json too deep",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: writeFile(t, "deep.json", strings.Repeat("[", 100000)), JSON: true}
			},
			errPart: "nested deeper than 64", exists: "true",
		},
		{
			name: "missing",
			file: func(*testing.T) FileSpec {
				return FileSpec{Path: filepath.Join(dir, "nope")}
			},
			errPart: "no such file or directory", exists: "false",
			check: func(t *testing.T, f Fact) {
				for _, name := range []string{"content", "mtime", "age", "size"} {
					if !isNull(t, f, name) {
						t.Errorf("%s = %#v, want null", name, value(t, f, name))
					}
				}
			},
		},
		{
			name: "cut at max_bytes",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: writeFile(t, "big", "0123456789"), MaxBytes: 4}
			},
			ok: true, exists: "true",
			check: func(t *testing.T, f Fact) {
				if str(t, f, "content") != "0123" || num(t, f, "size") != 10 {
					t.Errorf("content %q size %v", str(t, f, "content"), num(t, f, "size"))
				}
			},
		},
		{
			name: "cut json cannot parse",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: writeFile(t, "big.json", `{"a": 1}`), MaxBytes: 4, JSON: true}
			},
			errPart: "content cut at its size cap (file.max_bytes is 4)", exists: "true",
		},
		{
			name: "a cut inside a character",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: writeFile(t, "utf8", "añb"), MaxBytes: 2}
			},
			ok: true, exists: "true",
			check: func(t *testing.T, f Fact) {
				if str(t, f, "content") != "a\uFFFD" {
					t.Errorf("content = %q", str(t, f, "content"))
				}
			},
		},
		{
			name: "directory",
			file: func(t *testing.T) FileSpec {
				return FileSpec{Path: t.TempDir()}
			},
			errPart: "is not a regular file (d", exists: "true",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := tt.file(t)
			e := systemEnv(func() time.Time { return mtime.Add(90 * time.Second) })
			f := runWith(t, Spec{Name: "state", File: &spec}, e)
			wantOK(t, f, tt.ok, tt.errPart)
			exists := "null"
			if !isNull(t, f, "exists") {
				exists = "false"
				if boolean(t, f, "exists") {
					exists = "true"
				}
			}
			if exists != tt.exists {
				t.Errorf("exists = %s, want %s", exists, tt.exists)
			}
			if str(t, f, "path") != spec.Path {
				t.Errorf("path = %q", str(t, f, "path"))
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}
