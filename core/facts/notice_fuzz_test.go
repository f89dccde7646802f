package facts

import (
	"bytes"
	"testing"
)

// FuzzDecodeStopNotice: a stop notice's body, whatever a caller with the
// peer role sends, decodes or is refused, without a panic and without
// reading past its bound.
func FuzzDecodeStopNotice(f *testing.F) {
	f.Add([]byte(`{"node":"primary","reason":"signal SIGTERM","stopped_at":"2026-12-06T10:00:00Z"}`))
	f.Add([]byte(`{"node":1}`))
	f.Add([]byte(`{}`))
	f.Add(bytes.Repeat([]byte(" "), maxNoticeSize+10))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		_, _ = DecodeStopNotice(r)
		if read := len(data) - r.Len(); read > maxNoticeSize {
			t.Fatalf("read %d bytes, more than the bound %d", read, maxNoticeSize)
		}
	})
}
