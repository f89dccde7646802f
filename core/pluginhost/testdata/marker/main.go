// Command marker is a transport plugin (smtp-basic's transport) that, as
// it starts, creates the file NAME.ran next to the executable it runs
// from (as /proc/self/exe names it), so a test can tell which of several
// copies ran.
package main

import (
	"os"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

func main() {
	if exe, err := os.Readlink("/proc/self/exe"); err == nil {
		_ = os.WriteFile(exe+".ran", nil, 0o644)
	}
	sdk.Serve(basic.New("marker"))
}
