// Package tokenstore keeps the OAuth refresh tokens that `tocsin oauth login`
// obtains, encrypted, under the agent's data_dir.
//
// A [Store] is a directory holding one file per transport, NAME.token, mode
// 0600, in a directory of mode 0700 that the first write creates. Each file is a small JSON envelope
//
//	{"version":1,"nonce":"<base64>","ciphertext":"<base64>"}
//
// whose ciphertext is the AES-256-GCM sealing of the JSON encoding of an
// [Entry], under a fresh random 96-bit nonce per write, with the transport
// name as additional data: a file copied or renamed to another transport's
// name does not decrypt. The version lets the format evolve; a reader
// refuses versions it does not know.
//
// The 256-bit [Key] lives in a file or in an environment variable that the
// agent block names ([KeySource], [LoadKey]). Only a command that stores a
// login creates a missing key file ([LoadOrCreateKey], [OpenForLogin]);
// everything else reports it missing ([ErrNoKey]), since a new key cannot
// decrypt the tokens stored before.
//
// Files are opened without following links and without blocking, and
// checked for their type, owner and mode (package fsafe): a FIFO or a link
// planted at NAME.token is refused, not read. Run as root in a directory
// of another user (the agent's data_dir), the store gives the files it
// writes to that user.
//
// The login command calls [Store.Put]; the agent reads the token with
// [Store.Get] when it configures a transport and stores the replacement a
// plugin reports with [Store.CompareAndRotate] (so that a rotation from an
// old grant never overwrites a newer login); `tocsin oauth status` calls
// [Store.List], which returns no secret.
//
// Writes are atomic across processes (temporary file, fsync, rename, fsync
// of the directory), so the agent never reads a half-written file while the
// login command stores a token, and a crash leaves the old or the new file,
// never a mix. Within a process a Store serialises its writes.
//
// No error, fmt output or JSON encoding of this package's types holds a
// refresh token or key bytes: [Entry] and [Key] print redacted, [Status] has
// no secret.
package tokenstore
