package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Prefix is the file name prefix of a plugin executable.
const Prefix = "tocsin-plugin-"

// ErrNotFound means no plugin of that name is installed.
var ErrNotFound = errors.New("plugin not found")

// Host owns the plugin processes of one agent.
type Host struct {
	logger hclog.Logger
	dir    string

	mu        sync.Mutex
	instances []*Instance
	closed    bool
}

// New returns a host that looks for plugins in dir.
func New(logger hclog.Logger, dir string) *Host {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Host{logger: logger.Named("plugin"), dir: dir}
}

// Dir returns the plugin directory.
func (h *Host) Dir() string { return h.dir }

// Available returns the names of the plugins in the plugin directory,
// sorted.
func (h *Host) Available() ([]string, error) {
	entries, err := os.ReadDir(h.dir)
	if err != nil {
		return nil, fmt.Errorf("read plugin directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok || name == "" || e.IsDir() {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode()&0o111 != 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Find returns the executable for plugin: path when it is set, else
// tocsin-plugin-NAME in the plugin directory. A missing plugin is an error
// wrapping ErrNotFound that lists what is installed.
func (h *Host) Find(plugin, path string) (string, error) {
	if path == "" {
		path = filepath.Join(h.dir, Prefix+plugin)
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		have, _ := h.Available()
		list := "none"
		if len(have) > 0 {
			list = strings.Join(have, ", ")
		}
		return "", fmt.Errorf("%w: %q is not at %s (installed in %s: %s)", ErrNotFound, plugin, path, h.dir, list)
	case err != nil:
		return "", fmt.Errorf("find plugin %q: %w", plugin, err)
	case info.IsDir() || info.Mode()&0o111 == 0:
		return "", fmt.Errorf("plugin %q at %s is not an executable file", plugin, path)
	}
	return path, nil
}

// Checksum returns the hex SHA-256 of the file at path.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checksum: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(sum.Sum(nil)), nil
}

// ChecksumError is a plugin file that does not match its pin.
type ChecksumError struct {
	Path     string
	Pinned   string
	Computed string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s has sha256 %s, but the transport pins sha256 %s: the file changed since it was pinned; if the new file is trusted, put its sha256 in the transport block", e.Path, e.Computed, e.Pinned)
}

// Instance returns a new, not yet started, plugin instance for spec. It
// starts on first use and stops with Close.
func (h *Host) Instance(spec Spec) *Instance {
	in := &Instance{host: h, spec: spec, logger: h.logger.Named(spec.Plugin).With("transport", spec.Name)}
	h.mu.Lock()
	h.instances = append(h.instances, in)
	h.mu.Unlock()
	return in
}

// Close stops every plugin process the host started, waiting at most
// StopTimeout.
func (h *Host) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		h.logger.Warn("plugins did not stop in time; killed them", "error", err)
	}
}

// Shutdown stops every plugin process the host started, and every process
// they started, all at once. A plugin that has not exited when ctx is done
// is killed with its process group, and the error says which.
func (h *Host) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	instances := h.instances
	h.instances = nil
	h.mu.Unlock()
	errs := make([]error, len(instances))
	var wg sync.WaitGroup
	for i, in := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = in.Stop(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}
