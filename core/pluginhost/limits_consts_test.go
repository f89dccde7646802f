package pluginhost_test

import "github.com/tocsin-dev/tocsin/plugins/sdk"

// The SDK's limits, named here once for the tests of limits_test.go.
const (
	maxText    = sdk.MaxTextBytes
	maxRequest = sdk.MaxRequestBytes
)

// testdataPkg is the import path of the test plugins under testdata/.
const testdataPkg = "github.com/tocsin-dev/tocsin/core/pluginhost/testdata/"
