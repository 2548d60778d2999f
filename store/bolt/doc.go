// Package bolt keeps the daemon's state in one bbolt file, maskservice.db, in the data
// directory. It implements the domain's UserStore and SessionStore.
//
// # Layout
//
// Top-level buckets, one per kind of record:
//
//	meta      schema_version (uint32, big-endian), created (RFC 3339)
//	users     username -> user record (JSON, with a record version "v")
//	sessions  session id -> session record (JSON, with "v")
//
// Later parts of the daemon add their own buckets beside these, each through a migration:
// history (per-sensor chunks keyed by sensor and start time), alerts, audit (keyed by time),
// settings, calibration and uplink cursors.
//
// # Durability
//
// Every write is one bbolt transaction that is committed, and so fsynced, before the method
// returns: what a method has answered survives a power cut. bbolt writes copy-on-write pages
// and switches the meta page last, so a power cut in the middle of a commit leaves the file
// as it was before that transaction; nothing half-written is ever read back.
//
// # Migrations
//
// Open runs, in order, every migration newer than the file's schema version, each in its own
// write transaction that also records the new version, so a crash between two migrations
// resumes at the next one. A file written by a newer binary is refused rather than guessed at.
package bolt
