package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/facts"
)

// writeConfig writes src as a.hcl in a fresh directory and returns its path.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoad_Checks(t *testing.T) {
	path := writeConfig(t, `
check "web" {
  http          = "https://127.0.0.1:8443/health"
  expect_status = [200, 204]
  headers       = { Accept = "application/json" }
  ca_file       = "ca.pem"
  every         = "1m"
  timeout       = "5s"
}
check "primary_port" {
  tcp = "10.0.0.1:443"
}
check "shared_ip" {
  interface = "10.0.0.10"
  interface_name = "eth0"
}
check "nic" {
  interface = "eth1"
}
check "sync" {
  file = "state/sync.json"
  json = true
}
check "version" {
  command = ["/usr/bin/product", "--version"]
  env     = { LANG = "C", A = "1" }
}
check "pipeline" {
  shell = "uptime | cut -d, -f1"
}
check "gw" {
  ping  = "10.0.0.254"
  count = 5
}
check "name" {
  dns      = "primary.example.com"
  dns_type = "A"
}
peer "primary" {
  url   = "http://10.0.0.1:9870"
  every = "15s"
}
`)
	cfg, diags := loadWith(path, nil)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %v", locations(diags))
	}
	dir := filepath.Dir(path)
	want := map[string]facts.Spec{
		"web": {Name: "web", Kind: facts.KindHTTP, Every: time.Minute, Timeout: 5 * time.Second, HTTP: &facts.HTTPSpec{
			URL: "https://127.0.0.1:8443/health", ExpectStatus: []int{200, 204}, Headers: map[string]string{"Accept": "application/json"}, CAFile: filepath.Join(dir, "ca.pem"),
		}},
		"primary_port": {Name: "primary_port", Kind: facts.KindTCP, TCP: &facts.TCPSpec{Address: "10.0.0.1:443"}},
		"shared_ip":    {Name: "shared_ip", Kind: facts.KindInterface, Interface: &facts.InterfaceSpec{Address: "10.0.0.10", Name: "eth0"}},
		"nic":          {Name: "nic", Kind: facts.KindInterface, Interface: &facts.InterfaceSpec{Name: "eth1"}},
		"sync":         {Name: "sync", Kind: facts.KindFile, File: &facts.FileSpec{Path: filepath.Join(dir, "state/sync.json"), JSON: true}},
		"version":      {Name: "version", Kind: facts.KindCommand, Command: &facts.CommandSpec{Argv: []string{"/usr/bin/product", "--version"}, Env: []string{"A=1", "LANG=C"}}},
		"pipeline":     {Name: "pipeline", Kind: facts.KindCommand, Command: &facts.CommandSpec{Shell: "uptime | cut -d, -f1"}},
		"gw":           {Name: "gw", Kind: facts.KindPing, Ping: &facts.PingSpec{Address: "10.0.0.254", Count: 5}},
		"name":         {Name: "name", Kind: facts.KindDNS, DNS: &facts.DNSSpec{Name: "primary.example.com", Type: "A"}},
	}
	if len(cfg.Checks) != len(want) {
		t.Fatalf("got %d checks, want %d", len(cfg.Checks), len(want))
	}
	for _, c := range cfg.Checks {
		if !reflect.DeepEqual(c.Spec, want[c.Name]) {
			t.Errorf("check %s:\n got %+v\nwant %+v", c.Name, c.Spec, want[c.Name])
		}
	}
	if len(cfg.Peers) != 1 || cfg.Peers[0].Spec.Peer.URL != "http://10.0.0.1:9870" || cfg.Peers[0].Spec.Every != 15*time.Second || cfg.Peers[0].Spec.Kind != facts.KindPeer {
		t.Errorf("peers = %+v", cfg.Peers)
	}
}

func TestLoad_CheckErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "observes nothing",
			src:  "check \"x\" {\n  every = \"1m\"\n}\n",
			want: []string{"a.hcl:1:1: error: Check observes nothing"},
		},
		{
			name: "observes two things",
			src:  "check \"x\" {\n  tcp = \"a:1\"\n  file = \"/x\"\n}\n",
			want: []string{"a.hcl:3:10: error: Check observes two things"},
		},
		{
			name: "option for another kind",
			src:  "check \"x\" {\n  tcp = \"a:1\"\n  json = true\n}\n",
			want: []string{"a.hcl:3:10: error: Argument does not apply"},
		},
		{
			name: "bad duration",
			src:  "check \"x\" {\n  tcp = \"a:1\"\n  every = \"often\"\n}\n",
			want: []string{"a.hcl:3:11: error: Invalid duration"},
		},
		{
			name: "interval too short",
			src:  "check \"x\" {\n  tcp = \"a:1\"\n  every = \"1ms\"\n}\n",
			want: []string{"a.hcl:3:11: error: Interval too short"},
		},
		{
			name: "timeout longer than every",
			src:  "check \"x\" {\n  tcp = \"a:1\"\n  every = \"10s\"\n  timeout = \"1m\"\n}\n",
			want: []string{"a.hcl:4:13: error: Timeout longer than the interval"},
		},
		{
			name: "empty command",
			src:  "check \"x\" {\n  command = []\n}\n",
			want: []string{"a.hcl:2:13: error: Invalid command"},
		},
		{
			name: "fractional status",
			src:  "check \"x\" {\n  http = \"http://127.0.0.1/\"\n  expect_status = [200.5]\n}\n",
			want: []string{"a.hcl:3:19: error: Invalid status"},
		},
		{
			name: "duplicate check",
			src:  "check \"x\" {\n  tcp = \"a:1\"\n}\ncheck \"x\" {\n  tcp = \"a:2\"\n}\n",
			want: []string{"a.hcl:4:7: error: Duplicate check"},
		},
		{
			name: "peer without url",
			src:  "peer \"p\" {\n  every = \"1m\"\n}\n",
			want: []string{"a.hcl:1:10: error: Missing required argument"},
		},
		{
			name: "spec validation",
			src:  "check \"x\" {\n  tcp = \"no-port\"\n}\n",
			want: []string{"a.hcl:2:9: error: Invalid check"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.src)
			_, diags := loadWith(path, nil)
			got := locations(diags)
			for i := range got {
				got[i] = filepath.Base(got[i])
			}
			sameLines(t, "diagnostics", got, tt.want)
		})
	}
}
