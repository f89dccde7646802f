// Package enginetest generates the large configurations the capacity
// benchmarks of the rule runner (core/engine) and of the agent's status
// (core/agent) measure: file checks over generated files, and rules over
// them. It is test support; the agent does not import it.
package enginetest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capacityConditions are the shapes of the generated rule conditions over
// file checks; %[1]s and %[2]s are check names.
var capacityConditions = []string{
	`!check.%[1]s.exists`,
	`coalesce(check.%[1]s.size, 0) > 120`,
	`!check.%[1]s.ok || coalesce(check.%[2]s.age, 0) > 86400`,
	`check.%[1]s.exists && check.%[2]s.size == 0`,
	`node.role == "backup" && !check.%[1]s.exists`,
	`check.%[1]s.ok == false || coalesce(check.%[2]s.size, 0) > 1000000`,
	`!check.%[1]s.exists && check.%[2]s.exists`,
	`outbox.pending > 1000 && !check.%[1]s.exists`,
}

// CapacitySource returns a configuration of checks file checks (every
// check reads one of the files under dir, which the caller creates with
// CapacityFiles; their interval is checkEvery) and rules rules on
// schedule, all notifying one contact through one transport.
func CapacitySource(dataDir, dir, listen string, checks, rules int, schedule, checkEvery string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "agent {\n  node = \"cap\"\n  data_dir = %q\n", dataDir)
	if listen != "" {
		fmt.Fprintf(&sb, "  listen = %q\n  plugin_dir = env(\"TOCSIN_TEST_PLUGIN_DIR\")\n", listen)
	}
	sb.WriteString("}\n")
	sb.WriteString("transport \"relay\" {\n  plugin = \"smtp-basic\"\n  from = \"a@example.com\"\n  config {\n    host = \"127.0.0.1\"\n    port = 1\n    security = \"none\"\n  }\n}\n")
	sb.WriteString("contact \"ops\" {\n  email = [\"ops@example.com\"]\n  via = [transport.relay]\n}\n")
	sb.WriteString("node {\n  role = \"backup\"\n}\n")
	for i := range checks {
		fmt.Fprintf(&sb, "check \"c%04d\" {\n  file = %q\n  every = %q\n}\n", i, filepath.Join(dir, fmt.Sprintf("f%04d", i)), checkEvery)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range rules {
		cond := fmt.Sprintf(capacityConditions[i%len(capacityConditions)],
			fmt.Sprintf("c%04d", rng.IntN(checks)), fmt.Sprintf("c%04d", rng.IntN(checks)))
		fmt.Fprintf(&sb, "rule \"r%05d\" {\n  schedule = %q\n  when = %s\n  repeat = \"1h\"\n  notify = [contact.ops]\n  subject = \"${rule.name} on ${agent.node}\"\n}\n", i, schedule, cond)
	}
	return sb.String()
}

// CapacityFiles creates the files the checks read: one in ten missing,
// the others of sizes 0 to 199 bytes.
func CapacityFiles(tb testing.TB, dir string, checks int) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range checks {
		if rng.IntN(10) == 0 {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), make([]byte, rng.IntN(200)), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
}
