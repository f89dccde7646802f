// Command crashonce is a transport plugin whose process dies in the middle
// of a Send while the file named by its crash_once setting exists (it
// removes the file first, so the next process does not). Otherwise Send
// accepts every message with the receipt "pid N", naming its process.
// Describe is smtp-basic's.
package main

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"sync"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
	"github.com/tocsin-dev/tocsin/plugins/smtp-basic/basic"
)

type crashonce struct {
	sdk.Transport

	mu     sync.Mutex
	marker string
}

func (c *crashonce) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	var s struct {
		CrashOnce string `json:"crash_once"`
	}
	if err := json.Unmarshal(cfg.Settings.JSON(), &s); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.marker = s.CrashOnce
	return nil, nil
}

func (c *crashonce) Send(_ context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	c.mu.Lock()
	marker := c.marker
	c.mu.Unlock()
	if marker != "" && os.Remove(marker) == nil {
		os.Exit(2)
	}
	out := make([]sdk.Result, len(msgs))
	for i, m := range msgs {
		out[i] = sdk.Result{MessageID: m.ID, Receipt: "pid " + strconv.Itoa(os.Getpid())}
	}
	return out, nil
}

func main() { sdk.Serve(&crashonce{Transport: basic.New("crashonce")}) }
