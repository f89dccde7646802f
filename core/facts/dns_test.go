package facts

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// startDNS serves records (fully qualified names) over UDP on 127.0.0.1
// and returns its address. Unknown names get NXDOMAIN; a silent server
// answers nothing.
func startDNS(t *testing.T, records map[string][]netip.Addr, silent bool) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if silent {
				continue
			}
			var q dnsmessage.Message
			if err := q.Unpack(buf[:n]); err != nil || len(q.Questions) == 0 {
				continue
			}
			answer := dnsAnswer(q, records)
			b, err := answer.Pack()
			if err != nil {
				t.Errorf("pack answer: %v", err)
				continue
			}
			_, _ = conn.WriteTo(b, from)
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return conn.LocalAddr().String()
}

func dnsAnswer(q dnsmessage.Message, records map[string][]netip.Addr) dnsmessage.Message {
	question := q.Questions[0]
	m := dnsmessage.Message{
		Header: dnsmessage.Header{
			ID: q.ID, Response: true, Authoritative: true,
			RecursionDesired: q.RecursionDesired, RecursionAvailable: true,
		},
		Questions: []dnsmessage.Question{question},
	}
	addrs, ok := records[strings.ToLower(question.Name.String())]
	if !ok {
		m.RCode = dnsmessage.RCodeNameError
		return m
	}
	for _, a := range addrs {
		h := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}
		switch {
		case a.Is4() && question.Type == dnsmessage.TypeA:
			h.Type = dnsmessage.TypeA
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.As4()}})
		case a.Is6() && question.Type == dnsmessage.TypeAAAA:
			h.Type = dnsmessage.TypeAAAA
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
		}
	}
	return m
}

func TestCheckDNS(t *testing.T) {
	t.Parallel()
	server := startDNS(t, map[string][]netip.Addr{
		"app.tocsin.test.": {
			netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("192.0.2.10"),
			netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("10.0.0.1"),
		},
		"v6only.tocsin.test.": {netip.MustParseAddr("2001:db8::6")},
	}, false)
	silent := startDNS(t, nil, true)

	tests := []struct {
		name    string
		dns     DNSSpec
		timeout time.Duration
		ok      bool
		want    []string
		errPart string
	}{
		{name: "localhost from /etc/hosts", dns: DNSSpec{Name: "localhost", Type: "A"}, ok: true, want: []string{"127.0.0.1"}},
		{name: "server, both types, sorted", dns: DNSSpec{Name: "app.tocsin.test.", Server: server}, ok: true,
			want: []string{"10.0.0.1", "192.0.2.9", "192.0.2.10", "2001:db8::10"}},
		{name: "server, A", dns: DNSSpec{Name: "app.tocsin.test.", Type: "A", Server: server}, ok: true,
			want: []string{"10.0.0.1", "192.0.2.9", "192.0.2.10"}},
		{name: "server, AAAA", dns: DNSSpec{Name: "APP.tocsin.test.", Type: "aaaa", Server: server}, ok: true,
			want: []string{"2001:db8::10"}},
		{name: "server, no A record", dns: DNSSpec{Name: "v6only.tocsin.test.", Type: "A", Server: server}, errPart: "v6only.tocsin.test"},
		{name: "unknown host", dns: DNSSpec{Name: "nosuch.tocsin.test.", Server: server}, errPart: "no such host"},
		{name: "server that never answers", dns: DNSSpec{Name: "app.tocsin.test.", Server: silent}, timeout: 300 * time.Millisecond, errPart: "timed out after 300ms"},
		{name: "server not listening", dns: DNSSpec{Name: "app.tocsin.test.", Server: closedPort(t)}, timeout: time.Second, errPart: "app.tocsin.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.dns
			var f Fact
			within(t, 3*time.Second, func() {
				f = runCheck(t, Spec{Name: "resolve", Timeout: tt.timeout, DNS: &d})
			})
			wantOK(t, f, tt.ok, tt.errPart)
			if str(t, f, "name") != tt.dns.Name {
				t.Errorf("name = %q", str(t, f, "name"))
			}
			if !tt.ok {
				return
			}
			if got := strs(t, f, "addresses"); !slices.Equal(got, tt.want) {
				t.Errorf("addresses = %q, want %q", got, tt.want)
			}
		})
	}
}
