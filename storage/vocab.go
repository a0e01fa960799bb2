package storage

// The mirror's vocabulary, in one place: the statuses sync_scopes,
// sync_runs, extract_runs and extract_status record, and the error class
// the mirror itself causes (the Platform API's classes are turso.Class).
const (
	// Scope statuses (sync_scopes), and a pass's too (sync_runs).
	StatusComplete    = "complete"
	StatusFailed      = "failed"
	StatusUnavailable = "unavailable"
	StatusGuarded     = "guarded"
	// StatusPartial is a pass or an extraction run some of whose scopes or
	// databases failed.
	StatusPartial = "partial"
	// StatusSkipped is a pass that did not run (another process held the
	// account's lease), or a database an extraction did not query.
	StatusSkipped = "skipped"
	// StatusOK is an extraction run, or one database of it, that worked.
	StatusOK = "ok"
	// StatusInterrupted is a pass a signal or the daemon's shutdown stopped
	// (sync_runs), and a scope it stopped before the scope was written: such
	// a scope is not recorded in sync_scopes, where its last complete
	// record stands.
	StatusInterrupted = "interrupted"

	// ClassMirror is the error class of a scope the mirror failed.
	ClassMirror = "mirror"
)
