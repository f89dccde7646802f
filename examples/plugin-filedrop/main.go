// Command tocsin-plugin-filedrop is an example third-party Tocsin transport:
// it delivers each message as an .eml file in a directory. See package
// filedrop for its settings, and README.md for building and installing it.
package main

import (
	"fmt"
	"os"

	"github.com/tocsin-dev/tocsin/examples/plugin-filedrop/filedrop"
	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// version is set at build time with -ldflags "-X main.version=1.2.3".
var version = "dev"

func main() {
	if err := sdk.Serve(filedrop.New(version)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
