package sdk_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// TestSDKVersionInChangelog: the version a plugin reports in Describe is
// the newest one the module's changelog describes, so a release tag
// (plugins/sdk/vX.Y.Z) and what plugins say they were built with agree.
func TestSDKVersionInChangelog(t *testing.T) {
	b, err := os.ReadFile("CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^## \[(\d+\.\d+\.\d+)\]`).FindSubmatch(b)
	if m == nil {
		t.Fatal("CHANGELOG.md has no \"## [X.Y.Z]\" heading")
	}
	if string(m[1]) != sdk.SDKVersion {
		t.Errorf("CHANGELOG.md's newest version is %s, SDKVersion is %s: bump one of them", m[1], sdk.SDKVersion)
	}
}
