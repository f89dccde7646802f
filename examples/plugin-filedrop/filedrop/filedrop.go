package filedrop

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tocsin-dev/tocsin/plugins/sdk"
)

// Name is the plugin's name: the binary is tocsin-plugin-filedrop and a
// transport block says plugin = "filedrop".
const Name = "filedrop"

// DefaultFileMode is the mode of the files written when file_mode is not
// set: read and write for the owner, read for the group.
const DefaultFileMode = "0640"

// Schema is the filedrop config block.
var Schema = sdk.Schema{
	{Name: "directory", Type: sdk.TypeString, Required: true, Description: "Absolute path of the directory the .eml files are written to."},
	{Name: "file_mode", Type: sdk.TypeString, Default: DefaultFileMode, Description: "Octal permission bits of each file written, such as \"0640\"; must not grant write to others."},
	{Name: "create_directory", Type: sdk.TypeBool, Default: "false", Description: "Create directory (and its parents) when it does not exist, instead of reporting an error."},
}

// settings is the decoded config block.
type settings struct {
	Directory       string `json:"directory"`
	FileMode        string `json:"file_mode"`
	CreateDirectory bool   `json:"create_directory"`
}

// logger is the part of the agent's logger (an hclog.Logger) the
// transport uses.
type logger interface {
	Debug(msg string, args ...any)
}

// drop is an applied configuration. It is never modified, so Send and
// Check may use it concurrently while Configure installs a new one.
type drop struct {
	dir    string
	mode   fs.FileMode
	create bool
	log    logger
}

// Transport is the filedrop transport. Create it with New; it is safe for
// concurrent use.
type Transport struct {
	version string

	// Now returns the current time, which names the files; nil means
	// time.Now. Tests set it before the first Send.
	Now func() time.Time

	// cur is the drop of the last good Configure; until there is one,
	// Check and Send fail with sdk.ErrNotConfigured.
	cur sdk.Configured[drop]
}

var _ sdk.Transport = (*Transport)(nil)

// New returns an unconfigured transport that reports version.
func New(version string) *Transport { return &Transport{version: version} }

// Describe returns the plugin's identity and schema. Messages are written
// one by one, so Batch is false.
func (t *Transport) Describe(context.Context) (*sdk.Description, error) {
	return &sdk.Description{
		Name:    Name,
		Version: t.version,
		Summary: "Writes each message as an RFC 5322 .eml file into a directory, such as another MTA's pickup directory.",
		Schema:  Schema,
		Batch:   false,
	}, nil
}

// Configure validates the settings: directory must be absolute, exist (or
// be created when create_directory is true) and be writable; file_mode
// must be octal and must not grant write to others. With error
// diagnostics the transport refuses to send until configured again.
func (t *Transport) Configure(_ context.Context, cfg sdk.Config) (sdk.Diagnostics, error) {
	s := settings{FileMode: DefaultFileMode}
	if err := cfg.Settings.Decode(&s); err != nil {
		return nil, err
	}
	mode, diags := parseMode(s.FileMode)
	if diags.HasErrors() {
		// Report a bad path too, but create nothing with a mode we
		// rejected.
		diags = append(diags, checkPath(s.Directory)...)
	} else {
		diags = append(diags, prepareDirectory(s.Directory, s.CreateDirectory, mode)...)
	}
	if diags.HasErrors() {
		t.cur.Set(nil)
		return diags, nil
	}
	d := &drop{dir: filepath.Clean(s.Directory), mode: mode, create: s.CreateDirectory, log: cfg.Logger}
	if d.log == nil {
		d.log = nopLogger{}
	}
	t.cur.Set(d)
	d.log.Debug("filedrop configured", "directory", d.dir, "file_mode", fmt.Sprintf("%#o", d.mode))
	return diags, nil
}

// parseMode parses file_mode and reports a value that is not octal, has
// more than permission bits, or lets others write.
func parseMode(s string) (fs.FileMode, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	v, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	switch {
	case err != nil:
		return 0, diags.Errorf("file_mode", "Write the mode as an octal string of permission bits, such as \"0640\" (owner read and write, group read).", "file_mode %q is not an octal mode", s)
	case v > 0o777:
		return 0, diags.Errorf("file_mode", "Only permission bits (at most 0777) are allowed: setuid, setgid and sticky bits mean nothing on a mail file.", "file_mode %q sets more than permission bits", s)
	case v&0o002 != 0:
		return 0, diags.Errorf("file_mode", "Anyone on this host could change or forge an alert before it is picked up. Use \"0640\", or \"0644\" if the pickup process runs as another user outside the group.", "file_mode %q lets others write the files", s)
	}
	mode := fs.FileMode(v)
	if mode&0o400 == 0 {
		diags = diags.Warnf("file_mode", "A pickup process running as the agent's user cannot read the files. Use \"0640\" unless that is intended.", "file_mode %q does not let the owner read the files", s)
	}
	return mode, diags
}

// dirMode returns the mode of a directory created for files of mode m:
// rwx for the owner, and for group and others the read and write bits of m
// with search added wherever m grants read.
func dirMode(m fs.FileMode) fs.FileMode {
	return 0o700 | m&0o066 | (m&0o044)>>2
}

// checkPath reports a directory setting that is empty or relative.
func checkPath(dir string) sdk.Diagnostics {
	var diags sdk.Diagnostics
	if dir == "" {
		return diags.Errorf("directory", "Set directory to the absolute path of the pickup directory, such as \"/var/spool/tocsin/outbox\".", "No directory set")
	}
	if !filepath.IsAbs(dir) {
		return diags.Errorf("directory", "The plugin runs in the agent's working directory, so a relative path is ambiguous: give the absolute path.", "directory %q is not an absolute path", dir)
	}
	return nil
}

// prepareDirectory checks that dir is an absolute path to a writable
// directory, creating it with dirMode(mode) when it is missing and create
// is true.
func prepareDirectory(dir string, create bool, mode fs.FileMode) sdk.Diagnostics {
	diags := checkPath(dir)
	if diags.HasErrors() {
		return diags
	}
	dir = filepath.Clean(dir)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := makeDirectory(dir, mode); err != nil {
			return diags.Errorf("directory", remedy(dir, err), "Cannot create directory %s: %v", dir, unwrapPath(err))
		}
	case errors.Is(err, fs.ErrNotExist):
		return diags.Errorf("directory", fmt.Sprintf("Create it (mkdir -p %s, owned by the user the agent runs as), or set create_directory = true.", dir), "Directory %s does not exist", dir)
	case err != nil:
		return diags.Errorf("directory", remedy(dir, err), "Cannot use directory %s: %v", dir, unwrapPath(err))
	case !info.IsDir():
		return diags.Errorf("directory", "Point directory at a directory; the files are created inside it.", "%s is not a directory", dir)
	}
	if err := probe(dir); err != nil {
		return diags.Errorf("directory", remedy(dir, err), "Directory %s is not writable: %v", dir, unwrapPath(err))
	}
	return diags
}

// makeDirectory creates dir and its parents, and gives dir itself
// dirMode(mode) regardless of the umask.
func makeDirectory(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, dirMode(mode)); err != nil {
		return err
	}
	return os.Chmod(dir, dirMode(mode))
}

// probe proves dir is writable by creating and removing a file in it.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".tocsin-check-*.tmp")
	if err != nil {
		return err
	}
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(cerr, rerr)
}

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Check proves the directory is (still) writable by creating and removing
// a temporary file in it.
func (t *Transport) Check(ctx context.Context) error {
	d, err := t.cur.Get()
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return sdk.TemporaryError(err, "", "")
	}
	if err := d.ensure(); err != nil {
		return err
	}
	if err := probe(d.dir); err != nil {
		return classify(d.dir, fmt.Errorf("check directory: %w", err))
	}
	return nil
}

// Send writes each message to its own file. Every message gets its own
// result: an invalid message fails permanently and alone; once ctx ends,
// the messages not yet written fail with a temporary error.
func (t *Transport) Send(ctx context.Context, msgs []*sdk.Message) ([]sdk.Result, error) {
	d, err := t.cur.Get()
	if err != nil {
		return nil, err
	}
	results := make([]sdk.Result, len(msgs))
	if len(msgs) == 0 {
		return results, nil
	}
	if err := d.ensure(); err != nil {
		return nil, err
	}
	for i, m := range msgs {
		results[i].MessageID = m.ID
		if err := ctx.Err(); err != nil {
			results[i].Err = sdk.TemporaryError(fmt.Errorf("write message %s: %w", m.ID, err), "", "The agent stopped the delivery (shutdown or timeout); it tries again.")
			continue
		}
		if err := m.Validate(); err != nil {
			results[i].Err = sdk.PermanentError(fmt.Errorf("invalid message: %w", err), "", "The agent produced a message that cannot be sent; report this as a bug.")
			continue
		}
		name, err := t.write(d, m)
		if err != nil {
			results[i].Err = err
			continue
		}
		d.log.Debug("message written", "message_id", m.ID, "file", name)
		results[i].Receipt = "written " + name
	}
	return results, nil
}

// ensure recreates the directory when create_directory is set and it has
// gone; otherwise a missing directory shows up when writing.
func (d *drop) ensure() error {
	if !d.create {
		return nil
	}
	if _, err := os.Stat(d.dir); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := makeDirectory(d.dir, d.mode); err != nil {
		return classify(d.dir, fmt.Errorf("create directory: %w", err))
	}
	return nil
}

// write stores m atomically in d's directory and returns the file's name.
func (t *Transport) write(d *drop, m *sdk.Message) (string, error) {
	raw, err := m.Bytes()
	if err != nil {
		return "", sdk.PermanentError(fmt.Errorf("build message %s: %w", m.ID, err), "", "The agent produced a message that cannot be sent; report this as a bug.")
	}
	tmp, err := os.CreateTemp(d.dir, ".tocsin-*.tmp")
	if err != nil {
		return "", classify(d.dir, fmt.Errorf("write message %s: %w", m.ID, err))
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(raw); err != nil {
		return "", classify(d.dir, fmt.Errorf("write message %s: %w", m.ID, err))
	}
	if err := tmp.Sync(); err != nil {
		return "", classify(d.dir, fmt.Errorf("sync message %s: %w", m.ID, err))
	}
	if err := tmp.Chmod(d.mode); err != nil {
		return "", classify(d.dir, fmt.Errorf("set mode of message %s: %w", m.ID, err))
	}
	if err := tmp.Close(); err != nil {
		return "", classify(d.dir, fmt.Errorf("write message %s: %w", m.ID, err))
	}
	name := uniqueName(d.dir, t.now(), m.ID)
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, name)); err != nil {
		return "", classify(d.dir, fmt.Errorf("rename message %s into place: %w", m.ID, err))
	}
	done = true
	syncDir(d.dir)
	return name, nil
}

// FileName returns the name of the file for message id written at now:
// <unix-nanoseconds>-<sanitized id>.eml.
func FileName(now time.Time, id string) string {
	return strconv.FormatInt(now.UnixNano(), 10) + "-" + sanitize(id) + ".eml"
}

// uniqueName returns FileName(now, id), moved on by a nanosecond at a time
// while a file of that name exists, so a retry never replaces a file a
// pickup process has not taken yet.
func uniqueName(dir string, now time.Time, id string) string {
	for {
		name := FileName(now, id)
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		now = now.Add(time.Nanosecond)
	}
}

// maxIDLen bounds the message ID part of a file name, so that the name
// stays within the 255 bytes most file systems allow.
const maxIDLen = 200

// sanitize keeps the characters of a message ID that are safe in a file
// name on any system (letters, digits and . _ - + = @) and replaces every
// other byte with '_'.
func sanitize(id string) string {
	b := []byte(id)
	if len(b) > maxIDLen {
		b = b[:maxIDLen]
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._-+=@", c) >= 0:
		default:
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "message"
	}
	return string(b)
}

// syncDir flushes the directory entry of a renamed file to disk, where the
// system supports it. A failure is ignored: the file is in place already,
// and reporting an error would make the agent write it a second time.
func syncDir(dir string) {
	f, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = f.Sync()
	_ = f.Close()
}

// classify turns a file system error into a DeliveryError with a remedy.
func classify(dir string, err error) *sdk.DeliveryError {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return sdk.TemporaryError(err, "ENOSPC", fmt.Sprintf("The file system holding %s is full: free space, or set directory to a larger file system; Tocsin retries meanwhile.", dir))
	case errors.Is(err, syscall.EDQUOT):
		return sdk.TemporaryError(err, "EDQUOT", fmt.Sprintf("The disk quota of the agent's user is used up on %s: raise it or free space; Tocsin retries meanwhile.", dir))
	case errors.Is(err, syscall.EROFS):
		return sdk.PermanentError(err, "EROFS", fmt.Sprintf("%s is on a read-only file system: remount it read-write, or set directory to a writable one.", dir))
	case errors.Is(err, fs.ErrPermission):
		return sdk.PermanentError(err, "EACCES", remedy(dir, err))
	case errors.Is(err, fs.ErrNotExist):
		return sdk.TemporaryError(err, "ENOENT", fmt.Sprintf("Directory %s is missing: create or mount it, or set create_directory = true; Tocsin retries meanwhile.", dir))
	default:
		return sdk.TemporaryError(err, "", "")
	}
}

// remedy says what to do about err for directory dir.
func remedy(dir string, err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("Give the user the agent runs as write and search permission on %s (chown or chmod), or set directory to one it can write.", dir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("A part of %s is missing: create it, or set create_directory = true.", dir)
	case errors.Is(err, syscall.EROFS):
		return fmt.Sprintf("%s is on a read-only file system: remount it read-write, or set directory to a writable one.", dir)
	case errors.Is(err, syscall.ENOSPC):
		return fmt.Sprintf("The file system holding %s is full: free space, or set directory to a larger file system.", dir)
	default:
		return "Check the directory's permissions and the file system's state."
	}
}

// unwrapPath returns the cause of a *fs.PathError, whose path the caller
// already names, and err otherwise.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// nopLogger discards everything; it stands in when Configure gets no logger.
type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
