// Package pluginpython_test tests the example Python plugin (pydrop) as the
// agent meets it: a real python3 process built by ./build, go-plugin's
// handshake, gRPC with AutoMTLS, the SDK's client. It needs Debian's
// python3-grpcio, python3-protobuf, python3-grpc-tools and
// python3-cryptography; without them the tests skip, except under CI=true,
// where they fail.
package pluginpython_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/sdk/host"
	"github.com/tocsin-dev/tocsin/plugins/sdk/sdktest"
)

// python is the interpreter the plugin's #! line names: Debian's, whose
// packages the plugin uses (a python3 earlier on PATH may lack them).
const python = "/usr/bin/python3"

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
	buildOut  []byte
)

// needPython skips the test when Debian's Python packages are missing,
// or fails it under CI, which installs them (.ci/run).
func needPython(t testing.TB) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import grpc, google.protobuf, grpc_tools, cryptography").CombinedOutput()
	if err == nil {
		return
	}
	msg := "the Python plugin needs " + python + " with Debian's python3-grpcio, python3-protobuf, python3-grpc-tools and python3-cryptography (apt-get install them): " + err.Error() + ": " + string(out)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("skipped: " + msg)
}

// pluginPath builds tocsin-plugin-pydrop once per test process with
// ./build and returns its path.
func pluginPath(t testing.TB) string {
	t.Helper()
	needPython(t)
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tocsin-pydrop-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "tocsin-plugin-pydrop")
		_, file, _, _ := runtime.Caller(0)
		buildOut, buildErr = exec.Command(filepath.Join(filepath.Dir(file), "build"), builtPath).CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("./build: %v\n%s", buildErr, buildOut)
	}
	return builtPath
}

// pyPlugin is one running plugin process, seen through the SDK's client.
type pyPlugin struct {
	sdk.Transport
	client *plugin.Client
	logs   *sdktest.Logs
}

// startPlugin starts the Python plugin the way the agent starts a plugin
// (go-plugin, AutoMTLS, the SDK's plugin set and size limits). It is
// stopped when the test ends.
func startPlugin(t testing.TB) *pyPlugin {
	t.Helper()
	path := pluginPath(t)
	logs := &sdktest.Logs{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: host.ClientPlugins(),
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin.pydrop", Level: hclog.Trace, Output: logs}),
		GRPCDialOptions:  host.DialOptions(),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start the Python plugin: %v\nits log:\n%s", err, logs)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("dispense the transport: %v", err)
	}
	tr, ok := raw.(sdk.Transport)
	if !ok {
		t.Fatalf("the plugin serves %T, not a transport", raw)
	}
	return &pyPlugin{Transport: tr, client: client, logs: logs}
}

// configure configures p with settings and fails the test on an error
// or an error diagnostic.
func (p *pyPlugin) configure(t *testing.T, settings map[string]any) {
	t.Helper()
	s, err := sdk.SettingsFromMap(settings)
	if err != nil {
		t.Fatal(err)
	}
	diags, err := p.Configure(t.Context(), sdk.Config{Transport: "py", From: "tocsin@example.com", Settings: s})
	if err == nil {
		err = diags.Err()
	}
	if err != nil {
		t.Fatalf("configure %v: %v", settings, err)
	}
}

func deliveryError(t *testing.T, err error) *sdk.DeliveryError {
	t.Helper()
	var de *sdk.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not an *sdk.DeliveryError", err, err)
	}
	return de
}

func testMessage(id string) *sdk.Message {
	return &sdk.Message{
		ID:      id,
		From:    sdk.Address{Address: "tocsin@example.com"},
		To:      []sdk.Address{{Name: "Ops", Address: "ops@example.com"}},
		Subject: "pydrop test " + id,
		Text:    "hello from the test\n",
	}
}
