package facts

import (
	"strings"
	"testing"
	"time"
)

func TestSpec_Validate(t *testing.T) {
	t.Parallel()
	// base is a valid http check; each case changes it.
	base := func() Spec {
		return Spec{Name: "web", HTTP: &HTTPSpec{URL: "http://127.0.0.1:8080/health"}}
	}
	only := func(set func(*Spec)) func(*Spec) {
		return func(s *Spec) {
			s.HTTP = nil
			set(s)
		}
	}
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   []string // parts of the error; none for a valid spec
	}{
		{name: "valid http", mutate: func(*Spec) {}},
		{name: "kind given and matching", mutate: func(s *Spec) { s.Kind = KindHTTP }},
		{name: "name with dash", mutate: func(s *Spec) { s.Name = "web-1" }},
		{name: "empty name", mutate: func(s *Spec) { s.Name = "" }, want: []string{`check "": name: must be set`}},
		{name: "name not an identifier", mutate: func(s *Spec) { s.Name = "my check" }, want: []string{`check "my check": name: must be an identifier`}},
		{name: "name starting with a digit", mutate: func(s *Spec) { s.Name = "1web" }, want: []string{"name: must be an identifier"}},
		{name: "negative every", mutate: func(s *Spec) { s.Every = -time.Second }, want: []string{`check "web": every: must be positive`}},
		{name: "negative timeout", mutate: func(s *Spec) { s.Timeout = -time.Second }, want: []string{"timeout: must be positive"}},
		{name: "timeout longer than every", mutate: func(s *Spec) { s.Every, s.Timeout = 10*time.Second, 20*time.Second }, want: []string{`check "web": timeout: 20s is longer than every (10s)`}},
		{name: "short every shortens the default timeout", mutate: func(s *Spec) { s.Every = 2 * time.Second }},
		{name: "timeout equal to every", mutate: func(s *Spec) { s.Every, s.Timeout = 5*time.Second, 5*time.Second }},
		{name: "no kind", mutate: only(func(*Spec) {}), want: []string{"kind: no check kind set; set one of tcp, dns, http"}},
		{name: "two kinds", mutate: func(s *Spec) { s.TCP = &TCPSpec{Address: "127.0.0.1:1"} }, want: []string{"kind: only one kind per check, found tcp, http"}},
		{name: "two kinds with kind given", mutate: func(s *Spec) { s.Kind = KindHTTP; s.File = &FileSpec{Path: "/x"} }, want: []string{"found http, file"}},
		{name: "unknown kind", mutate: func(s *Spec) { s.Kind = "smtp" }, want: []string{`kind: unknown kind "smtp"`}},
		{name: "kind without its settings", mutate: func(s *Spec) { s.Kind = KindTCP }, want: []string{`check "web": tcp: kind is "tcp" but its settings are missing`}},

		{name: "http url missing", mutate: func(s *Spec) { s.HTTP.URL = "" }, want: []string{`check "web": http.url: must be set`}},
		{name: "http url not http", mutate: func(s *Spec) { s.HTTP.URL = "ftp://host/x" }, want: []string{`http.url: "ftp://host/x" is not an http or https URL`}},
		{name: "http url without host", mutate: func(s *Spec) { s.HTTP.URL = "http:///x" }, want: []string{"http.url:", "has no host"}},
		{name: "http url unparsable", mutate: func(s *Spec) { s.HTTP.URL = "http://[::1" }, want: []string{"http.url: not a URL"}},
		{name: "http method", mutate: func(s *Spec) { s.HTTP.Method = "GE T" }, want: []string{`http.method: "GE T" is not an HTTP method`}},
		{name: "http status", mutate: func(s *Spec) { s.HTTP.ExpectStatus = []int{200, 99} }, want: []string{"http.expect_status: 99 is not an HTTP status"}},
		{name: "http header name", mutate: func(s *Spec) { s.HTTP.Headers = map[string]string{"bad name": "x"} }, want: []string{`http.headers: "bad name" is not a header name`}},
		{name: "http max body", mutate: func(s *Spec) { s.HTTP.MaxBody = -1 }, want: []string{"http.max_body: must be positive"}},
		{name: "https with options", mutate: func(s *Spec) {
			s.HTTP = &HTTPSpec{URL: "https://h/", Method: "POST", Headers: map[string]string{"X-Token": "t"}, ExpectStatus: []int{204}, CAFile: "/ca.pem", MaxBody: 10}
		}},

		{name: "tcp", mutate: only(func(s *Spec) { s.TCP = &TCPSpec{Address: "db.example:5432"} })},
		{name: "tcp ipv6", mutate: only(func(s *Spec) { s.TCP = &TCPSpec{Address: "[::1]:22"} })},
		{name: "tcp missing", mutate: only(func(s *Spec) { s.TCP = &TCPSpec{} }), want: []string{"tcp.address: must be set"}},
		{name: "tcp without port", mutate: only(func(s *Spec) { s.TCP = &TCPSpec{Address: "127.0.0.1"} }), want: []string{`tcp.address: "127.0.0.1" is not host:port`}},
		{name: "tcp without host", mutate: only(func(s *Spec) { s.TCP = &TCPSpec{Address: ":80"} }), want: []string{"tcp.address:", "has no host"}},

		{name: "dns", mutate: only(func(s *Spec) { s.DNS = &DNSSpec{Name: "example.com", Type: "aaaa", Server: "127.0.0.1"} })},
		{name: "dns server ipv6", mutate: only(func(s *Spec) { s.DNS = &DNSSpec{Name: "example.com", Server: "[::1]:5353"} })},
		{name: "dns name", mutate: only(func(s *Spec) { s.DNS = &DNSSpec{} }), want: []string{"dns.name: must be set"}},
		{name: "dns type", mutate: only(func(s *Spec) { s.DNS = &DNSSpec{Name: "x", Type: "MX"} }), want: []string{`dns.type: "MX" is not one of`}},
		{name: "dns server by name", mutate: only(func(s *Spec) { s.DNS = &DNSSpec{Name: "x", Server: "ns.example:53"} }), want: []string{`dns.server: "ns.example:53" is not ip:port`}},

		{name: "ping", mutate: only(func(s *Spec) { s.Ping = &PingSpec{Address: "10.0.0.1"} })},
		{name: "ping address", mutate: only(func(s *Spec) { s.Ping = &PingSpec{} }), want: []string{"ping.address: must be set"}},
		{name: "ping count", mutate: only(func(s *Spec) { s.Ping = &PingSpec{Address: "h", Count: 1000} }), want: []string{"ping.count: must be between 1 and 100, not 1000"}},
		{name: "ping negative count", mutate: only(func(s *Spec) { s.Ping = &PingSpec{Address: "h", Count: -1} }), want: []string{"ping.count"}},

		{name: "interface address", mutate: only(func(s *Spec) { s.Interface = &InterfaceSpec{Address: "fd00::2"} })},
		{name: "interface name", mutate: only(func(s *Spec) { s.Interface = &InterfaceSpec{Name: "eth0"} })},
		{name: "interface neither", mutate: only(func(s *Spec) { s.Interface = &InterfaceSpec{} }), want: []string{"interface: set address, name or both"}},
		{name: "interface bad address", mutate: only(func(s *Spec) { s.Interface = &InterfaceSpec{Address: "10.0.0.300"} }), want: []string{`interface.address: "10.0.0.300" is not an IP address`}},

		{name: "file", mutate: only(func(s *Spec) { s.File = &FileSpec{Path: "/var/run/x.json", JSON: true} })},
		{name: "file path", mutate: only(func(s *Spec) { s.File = &FileSpec{} }), want: []string{"file.path: must be set"}},
		{name: "file max bytes", mutate: only(func(s *Spec) { s.File = &FileSpec{Path: "/x", MaxBytes: -5} }), want: []string{"file.max_bytes"}},

		{name: "command argv", mutate: only(func(s *Spec) { s.Command = &CommandSpec{Argv: []string{"true"}, Env: []string{"A=b", "EMPTY="}} })},
		{name: "command shell", mutate: only(func(s *Spec) { s.Command = &CommandSpec{Shell: "true"} })},
		{name: "command both", mutate: only(func(s *Spec) { s.Command = &CommandSpec{Argv: []string{"true"}, Shell: "true"} }), want: []string{"command: set argv or shell, not both"}},
		{name: "command neither", mutate: only(func(s *Spec) { s.Command = &CommandSpec{} }), want: []string{"command: set argv"}},
		{name: "command empty program", mutate: only(func(s *Spec) { s.Command = &CommandSpec{Argv: []string{""}} }), want: []string{"command.argv: the program"}},
		{name: "command env", mutate: only(func(s *Spec) { s.Command = &CommandSpec{Shell: "true", Env: []string{"NOEQUALS", "=x"}} }), want: []string{`command.env: "NOEQUALS" is not KEY=value`, `command.env: "=x"`}},
		{name: "command max output", mutate: only(func(s *Spec) { s.Command = &CommandSpec{Shell: "true", MaxOutput: -1} }), want: []string{"command.max_output"}},

		{name: "peer", mutate: only(func(s *Spec) { s.Peer = &PeerSpec{URL: "https://10.0.0.2:9870", TLSSkipVerify: true} })},
		{name: "peer url", mutate: only(func(s *Spec) { s.Peer = &PeerSpec{URL: "10.0.0.2:9870"} }), want: []string{"peer.url:"}},

		{name: "several problems joined", mutate: func(s *Spec) { s.Name = ""; s.HTTP.URL = ""; s.HTTP.MaxBody = -1 }, want: []string{"name: must be set", "http.url: must be set", "http.max_body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := base()
			tt.mutate(&s)
			err := s.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestSpec_WithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spec  Spec
		check func(t *testing.T, s Spec)
	}{
		{
			name: "intervals",
			spec: Spec{Name: "a", TCP: &TCPSpec{Address: "h:1"}},
			check: func(t *testing.T, s Spec) {
				if s.Kind != KindTCP || s.Every != DefaultEvery || s.Timeout != DefaultTimeout {
					t.Errorf("got kind %q every %s timeout %s", s.Kind, s.Every, s.Timeout)
				}
			},
		},
		{
			name: "timeout no longer than a short every",
			spec: Spec{Name: "a", Every: 3 * time.Second, TCP: &TCPSpec{Address: "h:1"}},
			check: func(t *testing.T, s Spec) {
				if s.Timeout != 3*time.Second {
					t.Errorf("timeout = %s, want 3s", s.Timeout)
				}
			},
		},
		{
			name: "http",
			spec: Spec{Name: "a", HTTP: &HTTPSpec{URL: "http://h/"}},
			check: func(t *testing.T, s Spec) {
				if s.HTTP.Method != "GET" || s.HTTP.MaxBody != DefaultHTTPMaxBody {
					t.Errorf("got %+v", s.HTTP)
				}
			},
		},
		{
			name: "dns server gets a port, type upper case",
			spec: Spec{Name: "a", DNS: &DNSSpec{Name: "x", Type: " aaaa", Server: "::1"}},
			check: func(t *testing.T, s Spec) {
				if s.DNS.Server != "[::1]:53" || s.DNS.Type != "AAAA" {
					t.Errorf("got %+v", s.DNS)
				}
			},
		},
		{
			name: "ping, file, command",
			spec: Spec{Name: "a", Ping: &PingSpec{Address: "h"}, File: &FileSpec{Path: "/x"}, Command: &CommandSpec{Shell: "true"}},
			check: func(t *testing.T, s Spec) {
				if s.Kind != "" {
					t.Errorf("kind = %q, want none implied from three kinds", s.Kind)
				}
				if s.Ping.Count != DefaultPingCount || s.File.MaxBytes != DefaultFileMaxBytes || s.Command.MaxOutput != DefaultCommandMaxOutput {
					t.Errorf("got %+v %+v %+v", s.Ping, s.File, s.Command)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, tt.spec.WithDefaults())
		})
	}

	t.Run("copies the kind's settings", func(t *testing.T) {
		t.Parallel()
		orig := Spec{Name: "a", HTTP: &HTTPSpec{URL: "http://h/"}}
		d := orig.WithDefaults()
		d.HTTP.URL = "changed"
		if orig.HTTP.URL != "http://h/" || orig.HTTP.Method != "" {
			t.Errorf("WithDefaults changed its receiver: %+v", orig.HTTP)
		}
	})
}
