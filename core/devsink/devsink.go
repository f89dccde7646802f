// Package devsink is the mail server of dev mode: an SMTP server on
// 127.0.0.1 that accepts every message, prints a summary of it and saves it
// as an .eml file, so a newcomer sees mail flow without a real server.
package devsink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is a message the sink received.
type Mail struct {
	From    string
	To      []string
	Subject string
	// Path is the saved .eml file.
	Path string
	// Data is the message as received.
	Data []byte
}

// Sink is a running dev-mode SMTP server.
type Sink struct {
	dir    string
	out    io.Writer
	server *smtp.Server
	ln     net.Listener
	count  atomic.Int64
	done   chan struct{}

	mu    sync.Mutex
	subs  []chan Mail
	conns map[*smtp.Conn]struct{}
}

// Start listens on 127.0.0.1 (a free port), saves mail under dir and prints
// a summary of each to out.
func Start(dir string, out io.Writer) (*Sink, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev sink: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dev sink: %w", err)
	}
	s := &Sink{dir: dir, out: out, ln: ln, done: make(chan struct{})}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "tocsin-dev-sink"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 50 << 20
	srv.MaxLineLength = 64 << 10
	s.server = srv
	go func() {
		defer close(s.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			fmt.Fprintf(out, "dev sink stopped: %v\n", err)
		}
	}()
	return s, nil
}

// Addr returns the sink's host:port.
func (s *Sink) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// Count returns how many messages the sink received.
func (s *Sink) Count() int64 { return s.count.Load() }

// Subscribe returns a channel that gets every message received from now
// on; it is never closed, and a slow reader misses messages rather than
// blocking the sink.
func (s *Sink) Subscribe() <-chan Mail {
	ch := make(chan Mail, 16)
	s.mu.Lock()
	s.subs = append(s.subs, ch)
	s.mu.Unlock()
	return ch
}

// Close stops the sink and waits for it.
func (s *Sink) Close(ctx context.Context) error {
	err := s.server.Shutdown(ctx)
	// Serve registers the listener in its own goroutine, maybe after
	// Shutdown closed the registered ones: close it here too.
	_ = s.ln.Close()
	if err != nil {
		s.mu.Lock()
		conns := make([]*smtp.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			_ = c.Close() // calls Logout, which takes s.mu
		}
	}
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	return err
}

func (s *Sink) receive(from string, to []string, data []byte) error {
	n := s.count.Add(1)
	m := Mail{From: from, To: to, Data: data}
	summary := summarize(data)
	m.Subject = summary.subject
	m.Path = filepath.Join(s.dir, fmt.Sprintf("%s-%03d.eml", time.Now().UTC().Format("20060102T150405Z"), n))
	if err := os.WriteFile(m.Path, data, 0o600); err != nil {
		return fmt.Errorf("save mail: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n==> dev sink: mail received\n")
	fmt.Fprintf(&b, "    From:    %s\n", from)
	fmt.Fprintf(&b, "    To:      %s\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "    Subject: %s\n", summary.subject)
	for _, l := range summary.lines {
		fmt.Fprintf(&b, "    | %s\n", l)
	}
	fmt.Fprintf(&b, "    Saved:   %s\n\n", m.Path)
	_, _ = io.WriteString(s.out, b.String())

	s.mu.Lock()
	for _, ch := range s.subs {
		select {
		case ch <- m:
		default:
		}
	}
	s.mu.Unlock()
	return nil
}

type summary struct {
	subject string
	lines   []string
}

// summarize reads the subject and the first lines of the text part.
func summarize(data []byte) summary {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return summary{subject: "(unreadable message: " + err.Error() + ")"}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		subject = msg.Header.Get("Subject")
	}
	text := firstText(msg)
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if len(lines) == 6 {
			lines = append(lines, "…")
			break
		}
		if strings.TrimSpace(l) != "" || len(lines) > 0 {
			lines = append(lines, l)
		}
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return summary{subject: subject, lines: lines}
}

type backend struct{ s *Sink }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	if b.s.conns == nil {
		b.s.conns = map[*smtp.Conn]struct{}{}
	}
	b.s.conns[c] = struct{}{}
	b.s.mu.Unlock()
	return &session{s: b.s, c: c}, nil
}

type session struct {
	s    *Sink
	c    *smtp.Conn
	from string
	to   []string
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }
func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}
func (x *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return x.s.receive(x.from, x.to, data)
}
func (x *session) Reset() { x.from, x.to = "", nil }
func (x *session) Logout() error {
	x.s.mu.Lock()
	delete(x.s.conns, x.c)
	x.s.mu.Unlock()
	return nil
}
