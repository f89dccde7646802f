package tokenstore

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testKey is a fixed key whose standard base64 holds both '+' and '/', so
// that the standard and URL alphabets differ.
var testKey = func() Key {
	var k Key
	for i := range k {
		k[i] = byte(0xf8 + i*7)
	}
	return k
}()

// keyTexts returns every encoding of k that might leak into an error.
func keyTexts(k Key) []string {
	return []string{
		string(k[:]),
		base64.StdEncoding.EncodeToString(k[:]),
		base64.RawStdEncoding.EncodeToString(k[:]),
		base64.URLEncoding.EncodeToString(k[:]),
		base64.RawURLEncoding.EncodeToString(k[:]),
		fmt.Sprintf("%x", k[:]),
		fmt.Sprint(k[:]),
	}
}

// checkNoKey fails when s holds k in any encoding.
func checkNoKey(t *testing.T, s string, k Key) {
	t.Helper()
	for _, kt := range keyTexts(k) {
		if strings.Contains(s, kt) {
			t.Errorf("%q holds the key (%q)", s, kt)
		}
	}
}

func TestKey_Format(t *testing.T) {
	if s := base64.StdEncoding.EncodeToString(testKey[:]); !strings.ContainsAny(s, "+/") {
		t.Fatalf("testKey's base64 %q should hold '+' or '/'", s)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		got := fmt.Sprintf(format, testKey)
		if got != "[redacted]" {
			t.Errorf("Sprintf(%q, key) = %q, want [redacted]", format, got)
		}
	}
	if got := fmt.Sprintf("%v", []Key{testKey}); got != "[[redacted]]" {
		t.Errorf("Sprintf(%%v, []Key) = %q", got)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", testKey)
	checkNoKey(t, buf.String(), testKey)
	if !strings.Contains(buf.String(), "key=[redacted]") {
		t.Errorf("slog output %q, want key=[redacted]", buf.String())
	}
}

func TestKeySource_String(t *testing.T) {
	tests := []struct {
		src  KeySource
		want string
	}{
		{KeySource{File: "/etc/tocsin/token.key"}, `key file "/etc/tocsin/token.key"`},
		{KeySource{Env: "TOCSIN_TOKEN_KEY"}, "environment variable TOCSIN_TOKEN_KEY"},
		{KeySource{}, "an invalid key source"},
		{KeySource{File: "a", Env: "B"}, "an invalid key source"},
	}
	for _, tt := range tests {
		if got := tt.src.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestLoadKey_Source(t *testing.T) {
	for _, src := range []KeySource{{}, {File: filepath.Join(t.TempDir(), "k"), Env: "X"}} {
		_, err := LoadKey(src)
		if !errors.Is(err, ErrKeySource) {
			t.Errorf("LoadKey(%#v) = %v, want ErrKeySource", src, err)
		}
	}
}

func TestLoadKey_FileGenerated(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "data", "secrets", "token.key")
	k1, err := LoadOrCreateKey(KeySource{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if k1 == (Key{}) {
		t.Fatal("generated key is all zero")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode %#o, want 0600", got)
	}
	for _, dir := range []string{filepath.Join(root, "data"), filepath.Join(root, "data", "secrets")} {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o700 {
			t.Errorf("%s mode %#o, want 0700", dir, got)
		}
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.StdEncoding.EncodeToString(k1[:]) + "\n"; string(content) != want {
		t.Errorf("key file holds %d bytes, want the base64 of the key and a newline", len(content))
	}

	k2, err := LoadOrCreateKey(KeySource{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if k1 != k2 {
		t.Error("second LoadKey returned another key")
	}
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(content, again) {
		t.Error("second LoadKey changed the key file")
	}
	// No temporary files are left behind.
	des, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 {
		t.Errorf("key directory holds %d entries, want 1 (the key file)", len(des))
	}
}

func TestLoadKey_FileRace(t *testing.T) {
	const goroutines = 8
	for round := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprint(round), "token.key")
		keys := make([]Key, goroutines)
		errs := make([]error, goroutines)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
		)
		for i := range goroutines {
			wg.Go(func() {
				<-start
				keys[i], errs[i] = LoadOrCreateKey(KeySource{File: path})
			})
		}
		close(start)
		wg.Wait()
		for i := range goroutines {
			if errs[i] != nil {
				t.Fatalf("round %d, goroutine %d: %v", round, i, errs[i])
			}
			if keys[i] != keys[0] {
				t.Fatalf("round %d: goroutine %d got another key than goroutine 0", round, i)
			}
		}
		final, err := LoadKey(KeySource{File: path})
		if err != nil || final != keys[0] {
			t.Fatalf("round %d: the key file does not hold the key all goroutines got (err %v)", round, err)
		}
	}
}

func TestLoadKey_File(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(testKey[:])
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr []string // substrings; nil: the key is testKey
	}{
		{name: "base64 with newline", content: std + "\n", mode: 0o600},
		{name: "base64 url raw", content: base64.RawURLEncoding.EncodeToString(testKey[:]), mode: 0o600},
		{name: "raw bytes", content: string(testKey[:]), mode: 0o600},
		{name: "read only", content: std, mode: 0o400},
		{name: "group readable", content: std, mode: 0o640, wantErr: groupReadable()},
		{name: "world readable", content: std, mode: 0o644, wantErr: []string{"mode 0644", "chmod 600"}},
		{name: "other only", content: std, mode: 0o604, wantErr: []string{"chmod 600"}},
		{name: "group writable", content: std, mode: 0o620, wantErr: []string{"mode 0620", "chmod go-w"}},
		{name: "empty", content: "", mode: 0o600, wantErr: []string{"is empty", "head -c 32 /dev/urandom | base64"}},
		{name: "short", content: base64.StdEncoding.EncodeToString(testKey[:16]), mode: 0o600, wantErr: []string{"neither 32 bytes nor their base64", "head -c 32 /dev/urandom | base64"}},
		{name: "long", content: base64.StdEncoding.EncodeToString(append(testKey[:], 1)), mode: 0o600, wantErr: []string{"neither"}},
		{name: "garbage", content: strings.Repeat("x!", 5000), mode: 0o600, wantErr: []string{"neither"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token.key")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			k, err := LoadKey(KeySource{File: path})
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if k != testKey {
					t.Error("LoadKey returned another key")
				}
				return
			}
			if err == nil {
				t.Fatal("LoadKey succeeded, want an error")
			}
			msg := err.Error()
			for _, want := range append(tt.wantErr, path) {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not hold %q", msg, want)
				}
			}
			checkNoKey(t, msg, testKey)
			// The file is never replaced.
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Error("LoadKey changed the key file")
			}
		})
	}
}

func TestLoadKey_FileIsDirectory(t *testing.T) {
	path := t.TempDir()
	if err := os.Chmod(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKey(KeySource{File: path})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("LoadKey(directory) = %v, want 'not a regular file'", err)
	}
}

func TestLoadKey_Env(t *testing.T) {
	const name = "TOCSIN_TEST_TOKEN_KEY"
	tests := []struct {
		name    string
		value   *string // nil: unset
		wantErr string  // "": the key is testKey
	}{
		{name: "std", value: ptr(base64.StdEncoding.EncodeToString(testKey[:]))},
		{name: "std with newline", value: ptr(base64.StdEncoding.EncodeToString(testKey[:]) + "\n")},
		{name: "raw std", value: ptr(base64.RawStdEncoding.EncodeToString(testKey[:]))},
		{name: "url", value: ptr(base64.URLEncoding.EncodeToString(testKey[:]))},
		{name: "raw url", value: ptr(base64.RawURLEncoding.EncodeToString(testKey[:]))},
		{name: "unset", wantErr: name + " is not set"},
		{name: "empty", value: ptr(""), wantErr: name + " is empty"},
		{name: "blank", value: ptr("  \n"), wantErr: name + " is empty"},
		{name: "not base64", value: ptr("correct horse battery staple, correct horse"), wantErr: name + " does not hold the base64 of 32 bytes"},
		{name: "16 bytes", value: ptr(base64.StdEncoding.EncodeToString(testKey[:16])), wantErr: name + " does not hold the base64 of 32 bytes"},
		{name: "33 bytes", value: ptr(base64.StdEncoding.EncodeToString(append(testKey[:], 0))), wantErr: name + " does not hold the base64 of 32 bytes"},
		{name: "raw bytes", value: ptr(string(testKey[:])), wantErr: name + " does not hold the base64 of 32 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.value != nil {
				t.Setenv(name, *tt.value)
			} else {
				t.Setenv(name, "") // restored after the test
				if err := os.Unsetenv(name); err != nil {
					t.Fatal(err)
				}
			}
			k, err := LoadKey(KeySource{Env: name})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k != testKey {
					t.Error("LoadKey returned another key")
				}
				return
			}
			if err == nil {
				t.Fatal("LoadKey succeeded, want an error")
			}
			msg := err.Error()
			for _, want := range []string{tt.wantErr, "head -c 32 /dev/urandom | base64"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not hold %q", msg, want)
				}
			}
			checkNoKey(t, msg, testKey)
			if tt.value != nil && strings.TrimSpace(*tt.value) != "" && strings.Contains(msg, strings.TrimSpace(*tt.value)) {
				t.Errorf("error %q quotes the variable's value", msg)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// groupReadable is what LoadKey says of a key file of mode 0640 that the
// test creates: root's is accepted (root:tocsin 0640), anyone else's is
// refused.
func groupReadable() []string {
	if os.Geteuid() == 0 {
		return nil
	}
	return []string{"mode 0640", "lets its group read it", "chmod 600"}
}

// A source naming both a file and a variable is refused by LoadOrCreateKey
// as by LoadKey, and no key file is created.
func TestLoadOrCreateKey_BothSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token.key")
	t.Setenv("TOCSIN_TEST_TOKEN_KEY", base64.StdEncoding.EncodeToString(testKey[:]))
	_, err := LoadOrCreateKey(KeySource{File: path, Env: "TOCSIN_TEST_TOKEN_KEY"})
	if !errors.Is(err, ErrKeySource) {
		t.Errorf("LoadOrCreateKey(file and env) = %v, want ErrKeySource", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file created (stat: %v)", err)
	}
}

// A key file of up to 4096 bytes (base64 and white space) is read; a longer
// one is refused.
func TestLoadKey_FileSizeBound(t *testing.T) {
	text := base64.StdEncoding.EncodeToString(testKey[:])
	for _, tt := range []struct {
		size int
		ok   bool
	}{{maxKeyFileSize, true}, {maxKeyFileSize + 1, false}} {
		path := filepath.Join(t.TempDir(), "token.key")
		data := text + "\n" + strings.Repeat(" ", tt.size-len(text)-1)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadKey(KeySource{File: path})
		if tt.ok && (err != nil || k != testKey) {
			t.Errorf("%d-byte key file: LoadKey = %v, want the key", tt.size, err)
		}
		if !tt.ok && err == nil {
			t.Errorf("%d-byte key file: LoadKey = nil error, want it refused", tt.size)
		}
	}
}
