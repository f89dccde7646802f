package devsink_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/devsink"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// lockedBuffer is an io.Writer the sink may write to while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start starts a sink in a new directory and closes it at the end of the
// test.
func start(t *testing.T) (*devsink.Sink, *lockedBuffer, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mail")
	out := &lockedBuffer{}
	s, err := devsink.Start(dir, out)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitServing(t, s)
	t.Cleanup(func() {
		// The bound keeps a broken Close from hanging the suite; nothing
		// asserts on how long Close takes.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, out, dir
}

// waitServing returns once the sink answers with its greeting. Close
// right after Start leaves the listener open (see
// TestSink_Close_rightAfterStart), so tests that do not send make sure the
// sink is serving before they close it.
func waitServing(t *testing.T, s *devsink.Sink) {
	t.Helper()
	c, err := smtp.Dial(s.Addr().String())
	if err != nil {
		t.Fatalf("dial the sink: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

// send delivers data with net/smtp, plain and without a login. The sink
// has handled the message when the server's reply to DATA arrives, so
// everything it does is visible once send returns.
func send(t *testing.T, s *devsink.Sink, from string, to []string, data string) {
	t.Helper()
	if err := smtp.SendMail(s.Addr().String(), nil, from, to, []byte(data)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
}

// received returns the mail the subscription got, failing if there is none.
func received(t *testing.T, ch <-chan devsink.Mail) devsink.Mail {
	t.Helper()
	select {
	case m := <-ch:
		return m
	default:
		t.Fatal("the subscription got no mail")
		return devsink.Mail{}
	}
}

// summaryLines returns the "| " lines of a printed summary, without
// trailing empty ones.
func summaryLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "    | "); ok {
			lines = append(lines, rest)
		}
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func TestStart_createsDirectory(t *testing.T) {
	t.Parallel()
	_, _, dir := start(t)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: mode %v, want a directory with 0700", dir, fi.Mode())
	}
}

func TestStart_badDirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := devsink.Start(filepath.Join(file, "mail"), &lockedBuffer{})
	if err == nil {
		_ = s.Close(context.Background())
		t.Fatal("Start under a regular file succeeded")
	}
	if !strings.HasPrefix(err.Error(), "dev sink: ") {
		t.Errorf("error %q does not start with \"dev sink: \"", err)
	}
}

func TestSink_receive(t *testing.T) {
	t.Parallel()
	s, out, dir := start(t)
	ch := s.Subscribe()
	if s.Addr().IP.String() != "127.0.0.1" {
		t.Errorf("listening on %v, want 127.0.0.1", s.Addr())
	}
	data := "From: Alerts <alerts@example.test>\r\n" +
		"To: ops@example.test\r\n" +
		"Subject: Disk full on web-1\r\n" +
		"\r\n" +
		"The disk is full.\r\n" +
		".A line that starts with a dot.\r\n"
	send(t, s, "alerts@example.test", []string{"ops@example.test", "oncall@example.test"}, data)

	if n := s.Count(); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	m := received(t, ch)
	if m.From != "alerts@example.test" || !slices.Equal(m.To, []string{"ops@example.test", "oncall@example.test"}) || m.Subject != "Disk full on web-1" {
		t.Errorf("mail = %+v", m)
	}
	if string(m.Data) != data {
		t.Errorf("Data = %q, want %q", m.Data, data)
	}
	if filepath.Dir(m.Path) != dir || !strings.HasSuffix(m.Path, "-001.eml") {
		t.Errorf("Path = %q, want a file ending in -001.eml in %s", m.Path, dir)
	}
	saved, err := os.ReadFile(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	if string(saved) != data {
		t.Errorf("saved %q, want %q", saved, data)
	}
	fi, err := os.Stat(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}

	want := "\n==> dev sink: mail received\n" +
		"    From:    alerts@example.test\n" +
		"    To:      ops@example.test, oncall@example.test\n" +
		"    Subject: Disk full on web-1\n" +
		"    | The disk is full.\n" +
		"    | .A line that starts with a dot.\n"
	if got := out.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "    Saved:   "+m.Path+"\n\n") {
		t.Errorf("printed:\n%s\nwant it to start with:\n%s\nand end with the saved path", got, want)
	}

	// A second mail is counted and numbered, and reaches a second
	// subscriber too.
	ch2 := s.Subscribe()
	send(t, s, "alerts@example.test", []string{"ops@example.test"}, "Subject: second\r\n\r\nagain\r\n")
	if n := s.Count(); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
	for i, c := range []<-chan devsink.Mail{ch, ch2} {
		if m := received(t, c); m.Subject != "second" || !strings.HasSuffix(m.Path, "-002.eml") {
			t.Errorf("subscriber %d got %+v", i+1, m)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Errorf("%d .eml files, want 2: %q", len(files), files)
	}
}

func TestSink_summary(t *testing.T) {
	t.Parallel()
	b64 := base64.StdEncoding.EncodeToString([]byte("Base64 first line, long enough that the encoding wraps onto a second line of output.\nsecond line\n"))
	b64 = b64[:76] + "\r\n" + b64[76:]
	tests := []struct {
		name        string
		data        string
		wantSubject string
		wantLines   []string
	}{
		{
			name:        "plain text without content type",
			data:        "Subject: plain\r\n\r\nfirst\r\nsecond\r\n",
			wantSubject: "plain",
			wantLines:   []string{"first", "second"},
		},
		{
			name:        "leading blank lines are skipped, inner ones kept",
			data:        "Subject: blanks\r\n\r\n\r\n  \r\nfirst\r\n\r\nthird\r\n",
			wantSubject: "blanks",
			wantLines:   []string{"first", "", "third"},
		},
		{
			name:        "six lines at most",
			data:        "Subject: long\r\n\r\n1\r\n2\r\n3\r\n4\r\n5\r\n6\r\n7\r\n8\r\n",
			wantSubject: "long",
			wantLines:   []string{"1", "2", "3", "4", "5", "6", "…"},
		},
		{
			name:        "encoded subject",
			data:        "Subject: " + mime.QEncoding.Encode("utf-8", "Über 90% voll") + "\r\n\r\nbody\r\n",
			wantSubject: "Über 90% voll",
			wantLines:   []string{"body"},
		},
		{
			name: "quoted-printable",
			data: "Subject: qp\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				"Disk =C3=BCber 90=3D full, soft =\r\nbreak\r\nsecond line\r\n",
			wantSubject: "qp",
			wantLines:   []string{"Disk über 90= full, soft break", "second line"},
		},
		{
			name: "base64",
			data: "Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				b64 + "\r\n",
			wantSubject: "b64",
			wantLines:   []string{"Base64 first line, long enough that the encoding wraps onto a second line of output.", "second line"},
		},
		{
			name: "multipart/alternative picks text/plain after html",
			data: "Subject: alt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
				"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>\r\n" +
				"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ntext =C3=BCber version\r\n" +
				"--b1--\r\n",
			wantSubject: "alt",
			wantLines:   []string{"text über version"},
		},
		{
			name: "nested multipart with an attachment",
			data: "Subject: nested\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
				"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
				"--inner\r\nContent-Type: text/plain\r\n\r\ninner text\r\n" +
				"--inner\r\nContent-Type: text/html\r\n\r\n<b>inner html</b>\r\n" +
				"--inner--\r\n" +
				"--outer\r\nContent-Type: text/plain; name=\"log.txt\"\r\nContent-Disposition: attachment; filename=\"log.txt\"\r\n\r\nattached log\r\n" +
				"--outer--\r\n",
			wantSubject: "nested",
			wantLines:   []string{"inner text"},
		},
		{
			name:        "html only has no text lines",
			data:        "Subject: html\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>only html</p>\r\n",
			wantSubject: "html",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, out, _ := start(t)
			ch := s.Subscribe()
			send(t, s, "alerts@example.test", []string{"ops@example.test"}, tt.data)
			m := received(t, ch)
			if m.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.wantSubject)
			}
			printed := out.String()
			if !strings.Contains(printed, "    Subject: "+tt.wantSubject+"\n") {
				t.Errorf("printed subject is not %q:\n%s", tt.wantSubject, printed)
			}
			if got := summaryLines(printed); !slices.Equal(got, tt.wantLines) {
				t.Errorf("lines = %q, want %q\nprinted:\n%s", got, tt.wantLines, printed)
			}
			if string(m.Data) != tt.data {
				t.Errorf("Data = %q, want %q", m.Data, tt.data)
			}
		})
	}
}

// TestSink_summary_sdkMessage checks the summary of a message as the
// transports build it (multipart/alternative, quoted-printable text).
func TestSink_summary_sdkMessage(t *testing.T) {
	t.Parallel()
	s, out, _ := start(t)
	ch := s.Subscribe()
	msg := &sdk.Message{
		ID:      "20250102T030405Z.abc@node-1",
		From:    sdk.Address{Name: "Tocsin", Address: "alerts@example.test"},
		To:      []sdk.Address{{Address: "ops@example.test"}},
		Subject: "Dienst überlastet",
		Text:    "Die Last ist über 90 % – seit 5 Minuten.\nZweite Zeile mit einer sehr langen Erklärung, die der Encoder umbrechen muss, weil sie über 76 Zeichen hinausgeht.",
		HTML:    "<p>Die Last ist hoch</p>",
	}
	data, err := msg.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	send(t, s, "alerts@example.test", []string{"ops@example.test"}, string(data))
	m := received(t, ch)
	if m.Subject != msg.Subject {
		t.Errorf("Subject = %q, want %q", m.Subject, msg.Subject)
	}
	want := strings.Split(msg.Text, "\n")
	if got := summaryLines(out.String()); !slices.Equal(got, want) {
		t.Errorf("lines = %q, want %q\nprinted:\n%s", got, want, out.String())
	}
}

func TestSink_summary_unreadable(t *testing.T) {
	t.Parallel()
	s, out, _ := start(t)
	ch := s.Subscribe()
	data := "this line has no colon\r\n\r\nbody\r\n"
	send(t, s, "alerts@example.test", []string{"ops@example.test"}, data)
	m := received(t, ch)
	if !strings.HasPrefix(m.Subject, "(unreadable message: ") {
		t.Errorf("Subject = %q, want it to say the message is unreadable", m.Subject)
	}
	if saved, err := os.ReadFile(m.Path); err != nil || string(saved) != data {
		t.Errorf("saved %q (%v), want the message as received", saved, err)
	}
	if lines := summaryLines(out.String()); len(lines) != 0 {
		t.Errorf("lines = %q, want none", lines)
	}
}

func TestSink_Subscribe_slowReader(t *testing.T) {
	t.Parallel()
	s, _, _ := start(t)
	ch := s.Subscribe()
	// The channel holds 16 mails; the 17th is dropped for this reader
	// instead of blocking the sink.
	const n = 17
	for i := 0; i < n; i++ {
		send(t, s, "alerts@example.test", []string{"ops@example.test"}, "Subject: flood\r\n\r\nx\r\n")
	}
	if got := s.Count(); got != n {
		t.Errorf("Count = %d, want %d", got, n)
	}
	if got := len(ch); got != cap(ch) || got != 16 {
		t.Errorf("%d mails queued (capacity %d), want 16", got, cap(ch))
	}
}

func TestSink_Close(t *testing.T) {
	t.Parallel()
	out := &lockedBuffer{}
	s, err := devsink.Start(t.TempDir(), out)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	send(t, s, "alerts@example.test", []string{"ops@example.test"}, "Subject: before close\r\n\r\nx\r\n")
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the sink still accepts connections after Close")
	}
	if strings.Contains(out.String(), "dev sink stopped") {
		t.Errorf("Close printed an error:\n%s", out.String())
	}
}

// TestSink_Close_rightAfterStart closes sinks at once after starting
// them: Close must stop the listener even when the server goroutine has
// not begun to serve.
func TestSink_Close_rightAfterStart(t *testing.T) {
	t.Parallel()
	for i := 0; i < 20; i++ {
		s, err := devsink.Start(t.TempDir(), &lockedBuffer{})
		if err != nil {
			t.Fatal(err)
		}
		addr := s.Addr().String()
		// The bound keeps the failing case from hanging; nothing asserts
		// on how long Close takes.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err = s.Close(ctx)
		cancel()
		if err != nil {
			t.Fatalf("attempt %d: Close: %v", i, err)
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Fatalf("attempt %d: the port still accepts connections after Close", i)
		}
	}
}

// TestSink_Close_openConnection closes the sink while a client holds a
// connection open. With a context that has ended, Close cannot wait for
// the client, so it must cut the connection: no mail may arrive after
// Close has returned.
func TestSink_Close_openConnection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := devsink.Start(dir, &lockedBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v, want context.Canceled", err)
	}

	err = c.Mail("alerts@example.test")
	if err == nil {
		err = c.Rcpt("ops@example.test")
	}
	if err == nil {
		var w io.WriteCloser
		if w, err = c.Data(); err == nil {
			err = w.Close()
		}
	}
	if err == nil {
		t.Error("a mail was accepted after Close returned")
	}
	if n := s.Count(); n != 0 {
		t.Errorf("Count = %d after Close, want 0", n)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.eml")); len(files) != 0 {
		t.Errorf("files saved after Close: %q", files)
	}
}
