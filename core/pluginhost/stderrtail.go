package pluginhost

import (
	"encoding/json"
	"strings"
	"sync"
)

// stderrTail keeps the last bytes a plugin wrote to stderr, so that a
// plugin that fails to start can be explained by its own words.
type stderrTail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newStderrTail(max int) *stderrTail { return &stderrTail{max: max} }

// Write keeps the last max bytes of p and what came before it.
func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	t.buf = t.buf[max(0, len(t.buf)-t.max):]
	return len(p), nil
}

// Lines returns the last n non-empty lines that say something went wrong:
// plain lines (a panic, a raw print) and hclog JSON lines at warn or error
// level, whose message is taken out of the JSON.
func (t *stderrTail) Lines(n int) []string {
	t.mu.Lock()
	text := string(t.buf)
	t.mu.Unlock()
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		var j struct {
			Level   string `json:"@level"`
			Message string `json:"@message"`
			Error   string `json:"error"`
		}
		if json.Unmarshal([]byte(l), &j) == nil && j.Message != "" {
			if j.Level != "warn" && j.Level != "error" {
				continue
			}
			l = j.Message
			if j.Error != "" {
				l += ": " + j.Error
			}
		}
		out = append(out, l)
	}
	return out[max(0, len(out)-n):]
}
