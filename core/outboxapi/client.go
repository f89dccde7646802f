package outboxapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tocsin-dev/tocsin/core/outbox"
)

// maxErrorBody bounds what the client reads of an error answer.
const maxErrorBody = 64 << 10

// Doer sends a request and returns the answer, whatever its status;
// *http.Client is one. The tocsin command's Doer adds the agent's admin
// token and trusts only the agent's own certificate.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Client calls the outbox API of one agent. An answer with another
// status than the call expects is a *StatusError; an error of the Doer
// is returned as it is.
type Client struct {
	base string
	doer Doer
}

// NewClient returns the client of the agent at base (the scheme and
// host:port, such as "https://127.0.0.1:9870"), reached through d.
func NewClient(base string, d Doer) *Client {
	return &Client{base: base, doer: d}
}

// List returns the entries in state (pending, dead, or "" for all),
// oldest first.
func (c *Client) List(ctx context.Context, state outbox.State) ([]Entry, error) {
	path := Path
	if state != "" {
		path += "?state=" + url.QueryEscape(string(state))
	}
	var l List
	if err := c.do(ctx, http.MethodGet, path, http.StatusOK, &l); err != nil {
		return nil, err
	}
	return l.Entries, nil
}

// Get returns the entry id.
func (c *Client) Get(ctx context.Context, id string) (Entry, error) {
	var e Entry
	err := c.do(ctx, http.MethodGet, entryPath(id), http.StatusOK, &e)
	return e, err
}

// Retry puts the entry id back at the start of its contact's transport
// chain, due now, and returns it as it then stands.
func (c *Client) Retry(ctx context.Context, id string) (Entry, error) {
	var e Entry
	err := c.do(ctx, http.MethodPost, entryPath(id)+"/retry", http.StatusOK, &e)
	return e, err
}

// Drop deletes the entry id.
func (c *Client) Drop(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, entryPath(id), http.StatusNoContent, nil)
}

// entryPath is the path of the entry id.
func entryPath(id string) string { return Path + "/" + url.PathEscape(id) }

// do sends method path and decodes the answer into out (if not nil) when
// its status is want; any other status is a *StatusError.
func (c *Client) do(ctx context.Context, method, path string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("ask the agent: %w", err)
	}
	resp, err := c.doer.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		se := &StatusError{Method: method, Path: path, URL: c.base + path, StatusCode: resp.StatusCode, Status: resp.Status, Body: string(body)}
		var ae Error
		if json.Unmarshal(body, &ae) == nil {
			se.Message = ae.Message
		}
		return se
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read the agent's answer to %s %s: %w", method, path, err)
	}
	return nil
}
