package pluginhost

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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
	local  string

	mu        sync.Mutex
	instances []*Instance
	closed    bool
}

// Option configures a Host.
type Option func(*Host)

// WithLocalDir makes the host look for plugins in dir (third-party
// plugins, which upgrades never touch) before the plugin directory: on a
// name clash the plugin in dir wins, like /usr/local/bin before /usr/bin.
// A missing dir holds no plugins; "" means none.
func WithLocalDir(dir string) Option {
	return func(h *Host) { h.local = dir }
}

// New returns a host that looks for plugins in dir.
func New(logger hclog.Logger, dir string, opts ...Option) *Host {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	h := &Host{logger: logger.Named("plugin"), dir: dir}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Dir returns the plugin directory.
func (h *Host) Dir() string { return h.dir }

// Available returns the names of the plugins in the local and the plugin
// directory, sorted, each once.
func (h *Host) Available() ([]string, error) {
	names, err := list(h.dir)
	if err != nil {
		return nil, fmt.Errorf("read plugin directory: %w", err)
	}
	local, err := list(h.local)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read local plugin directory: %w", err)
	}
	names = append(names, local...)
	sort.Strings(names)
	return slices.Compact(names), nil
}

// list returns the names of the plugins in dir.
func list(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), Prefix)
		if !ok || name == "" {
			continue
		}
		if info, err := e.Info(); err == nil && runnable(info) {
			names = append(names, name)
		}
	}
	return names, nil
}

// runnable reports whether info is an executable file.
func runnable(info os.FileInfo) bool {
	return !info.IsDir() && info.Mode()&0o111 != 0
}

// installed returns the executable tocsin-plugin-NAME in dir, or "".
func installed(dir, plugin string) string {
	path := filepath.Join(dir, Prefix+plugin)
	if info, err := os.Stat(path); dir == "" || err != nil || !runnable(info) {
		return ""
	}
	return path
}

// Shadowed returns the executable of plugin in the plugin directory that
// one in the local directory hides, or "" when none is hidden.
func (h *Host) Shadowed(plugin string) string {
	if installed(h.local, plugin) == "" {
		return ""
	}
	return installed(h.dir, plugin)
}

// Find returns the executable for plugin: path when it is set, else
// tocsin-plugin-NAME in the local directory, else in the plugin directory.
// A missing plugin is an error wrapping ErrNotFound that lists what is
// installed, and where.
func (h *Host) Find(plugin, path string) (string, error) {
	if path == "" {
		path = cmp.Or(installed(h.local, plugin), filepath.Join(h.dir, Prefix+plugin))
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		have, _ := h.Available()
		list := "none"
		if len(have) > 0 {
			list = strings.Join(have, ", ")
		}
		dirs := h.dir
		if h.local != "" {
			dirs = h.local + " and " + h.dir
		}
		return "", fmt.Errorf("%w: %q is not at %s (installed in %s: %s)", ErrNotFound, plugin, path, dirs, list)
	case err != nil:
		return "", fmt.Errorf("find plugin %q: %w", plugin, err)
	case !runnable(info):
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
