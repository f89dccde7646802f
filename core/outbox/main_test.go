package outbox

import (
	"os"
	"testing"
)

// datasetDirs are the directories of the damage tests' datasets.
var datasetDirs []string

func TestMain(m *testing.M) {
	if helper := os.Getenv(helperEnv); helper != "" {
		os.Exit(runHelper(helper))
	}
	code := m.Run()
	for _, dir := range datasetDirs {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}
