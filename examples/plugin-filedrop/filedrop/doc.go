// Package filedrop is a Tocsin transport that delivers each message as an
// RFC 5322 file (.eml) in a directory, instead of talking to a mail server.
//
// The directory can be the pickup directory of another mail system (a
// Postfix or Exchange pickup folder, a script that feeds sendmail), or the
// outbox of an air-gapped appliance, from which someone carries the files
// to a connected host.
//
// # Settings
//
//	transport "outbox" {
//	  plugin = "filedrop"
//	  from   = "alerts@appliance.example"
//	  config {
//	    directory        = "/var/spool/tocsin/outbox" # required, absolute
//	    file_mode        = "0640"                     # octal, default "0640"
//	    create_directory = true                       # default false
//	  }
//	}
//
// directory must be an absolute path. When it does not exist, Configure
// reports an error unless create_directory is true, in which case it is
// created (and created again before each delivery if it has gone), with the
// permissions of file_mode plus search (x) wherever file_mode grants read,
// and always rwx for the owner: "0640" gives a 0750 directory. Configure
// also proves the directory is writable by creating and removing a file.
//
// file_mode is the mode of every file written, as an octal string. It may
// not grant write to others (anyone on the host could then alter an alert
// before it is picked up) nor set the setuid, setgid or sticky bits.
//
// # Files
//
// Each message is written as <unix-nanoseconds>-<message-id>.eml, where the
// message ID keeps only letters, digits and . _ - + = @ (anything else
// becomes _). Files appear atomically: the message is written to a hidden
// temporary file (.tocsin-*.tmp) in the same directory, synced to disk,
// given file_mode and renamed into place, so a pickup process never sees
// half a message, and should skip names starting with a dot. The bytes are
// those of sdk.Message.Bytes: the MIME is the SDK's, never written by hand.
//
// # Errors
//
// A failed write is an *sdk.DeliveryError with a remedy. Permission denied
// and a read-only file system are permanent: nothing changes until someone
// fixes the directory. A full disk, an exhausted quota and a missing
// directory are temporary: the agent retries while the operator frees
// space or mounts the file system.
package filedrop
