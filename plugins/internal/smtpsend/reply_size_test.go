package smtpsend

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// hugeReplyServer is an SMTP server on 127.0.0.1 that answers the command
// verb ("" for the greeting) with reply, a reply of many megabytes, and
// every other command as a willing server would. It serves one
// connection.
func hugeReplyServer(t *testing.T, verb string, reply []byte) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if verb == "" {
			_, _ = c.Write(reply)
			return
		}
		_, _ = c.Write([]byte("220 huge.example.test ESMTP\r\n"))
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			cmd := strings.ToUpper(f[0])
			var resp string
			switch {
			case cmd == verb:
				if _, err := c.Write(reply); err != nil {
					return
				}
				continue
			case cmd == "EHLO" || cmd == "HELO":
				resp = "250-huge.example.test\r\n250 8BITMIME\r\n"
			case cmd == "DATA":
				resp = "354 go ahead\r\n"
			case cmd == "QUIT":
				_, _ = c.Write([]byte("221 bye\r\n"))
				return
			default:
				resp = "250 ok\r\n"
			}
			if _, err := c.Write([]byte(resp)); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// bigReply returns a reply of about size bytes: a multi-line 451 ending in
// a last line, or, when oneLine, a single line that never ends.
func bigReply(size int, oneLine bool) []byte {
	if oneLine {
		return append([]byte("451 "), bytes.Repeat([]byte("x"), size)...)
	}
	line := "451-4.3.0 " + strings.Repeat("y", 100) + "\r\n"
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("451 4.3.0 try again later\r\n")
	return b.Bytes()
}

// TestSender_Send_hugeReply: a server that answers with 20 MB does not
// make the sender read and keep 20 MB: it reads up to MaxReplyBytes, fails
// the attempt as temporary, and says the reply was cut. (The issue's
// reproduction: a 20 MB multi-line 451 to MAIL FROM drove the agent to
// 527 MB.) Not parallel: it measures the memory the sender allocates.
func TestSender_Send_hugeReply(t *testing.T) {
	const size = 20 << 20
	tests := []struct {
		name    string
		verb    string
		oneLine bool
		// batch: the failure ends the whole batch (before MAIL FROM).
		batch bool
	}{
		{name: "multi-line 451 to MAIL FROM", verb: "MAIL"},
		{name: "one endless line to MAIL FROM", verb: "MAIL", oneLine: true},
		{name: "multi-line 451 to RCPT TO", verb: "RCPT"},
		{name: "greeting", verb: "", batch: true},
		{name: "EHLO", verb: "EHLO", batch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reply := bigReply(size, tt.oneLine)
			port := hugeReplyServer(t, tt.verb, reply)
			s := newSender(t, Options{Host: "127.0.0.1", Port: port, Security: SecurityNone})

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			results, err := s.Send(t.Context(), []*sdk.Message{message("m1")})
			runtime.ReadMemStats(&after)

			if tt.batch {
				if err == nil {
					t.Fatalf("Send = %+v, want a batch error", results)
				}
			} else {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				err = results[0].Err
			}
			var de *sdk.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("error %T (%.200v), want *sdk.DeliveryError", err, err)
			}
			if de.Kind != sdk.Temporary {
				t.Errorf("Kind = %v, want temporary", de.Kind)
			}
			text := de.Error() + de.Reply + de.Remedy
			if len(text) > 4096 {
				t.Errorf("the error, reply and remedy take %d bytes, want at most 4096; error starts %.200q", len(text), de.Error())
			}
			if !errors.Is(err, errReplyTooLarge) {
				t.Errorf("error %.300q does not wrap errReplyTooLarge", err)
			}
			if !strings.Contains(de.Error(), "cut") || !strings.Contains(de.Remedy, "cut") {
				t.Errorf("error %.300q, remedy %q: want both to say that the reply was cut", de.Error(), de.Remedy)
			}
			t.Logf("Send allocated %d KiB; error %q; remedy %q", (after.TotalAlloc-before.TotalAlloc)>>10, de.Error(), de.Remedy)
			if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
				t.Errorf("Send allocated %d MiB for a %d MiB reply, want under 4 MiB", got>>20, size>>20)
			}
		})
	}
}
