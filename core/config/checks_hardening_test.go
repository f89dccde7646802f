package config

import (
	"strings"
	"testing"
)

// TestLoad_CheckOptionAfterBrokenKind loads each check of issue 11
// finding 1: its kind argument fails to evaluate (or has the wrong type)
// and an option of that kind is set. Load must report the kind argument at
// its file:line:col, not panic.
func TestLoad_CheckOptionAfterBrokenKind(t *testing.T) {
	for _, tc := range []struct{ name, body, at string }{
		{"unset env", `http = env("NOPE_UNSET")` + "\n  method = \"GET\"", ":3:"},
		{"NaN", "http = NaN\n  expect_status = [200]", ":3:"},
		{"list for ping", "ping = [\"10.0.0.1\"]\n  count = 3", ":3:"},
		{"string command", "command = \"/bin/true\"\n  json = true", ":3:"},
		{"object for dns", "dns = {}\n  dns_type = \"A\"", ":3:"},
		{"bad arithmetic", "interface = 1 + \"x\"\n  interface_name = \"eth0\"", ":3:"},
		{"null kind", "http = null\n  headers = { A = \"b\" }", ":3:"},
		{"null command", "command = null\n  env = { A = \"b\" }\n  dir = \"/\"\n  max_bytes = 10", ":3:"},
		{"null file", "file = null\n  json = true\n  max_bytes = 10", ":3:"},
		{"unknown http", "http = env()\n  ca_file = \"x\"\n  tls_skip_verify = true", ":3:"},
		{"null dns", "dns = null\n  dns_server = \"1.1.1.1\"", ":3:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, "\ncheck \"c\" {\n  "+tc.body+"\n}\n")
			cfg, diags := loadWith(path, nil)
			if !diags.HasErrors() {
				t.Fatalf("no error for %q", tc.body)
			}
			locs := locations(diags)
			if !strings.Contains(strings.Join(locs, "\n"), "a.hcl"+tc.at) {
				t.Errorf("no diagnostic at line 3 (the kind argument):\n%s", strings.Join(locs, "\n"))
			}
			_ = render(t, cfg, diags)
		})
	}
}
