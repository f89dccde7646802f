package pluginhost_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/tocsin-dev/tocsin/core/pluginhost"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/testserver"
)

// TestInstance_FailedCallIsMadeOnce: only a call broken by the plugin's
// death is made again. A call the plugin answered with an error (here the
// server refuses the password) is made once: a Check or Send repeated on
// every failure would double the load on a provider that is already
// refusing, and a Send could be delivered twice. Nor does such a call wait
// for the plugin to exit, which it does not: with that wait made endless,
// the calls still return before the test's guard runs out.
func TestInstance_FailedCallIsMadeOnce(t *testing.T) {
	defer pluginhost.SetExitWait(time.Hour)()
	srv := testserver.StartT(t, testserver.Options{Users: map[string]string{"alice": "right"}, AllowInsecureAuth: true})
	logs := &syncBuffer{}
	h := pluginhost.New(hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: logs}), pluginDir(t))
	t.Cleanup(h.Close)
	in, diags := configure(t, h, map[string]any{"host": srv.Host(), "port": srv.Port(), "security": "none", "username": "alice", "password": "wrong", "allow_insecure_auth": true})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	guard, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := in.Check(guard); err == nil {
		t.Fatal("check with a wrong password passed")
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("a failed check made %d connections, want 1", n)
	}
	if _, err := in.Send(guard, []*sdk.Message{message("x@t", "a@example.com")}); err == nil {
		t.Fatal("send with a wrong password passed")
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("a failed check and a failed send made %d connections, want 2", n)
	}
	if guard.Err() != nil {
		t.Error("the failed calls waited for the plugin to exit")
	}
	if in.Starts() != 1 {
		t.Errorf("%d starts, want 1", in.Starts())
	}
	if strings.Contains(logs.String(), "died during a call") {
		t.Errorf("a plugin that answered with an error was taken for dead:\n%s", logs)
	}
}
