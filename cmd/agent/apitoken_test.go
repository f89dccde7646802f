package main

import (
	"net/http"
	"testing"

	"github.com/tocsin-dev/tocsin/core/apiauth"
	"github.com/tocsin-dev/tocsin/core/config"
)

// authGet GETs url from the agent whose data_dir is dataDir with its
// local admin token, as the tocsin command does; without the token (the
// agent has not made it yet) it GETs without one.
func authGet(c *http.Client, dataDir, url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token, err := apiauth.ReadSecretFile(apiauth.LocalTokenPath(dataDir)); err == nil {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.Do(req)
}

// dataDirOf returns the data_dir of the configuration at path.
func dataDirOf(t *testing.T, path string) string {
	t.Helper()
	cfg, diags := config.Load(path)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return cfg.Agent.DataDir
}
