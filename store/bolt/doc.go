// Package bolt keeps the daemon's state in one bbolt file, maskservice.db, in the data
// directory: the history log of readings (HistoryWriter, a service on the event bus, with its
// retention), alerts, users, sessions and the audit trail, with hot backups (BackupSchedule
// keeps dated copies), verification and compaction. It implements the domain's AlertStore,
// UserStore, SessionStore, AuditLog and HistoryLog: one file, one lock, one backup.
//
// # Layout
//
// Top-level buckets, one per kind of record. Keys are chosen so that bbolt's byte order is the
// order the daemon reads them in.
//
// Built now:
//
//	meta      schema_version: uint32 big-endian; created: RFC 3339 UTC, when the file was made;
//	          history_segment: how far the history segment is moved into the file (segment.go);
//	          panel_recent_users: JSON {"v":1,"users":[names]}, who last signed in on the
//	          panel, most recent first (users.go; a key of meta, so no migration)
//	users     username -> user record (JSON with "v"), so a scan is ordered by name
//	sessions  session id -> session record (JSON with "v")
//	history   (schema 2) one nested bucket per sensor id; key: the chunk's first reading's
//	          time as Unix nanoseconds with the sign bit flipped, uint64 big-endian (time
//	          order, also before 1970); value: a chunk of up to 256 readings in the format of
//	          package store/chunk (versioned by its first byte). A time range is one Seek and a
//	          walk; retention deletes from the front. The newest readings are in the history
//	          segment instead (below) until a checkpoint moves them here; a chunk still open
//	          then is written again at the next checkpoint under the same key.
//	alerts    (schema 3) key: uint64 big-endian from NextSequence (creation order); value:
//	          alert record
//	audit     (schema 3) key: 16 bytes, the entry's time as Unix nanoseconds with the sign
//	          bit flipped, uint64 big-endian (as in history), then its sequence from the
//	          bucket's NextSequence, uint64 big-endian; value: JSON {"v":1, "time" (RFC 3339
//	          UTC), "action", "username", "role", "source", "details"} (empty ones omitted).
//	          The log reads newest first with Last/Prev or a Seek to a time, and is trimmed
//	          from the front
//
// Buckets that later issues add, each through its own migration:
//
//	settings  key: setting name (config, calibration per sensor); value: versioned record
//	uplink    key: uplink name; value: the history/alert/audit key last confirmed upstream
//
// Each record value carries its format version (a "v" field in JSON, a leading byte in binary
// values), so that a migration can find and rewrite the records of an older format.
//
// Beside the file, maskservice.seg (SegmentFileName) is the history segment: a file of fixed
// size to which each commit of the history appends the readings since the previous one, as
// a checksummed record of whole 4 KiB pages. A checkpoint (every few minutes, before a
// backup, at the writer's stop) moves them into the history buckets; Open moves what a crash
// left there. See segment.go for the format and HistoryWriter for the rules.
//
// # Durability
//
// Every write is one bbolt transaction, committed with fdatasync (NoSync is never set)
// before the method returns: what a method has answered survives a power cut, and a power cut
// loses only writes that were not yet answered. bbolt writes copy-on-write pages and switches
// its meta page last, so a cut in the middle of a commit leaves the file as it was before that
// transaction; nothing half-written is ever read back. The history's commits are the one
// exception to "one bbolt transaction": they are an append to the segment, fdatasynced before
// Commit returns; a cut tears at most the record being written, which Open recognises by its
// checksum and drops, and a record is only ever written over pages whose readings are in the
// file already. The SD card sees one page per commit instead of some 50 KB.
//
// # Migrations
//
// Open runs, in order, every migration newer than the file's schema version, each in its own
// write transaction that also records the new version, so a crash between two migrations
// resumes at the next one. A file written by a newer binary is refused rather than guessed at;
// a bbolt file with buckets but no meta bucket belongs to another program and is refused too.
package bolt
