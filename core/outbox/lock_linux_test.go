package outbox

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseLocks(t *testing.T) {
	const locks = `1: POSIX  ADVISORY  WRITE 99 08:01:1234 0 EOF
2: FLOCK  ADVISORY  WRITE 4242 00:2f:5678 0 EOF
2: -> FLOCK  ADVISORY  WRITE 777 00:2f:5678 0 EOF
3: FLOCK  ADVISORY  WRITE 31337 103:02:9999 0 EOF
4: OFDLCK ADVISORY  READ  -1 00:2f:8888 0 EOF
`
	dev := func(major, minor uint64) uint64 {
		return (major&0xfff)<<8 | minor&0xff | (major&^0xfff)<<32 | (minor&^0xff)<<12
	}
	tests := []struct {
		name     string
		dev, ino uint64
		want     int
	}{
		{"holder, not the waiter", dev(0, 0x2f), 5678, 4242},
		{"device in hex", dev(0x103, 2), 9999, 31337},
		{"inode on another device", dev(0, 0x30), 1234, 99},
		{"no pid", dev(0, 0x2f), 8888, 0},
		{"unknown inode", dev(0, 0x2f), 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseLocks(bufio.NewScanner(strings.NewReader(locks)), tt.dev, tt.ino); got != tt.want {
				t.Errorf("parseLocks = %d, want %d", got, tt.want)
			}
		})
	}
}
