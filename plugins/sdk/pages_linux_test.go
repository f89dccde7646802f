package sdk

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFileKB is the process's resident pages of mapped files, in KiB.
func rssFileKB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("RssFile: %v", err)
			}
			return kb
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseFilePages: the pages of the executable leave the process;
// the test itself runs on, its code read back from the page cache.
func TestReleaseFilePages(t *testing.T) {
	before := rssFileKB(t)
	releaseFilePages()
	after := rssFileKB(t)
	t.Logf("RssFile %d KiB before, %d KiB after", before, after)
	if after >= before-1024 {
		t.Errorf("RssFile went from %d KiB to %d KiB: the executable's pages were not released", before, after)
	}
}
