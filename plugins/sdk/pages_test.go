package sdk

import (
	"slices"
	"strings"
	"testing"
)

const smapsField = `Size:                 24 kB
Rss:                  24 kB
`

func TestFileSpans(t *testing.T) {
	const exe = "/usr/lib/tocsin/plugins/tocsin-plugin-smtp-basic"
	mapping := func(head, anonymous string) string {
		return head + "\n" + smapsField + "Anonymous:            " + anonymous + " kB\nVmFlags: rd mr mw me\n"
	}
	tests := []struct {
		name  string
		smaps string
		want  []span
	}{
		{"code", mapping("00400000-00a00000 r-xp 00000000 fe:00 12 "+exe, "0"), []span{{0x400000, 0xa00000}}},
		{"constant data", mapping("00a00000-00f00000 r--p 00600000 fe:00 12 "+exe, "0"), []span{{0xa00000, 0xf00000}}},
		{"two mappings", mapping("00400000-00a00000 r-xp 00000000 fe:00 12 "+exe, "0") + mapping("00a00000-00f00000 r--p 00600000 fe:00 12 "+exe, "0"),
			[]span{{0x400000, 0xa00000}, {0xa00000, 0xf00000}}},
		{"relocated pages are kept", mapping("00a00000-00f00000 r--p 00600000 fe:00 12 "+exe, "8"), nil},
		{"only the mapping with copies is kept", mapping("00400000-00a00000 r-xp 00000000 fe:00 12 "+exe, "0") + mapping("00a00000-00f00000 r--p 00600000 fe:00 12 "+exe, "4"),
			[]span{{0x400000, 0xa00000}}},
		{"writable data", mapping("00f00000-01000000 rw-p 00b00000 fe:00 12 "+exe, "0"), nil},
		{"no access", mapping("00f00000-01000000 ---p 00b00000 fe:00 12 "+exe, "0"), nil},
		{"another file", mapping("7f0000000000-7f0000001000 r-xp 00000000 fe:00 13 /usr/lib/libc.so.6", "0"), nil},
		{"a file whose name starts like it", mapping("00400000-00a00000 r-xp 00000000 fe:00 12 "+exe+"-old", "0"), nil},
		{"anonymous", mapping("c000000000-c000400000 rw-p 00000000 00:00 0", "0"), nil},
		{"deleted binary", mapping("00400000-00a00000 r-xp 00000000 fe:00 12 "+exe+" (deleted)", "0"), nil},
		{"bad start", mapping("zz400000-00a00000 r-xp 00000000 fe:00 12 "+exe, "0"), nil},
		{"bad end", mapping("00400000-00a0000g r-xp 00000000 fe:00 12 "+exe, "0"), nil},
		{"no range", mapping("00400000 r-xp 00000000 fe:00 12 "+exe, "0"), nil},
		{"empty range", mapping("00400000-00400000 r-xp 00000000 fe:00 12 "+exe, "0"), nil},
		{"blank lines", "\n" + mapping("00400000-00a00000 r-xp 00000000 fe:00 12 "+exe, "0") + "\n", []span{{0x400000, 0xa00000}}},
		{"nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fileSpans(strings.NewReader(tt.smaps), exe)
			if !slices.Equal(got, tt.want) {
				t.Errorf("fileSpans = %x, want %x", got, tt.want)
			}
		})
	}
}
