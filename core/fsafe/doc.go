// Package fsafe opens the agent's own files (data_dir and what it holds:
// outbox.db, state.db, tokens/, token.key) in a way that a planted link, a
// FIFO or a careless chmod cannot turn against it.
//
// # The rules (what sshd's StrictModes does, adapted)
//
// The trusted owners of a file are root, the user the process runs as
// (its effective uid) and, when the process runs as root, the owner of the
// directory that holds the file: root running `tocsin oauth login` or
// `tocsin outbox retry` in a data_dir that belongs to the agent's user
// works on that user's files.
//
// data_dir itself must be a directory owned by the process's user or by
// root (any owner when the process is root), and writable by nobody else:
// no group or other write bit. Every parent of data_dir up to / must be
// owned by root, the process's user or data_dir's owner, and must not be
// writable by group or others, unless it is a sticky directory owned by
// root (such as /tmp), where others may create names but not replace
// ours. data_dir may itself be a link (the operator's choice): the parents
// of the link and those of its target are checked. A directory's group
// write bit is accepted when the group is its owner's private group (named
// like the owner, the owner's primary group, no other member in
// /etc/group), as distributions with user private groups and umask 002
// create directories; Debian's sshd does the same. A directory that fails
// is refused with an error that says which chmod or chown fixes it.
//
// A file is opened with O_NOFOLLOW (a symbolic link is refused, never
// followed) and O_NONBLOCK (a FIFO cannot hang the open), then checked on
// the open descriptor: it must be a regular file of a trusted owner that
// group and others cannot write. A secret (a token, the token key) must
// also be unreadable by others; its group may read it only when root owns
// it (root:tocsin 0640, the usual Debian way for a secret under
// /etc/tocsin). A file of another owner than its directory's that has
// several hard links is refused: it may be a system file linked in.
//
// # Files written by root
//
// When the process runs as root and opens a file for writing, or creates
// a file or directory, in a directory that belongs to another user, the
// file is given to that user and the directory's group (see [Adopt]), so
// that the agent, running as that user, can still read what a root CLI
// wrote.
//
// On systems without Unix file ownership the checks are skipped and files
// are opened plainly.
package fsafe
