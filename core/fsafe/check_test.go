package fsafe

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

func TestCheckDataDir(t *testing.T) {
	const me, other = 1000, 2000
	tests := []struct {
		name string
		st   Info
		euid uint32
		ok   bool
	}{
		{"own 0700", Info{Mode: fs.ModeDir | 0o700, UID: me}, me, true},
		{"own 0755", Info{Mode: fs.ModeDir | 0o755, UID: me}, me, true},
		{"root-owned, agent not root", Info{Mode: fs.ModeDir | 0o755, UID: 0}, me, true},
		{"root, dir of the agent's user", Info{Mode: fs.ModeDir | 0o700, UID: other}, 0, true},
		{"foreign owner", Info{Mode: fs.ModeDir | 0o700, UID: other}, me, false},
		{"group-writable", Info{Mode: fs.ModeDir | 0o770, UID: me}, me, false},
		{"group-writable, owner's private group", Info{Mode: fs.ModeDir | 0o775, UID: me, PrivateGroup: true}, me, true},
		{"world-writable, owner's private group", Info{Mode: fs.ModeDir | 0o777, UID: me, PrivateGroup: true}, me, false},
		{"world-writable", Info{Mode: fs.ModeDir | 0o777, UID: me}, me, false},
		{"world-writable sticky", Info{Mode: fs.ModeDir | fs.ModeSticky | 0o777, UID: 0}, 0, false},
		{"root, world-writable", Info{Mode: fs.ModeDir | 0o757, UID: 0}, 0, false},
		{"a file", Info{Mode: 0o600, UID: me}, me, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDataDir("/d", tt.st, tt.euid)
			if (err == nil) != tt.ok {
				t.Fatalf("checkDataDir = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrUnsafe) {
				t.Errorf("error %v does not wrap ErrUnsafe", err)
			}
		})
	}
}

func TestCheckParent(t *testing.T) {
	const me, other, agent = 1000, 2000, 3000
	tests := []struct {
		name            string
		st              Info
		euid, dataOwner uint32
		ok              bool
	}{
		{"root 0755", Info{Mode: fs.ModeDir | 0o755, UID: 0}, me, me, true},
		{"own 0700", Info{Mode: fs.ModeDir | 0o700, UID: me}, me, me, true},
		{"/tmp: root sticky 1777", Info{Mode: fs.ModeDir | fs.ModeSticky | 0o777, UID: 0}, me, me, true},
		{"root run, parent of the agent's user", Info{Mode: fs.ModeDir | 0o755, UID: agent}, 0, agent, true},
		{"foreign owner", Info{Mode: fs.ModeDir | 0o755, UID: other}, me, me, false},
		{"world-writable, not sticky", Info{Mode: fs.ModeDir | 0o777, UID: 0}, me, me, false},
		{"group-writable", Info{Mode: fs.ModeDir | 0o775, UID: 0}, me, me, false},
		{"group-writable, owner's private group", Info{Mode: fs.ModeDir | 0o775, UID: me, PrivateGroup: true}, me, me, true},
		{"sticky but not root's", Info{Mode: fs.ModeDir | fs.ModeSticky | 0o777, UID: me}, me, me, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkParent("/p", "/p/d", tt.st, tt.euid, tt.dataOwner)
			if (err == nil) != tt.ok {
				t.Fatalf("checkParent = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestCheckFile(t *testing.T) {
	const me, other, agent = 1000, 2000, 3000
	tests := []struct {
		name           string
		st             Info
		kind           Kind
		euid, dirOwner uint32
		ok             bool
	}{
		{"own state 0600", Info{Mode: 0o600, UID: me, Nlink: 1}, State, me, me, true},
		{"own state 0644", Info{Mode: 0o644, UID: me, Nlink: 1}, State, me, me, true},
		{"state group-writable", Info{Mode: 0o660, UID: me, Nlink: 1}, State, me, me, false},
		{"state world-writable", Info{Mode: 0o602, UID: me, Nlink: 1}, State, me, me, false},
		{"foreign owner", Info{Mode: 0o600, UID: other, Nlink: 1}, State, me, me, false},
		{"root's file, agent not root", Info{Mode: 0o600, UID: 0, Nlink: 1}, State, me, me, true},
		{"root run, file of the dir's owner", Info{Mode: 0o600, UID: agent, Nlink: 1}, State, 0, agent, true},
		{"root run, file of a third user", Info{Mode: 0o600, UID: other, Nlink: 1}, State, 0, agent, false},
		{"root's file hard-linked into the agent's dir", Info{Mode: 0o600, UID: 0, Nlink: 2}, State, 0, agent, false},
		{"own file with two links", Info{Mode: 0o600, UID: me, Nlink: 2}, State, me, me, true},
		{"FIFO", Info{Mode: fs.ModeNamedPipe | 0o600, UID: me, Nlink: 1}, State, me, me, false},
		{"symlink", Info{Mode: fs.ModeSymlink | 0o777, UID: me, Nlink: 1}, State, me, me, false},
		{"directory", Info{Mode: fs.ModeDir | 0o700, UID: me, Nlink: 2}, State, me, me, false},
		{"secret 0600", Info{Mode: 0o600, UID: me, Nlink: 1}, Secret, me, me, true},
		{"secret 0400", Info{Mode: 0o400, UID: me, Nlink: 1}, Secret, me, me, true},
		{"secret root:group 0640", Info{Mode: 0o640, UID: 0, GID: 50, Nlink: 1}, Secret, me, 0, true},
		{"secret own 0640", Info{Mode: 0o640, UID: me, Nlink: 1}, Secret, me, me, false},
		{"secret root 0644", Info{Mode: 0o644, UID: 0, Nlink: 1}, Secret, me, 0, false},
		{"secret root 0660", Info{Mode: 0o660, UID: 0, Nlink: 1}, Secret, me, 0, false},
		{"secret root 0650", Info{Mode: 0o650, UID: 0, Nlink: 1}, Secret, me, 0, false},
		{"secret of a foreign owner", Info{Mode: 0o600, UID: other, Nlink: 1}, Secret, me, me, false},
		{"root run, secret of the dir's owner", Info{Mode: 0o600, UID: agent, Nlink: 1}, Secret, 0, agent, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkFile("/d/f", tt.st, tt.kind, tt.euid, tt.dirOwner)
			if (err == nil) != tt.ok {
				t.Fatalf("checkFile = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrUnsafe) {
				t.Errorf("error %v does not wrap ErrUnsafe", err)
			}
		})
	}
}

func TestPrivateGroup(t *testing.T) {
	// Root's group is root, named like root: private unless it has other
	// members.
	if u, err := user.LookupId("0"); err != nil || u.Username != "root" || u.Gid != "0" {
		t.Skip("no root:0:0 in the user database")
	}
	for _, tt := range []struct {
		name, group string
		want        bool
	}{
		{"no members", "root:x:0:\n", true},
		{"root alone", "root:x:0:root\n", true},
		{"another member", "root:x:0:alice\n", false},
		{"not listed", "wheel:x:10:\n", false},
		{"another name", "wheel:x:0:\n", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "group")
			if err := os.WriteFile(f, []byte(tt.group), 0o600); err != nil {
				t.Fatal(err)
			}
			old := groupFile
			groupFile = f
			defer func() { groupFile = old }()
			if got := privateGroup(0, 0); got != tt.want {
				t.Errorf("privateGroup(0, 0) with %q = %v, want %v", tt.group, got, tt.want)
			}
		})
	}
}
