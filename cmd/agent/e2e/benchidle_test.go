package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestBenchIdle: the agent at rest with all five bundled plugins
// configured (smtp-basic to the suite's Postfix, the OAuth ones against
// the suite's token endpoints, Graph and Gmail with endpoints of the
// suite's own): time from the start of the process to /healthz answering
// (the API is served after every plugin took its settings), and the RSS
// of the agent and of each plugin after ten idle seconds. Plugins start
// eagerly: see README "Performance" for why. make bench-compare runs it.
func TestBenchIdle(t *testing.T) {
	if os.Getenv("TOCSIN_BENCH_COMPARE") != "1" {
		t.Skip("the comparison runs with TOCSIN_BENCH_COMPARE=1 (make bench-compare)")
	}
	if only := os.Getenv("TOCSIN_BENCH_ONLY"); only != "" && !regexp.MustCompile(only).MatchString("idle") {
		t.Skip("TOCSIN_BENCH_ONLY leaves out idle")
	}
	s := startMailServer(t)
	id := startIdentities(t, s)
	subHost, subPort := splitPort(t, s.subAddr)
	tlsHost, tlsPort := splitPort(t, s.tlsAddr)
	// One rule over a file that never appears: the agent at rest.
	body := s.basicTransport("relay", "starttls", "plain", senderPass) + fmt.Sprintf(`check "condition" {
  file = %[13]q
  every = "1m"
}
transport "m365" {
  plugin = "smtp-oauth-ms"
  from = %[1]q
  config {
    mode = "app"
    tenant_id = %[2]q
    client_id = %[3]q
    client_secret = %[4]q
    authority = %[5]q
    host = %[6]q
    port = %[7]s
    ca_file = %[8]q
  }
}
transport "graph" {
  plugin = "graph"
  from = %[1]q
  config {
    tenant_id = %[2]q
    client_id = %[3]q
    client_secret = %[4]q
    authority = %[5]q
    graph_endpoint = %[5]q
    ca_file = %[8]q
  }
}
transport "google" {
  plugin = "smtp-oauth-google"
  from = %[1]q
  config {
    service_account_file = %[9]q
    subject = %[1]q
    host = %[10]q
    port = %[11]s
    security = "tls"
    ca_file = %[8]q
  }
}
transport "gmail" {
  plugin = "gmail"
  from = %[1]q
  config {
    service_account_file = %[9]q
    subject = %[1]q
    api_endpoint = %[12]q
    ca_file = %[8]q
  }
}
`, senderUser, msTenant, msApp, msSecret, id.ms.URL(), subHost, subPort, id.caFile, id.saFile, tlsHost, tlsPort, id.google.URL(), filepath.Join(t.TempDir(), "never"))
	type idle struct {
		ready     time.Duration
		agent     int64            // KiB
		plugins   []int64          // KiB, each, sorted
		byName    map[string]int64 // KiB, by plugin
		anon      map[string]int64 // KiB of byName that is not the binary's own pages
		agentAnon int64
	}
	var runs []idle
	for range benchRounds() {
		listen := freePort(t)
		config := benchConfig(t, listen, body, 1)
		start := time.Now()
		p := startAgent(t, config, listen)
		var ready time.Duration
		await(t, 30*time.Second, "/healthz", func() bool {
			resp, err := http.Get("http://" + listen + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			ready = time.Since(start)
			return resp.StatusCode == http.StatusOK
		})
		time.Sleep(10 * time.Second)
		pid := p.cmd.Process.Pid
		plugins := children(pid)
		if len(plugins) != 5 {
			t.Fatalf("%d plugin processes, want 5:\n%s", len(plugins), tail(p.logText(), 4000))
		}
		r := idle{ready: ready, agent: procKB(pid, "VmRSS"), agentAnon: procKB(pid, "RssAnon"), byName: map[string]int64{}, anon: map[string]int64{}}
		for _, c := range plugins {
			kb := procKB(c, "VmRSS")
			r.plugins = append(r.plugins, kb)
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c))
			name := strings.TrimPrefix(filepath.Base(exe), "tocsin-plugin-")
			r.byName[name] = kb
			r.anon[name] = procKB(c, "RssAnon")
		}
		slices.Sort(r.plugins)
		runs = append(runs, r)
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	med := func(f func(idle) float64) (m, lo, hi float64) {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}
	ready, rlo, rhi := med(func(r idle) float64 { return float64(r.ready.Milliseconds()) })
	agentKB, alo, ahi := med(func(r idle) float64 { return float64(r.agent) })
	pluginKB, plo, phi := med(func(r idle) float64 { return float64(r.plugins[len(r.plugins)-1]) })
	total, _, _ := med(func(r idle) float64 {
		sum := r.agent
		for _, kb := range r.plugins {
			sum += kb
		}
		return float64(sum)
	})
	mb := func(kb float64) float64 { return kb / 1024 }
	var out strings.Builder
	fmt.Fprintf(&out, "\nIdle agent with all five plugins configured, medians of %d starts (range in brackets):\n", len(runs))
	fmt.Fprintf(&out, "- start to /healthz: %.0f ms (%.0f–%.0f); target ≤ 1000 ms: %s\n", ready, rlo, rhi, verdict(ready <= 1000))
	agentAnon, _, _ := med(func(r idle) float64 { return float64(r.agentAnon) })
	fmt.Fprintf(&out, "- agent RSS after 10 s idle: %.1f MB (%.1f–%.1f), of which %.1f MB anonymous; target ≤ 30 MB: %s\n", mb(agentKB), mb(alo), mb(ahi), mb(agentAnon), verdict(mb(agentKB) <= 30))
	fmt.Fprintf(&out, "- largest plugin RSS: %.1f MB (%.1f–%.1f); target ≤ 20 MB each: %s\n", mb(pluginKB), mb(plo), mb(phi), verdict(mb(pluginKB) <= 20))
	var names []string
	for name := range runs[0].byName {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		kb, _, _ := med(func(r idle) float64 { return float64(r.byName[name]) })
		anon, _, _ := med(func(r idle) float64 { return float64(r.anon[name]) })
		fmt.Fprintf(&out, "  - %s: %.1f MB, of which %.1f MB anonymous (heap, stacks) and %.1f MB its binary's pages\n", name, mb(kb), mb(anon), mb(kb-anon))
	}
	fmt.Fprintf(&out, "- agent and plugins together: %.1f MB\n", mb(total))
	fmt.Print(out.String())
	appendBenchOut(t, out.String())
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// appendBenchOut adds text to $TOCSIN_BENCH_OUT, which make bench-compare
// prints at the end.
func appendBenchOut(t *testing.T, text string) {
	t.Helper()
	path := os.Getenv("TOCSIN_BENCH_OUT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	must(t, err)
	defer f.Close()
	_, err = f.WriteString(text)
	must(t, err)
}
