package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin-dev/tocsin/core/agent"
	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// The agent side: the real tocsin binary and bundled plugins, from
// $TOCSIN_BIN_DIR (make e2e builds them into bin/) or built here.

func tocsinBinary(t *testing.T) string {
	t.Helper()
	return sdktest.Build(t, "github.com/tocsin-dev/tocsin/cmd/agent", "tocsin")
}

func pluginDir(t *testing.T) string {
	t.Helper()
	return sdktest.PluginDir(t, map[string]string{
		"smtp-basic":        "github.com/tocsin-dev/tocsin/plugins/smtp-basic",
		"smtp-oauth-ms":     "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-ms",
		"smtp-oauth-google": "github.com/tocsin-dev/tocsin/plugins/smtp-oauth-google",
		"graph":             "github.com/tocsin-dev/tocsin/plugins/graph",
		"gmail":             "github.com/tocsin-dev/tocsin/plugins/gmail",
		"webhook":           "github.com/tocsin-dev/tocsin/plugins/webhook",
		"alertmanager":      "github.com/tocsin-dev/tocsin/plugins/alertmanager",
	})
}

// basicTransport is an smtp-basic transport block that logs in to the
// suite's server on the submission (security "starttls") or smtps
// (security "tls") port, trusting the suite's CA.
func (s *mailServer) basicTransport(name, security, auth, password string) string {
	addr := s.subAddr
	if security == "tls" {
		addr = s.tlsAddr
	}
	host, port := splitPort(s.t, addr)
	return fmt.Sprintf(`transport %q {
  plugin = "smtp-basic"
  from = "Tocsin e2e <%s>"
  config {
    host = %q
    port = %s
    security = %q
    auth = %q
    username = %q
    password = %q
    ca_file = %q
    timeout = "10s"
  }
}
`, name, senderUser, host, port, security, auth, senderUser, password, s.caFile)
}

// agentConfig writes a configuration: the agent block, then body, then
// rules r000..r(rules-1), each true at once and notifying contact "ops"
// (ops@e2e.test through transport "relay"). Retries are quick, so a
// server that comes back is used within seconds.
func agentConfig(t *testing.T, listen, body string, rules int) string {
	t.Helper()
	return writeConfig(t, configShape{node: "e2e", logLevel: "debug", quickRetries: true, schedule: "@every 1s", when: "true"}, listen, body, rules)
}

// configShape is what differs between the suite's configurations.
type configShape struct {
	node, logLevel string
	quickRetries   bool   // retries after 1s and 2s
	schedule, when string // of every rule
}

// writeConfig writes the agent block of shape, body, contact "ops" and
// rules r000..r(rules-1) with shape's schedule and condition, and returns
// the file's path.
func writeConfig(t *testing.T, shape configShape, listen, body string, rules int) string {
	t.Helper()
	var sb strings.Builder
	fmt.Fprintf(&sb, "agent {\n  node = %q\n  plugin_dir = %q\n  data_dir = \"data\"\n  listen = %q\n  log_level = %q\n}\n", shape.node, pluginDir(t), listen, shape.logLevel)
	if shape.quickRetries {
		sb.WriteString("delivery {\n  retry_initial = \"1s\"\n  retry_max = \"2s\"\n}\n")
	}
	sb.WriteString(body)
	fmt.Fprintf(&sb, "contact \"ops\" {\n  email = [\"%s@%s\"]\n  via = [transport.relay]\n}\n", opsBox, domain)
	for r := range rules {
		fmt.Fprintf(&sb, "rule \"r%03d\" {\n  schedule = %q\n  when = %s\n  notify = [contact.ops]\n  subject = \"r%03d\"\n}\n", r, shape.schedule, shape.when, r)
	}
	path := filepath.Join(t.TempDir(), "agent.hcl")
	write(t, path, 0o600, sb.String())
	return path
}

// agentProc is a running tocsin whose output goes to a file.
type agentProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	config  string
	log     string
	listen  string
	dataDir string
}

func startAgent(t *testing.T, config, listen string) *agentProc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "agent-*.log")
	must(t, err)
	cmd := exec.Command(tocsinBinary(t), "run", "-config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	must(t, cmd.Start())
	_ = logf.Close()
	p := &agentProc{t: t, cmd: cmd, config: config, log: logf.Name(), listen: listen, dataDir: filepath.Join(filepath.Dir(config), "data")}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", tail(p.logText(), 8000))
		}
	})
	return p
}

func (p *agentProc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// delivery reads /v1/status's delivery part; ok is false while the agent
// does not answer.
func (p *agentProc) delivery() (agent.DeliveryStatus, bool) {
	req, err := http.NewRequest(http.MethodGet, "http://"+p.listen+"/v1/status", nil)
	if err != nil {
		return agent.DeliveryStatus{}, false
	}
	token, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(p.dataDir))
	if err != nil {
		return agent.DeliveryStatus{}, false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return agent.DeliveryStatus{}, false
	}
	defer resp.Body.Close()
	var s agent.Status
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&s) != nil {
		return agent.DeliveryStatus{}, false
	}
	return s.Delivery, true
}

// cli runs another tocsin command against the agent's configuration.
func (p *agentProc) cli(args ...string) string {
	p.t.Helper()
	b, _ := exec.Command(tocsinBinary(p.t), args...).CombinedOutput()
	return string(b)
}

// await polls cond every 50ms until it holds or d passes.
func await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
