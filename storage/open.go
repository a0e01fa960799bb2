// Package storage is the mirror: it opens it (file:, libsql:, http:),
// migrates it, and performs the reconcile write: diff against live rows,
// upsert, tombstone, change events and run records, all of one org in one
// transaction.
package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/tursodatabase/libsql-client-go/libsql"
	_ "modernc.org/sqlite" // the file: driver libsql-client-go looks for

	"github.com/tursync/tursync/schema"
)

// DefaultBusyTimeout lets the daemon and a `tursync sync` beside it take
// turns on the mirror file.
const DefaultBusyTimeout = 30 * time.Second

// Options configure Open.
type Options struct {
	// AuthToken authenticates to a remote mirror; unused for file: URLs.
	AuthToken string
	// AuthTokenName says where AuthToken came from (the config key and
	// variable), for errors that must not print the token itself.
	AuthTokenName string
	// BusyTimeout is how long a write waits for another writer; default 30s,
	// so a one-shot `tursync sync` and the daemon can share a mirror file
	// while one of them writes a large org.
	BusyTimeout time.Duration
	// Now is the clock stamped on rows; default time.Now.
	Now func() time.Time
	// NoMigrate skips the migration on open (for `migrate --status`).
	NoMigrate bool
	// FileMode is the permission a new mirror file is created with
	// (default 0600: the mirror holds emails); SQLite gives its -wal and
	// -shm files the same. An existing file keeps its own.
	FileMode os.FileMode
}

// Store is an open mirror.
type Store struct {
	db          *sql.DB
	remote      bool
	path        string // the file of a file: mirror, for errors
	now         func() time.Time
	prov        *goose.Provider
	busyTimeout time.Duration

	mu     stdsync.Mutex
	leases map[string]*Lease // accounts whose lease this store holds
	// writeMu serializes this process's writes to the mirror (see
	// commitBatch).
	writeMu stdsync.Mutex
	// grouped are the small commits waiting for the writer, and
	// groupedCommits counts those that went in a group of several
	// (commitGrouped).
	groupMu        stdsync.Mutex
	grouped        []*groupedCommit
	groupedCommits atomic.Int64
	// stmts keeps the staging inserts of large batches compiled.
	stmts stmtCache
	// unwritable is why writes fail until someone acts (WriteHealth).
	unwritable atomic.Pointer[error]
	// ident is the mirror this store opened (CheckIdentity).
	ident identity
}

// Open opens the mirror at rawURL and migrates it to this binary's schema.
func Open(ctx context.Context, rawURL string, o Options) (*Store, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("open mirror: url %q: want file:PATH, libsql://HOST or http(s)://HOST", RedactURL(rawURL))
	}
	s := &Store{now: o.Now, busyTimeout: o.BusyTimeout, leases: map[string]*Lease{}}
	var connector driver.Connector
	dialect := goose.DialectSQLite3
	switch u.Scheme {
	case "file":
		s.path = FilePath(rawURL)
		if connector, err = fileConnector(rawURL, s.path, u.Query().Get("mode"), o); err != nil {
			return nil, err
		}
	case "libsql", "http", "https", "ws", "wss":
		s.remote = true
		dialect = goose.DialectTurso
		var opts []libsql.Option
		if o.AuthToken != "" {
			opts = append(opts, libsql.WithAuthToken(o.AuthToken))
		}
		connector, err = libsql.NewConnector(rawURL, opts...)
		if err != nil {
			return nil, fmt.Errorf("open mirror %s: %w", RedactURL(rawURL), err)
		}
	default:
		return nil, fmt.Errorf("open mirror: unsupported url scheme %q (want file, libsql, http or https)", u.Scheme)
	}
	s.db = sql.OpenDB(connector)
	// One writer at a time is all SQLite allows; readers use their own
	// connections (through WAL on a file, as streams on a server).
	s.db.SetMaxOpenConns(4)
	// Kept open when idle (database/sql keeps 2), so that a busy pass does
	// not close and reopen its connections, each reopening running the
	// connection's pragmas again.
	s.db.SetMaxIdleConns(4)
	// A real query: libsql-client-go's PingContext never reaches a remote
	// server, so a refused token would only surface at the first write.
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		s.db.Close()
		return nil, s.explainWrite(fmt.Errorf("open mirror %s: %w", RedactURL(rawURL), explainOpen(err, o.AuthTokenName, o.AuthToken != "")))
	}
	s.prov, err = goose.NewProvider(dialect, s.db, schema.Migrations())
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open mirror: migrations: %w", err)
	}
	if !o.NoMigrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.db.Close()
			return nil, err
		}
		if err := s.recordIdentity(ctx); err != nil {
			s.db.Close()
			return nil, err
		}
	}
	return s, nil
}

// fileConnector creates the mirror file if it is missing and returns the
// connector of a file: mirror.
func fileConnector(rawURL, path, mode string, o Options) (driver.Connector, error) {
	if path == "" {
		return nil, errors.New("open mirror: file: url has no path")
	}
	if o.FileMode == 0 {
		o.FileMode = 0o600
	}
	created, err := createFile(path, mode, o.FileMode)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			// The directory refuses a new file: the same hint as a
			// read-only mirror file gets.
			return nil, fmt.Errorf("open mirror %s: %w: %w (the mirror file %s cannot be created): check the owner and permissions of its directory %s, "+
				"and that the file system is not mounted read-only", path, err, errMirrorFile, path, filepath.Dir(path))
		}
		return nil, fmt.Errorf("open mirror %s: %w", path, err)
	}
	sep := "?"
	if strings.Contains(rawURL, "?") {
		sep = "&"
	}
	if created {
		// Incremental auto-vacuum lets a pass hand the pages of its
		// removed stage rows back to the file system, so the file does not
		// keep a first pass's worth of free pages. It takes effect only
		// on a new file, and is set once, here: as a pragma of every
		// connection it opened a write transaction, so a reader's new
		// connection waited for the writer (and failed after
		// mirror.busy_timeout).
		if err := initFile(rawURL + sep + "_pragma=auto_vacuum(2)&_pragma=journal_mode(WAL)"); err != nil {
			return nil, fmt.Errorf("open mirror %s: set up the new file: %w", path, err)
		}
	}
	// WAL lets analysts read while a pass writes; IMMEDIATE transactions
	// take the write lock up front instead of failing to upgrade later.
	// A checkpoint every 10,000 WAL pages (40 MiB) instead of SQLite's
	// 1,000 copies a page written by many small commits back once rather
	// than ten times, and syncs the file a tenth as often, while the
	// writer waits (a fleet's first pass of 1,000 small orgs: about 41 s
	// against 42.5 s, run alternately).
	dsn := rawURL + sep + fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(10000)&_txlock=immediate",
		o.BusyTimeout.Milliseconds())
	c, err := libsql.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open mirror %s: %w", path, err)
	}
	return c, nil
}

// FilePath is the file of a file: mirror URL, or "" for a remote one.
func FilePath(rawURL string) string {
	if !strings.HasPrefix(rawURL, "file:") {
		return ""
	}
	return strings.TrimPrefix(strings.SplitN(rawURL, "?", 2)[0], "file:")
}

// createFile creates a missing mirror file with perm (by default readable
// only by its owner, so the mirror's emails and org data are not
// world-readable), whatever the umask, and reports whether it did.
func createFile(path, mode string, perm os.FileMode) (bool, error) {
	if mode == "ro" || mode == "memory" || strings.HasPrefix(path, ":memory:") {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}

// initFile opens one connection with dsn's pragmas and closes it: WAL
// writes the file's first page, and with it the pragmas set before.
func initFile(dsn string) error {
	c, err := libsql.NewConnector(dsn)
	if err != nil {
		return err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	return db.Ping()
}

// RedactURL drops credentials and query parameters from a mirror URL before
// it reaches an error or a log.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

// Migration is one applied or pending migration.
type Migration struct {
	Version int64
	Source  string
	Applied bool
}

// Migrate applies pending migrations and returns those it applied. A mirror
// migrated by a newer tursync is refused rather than written with an older
// idea of its shape.
//
// Daemons sharing a server mirror may start together and race to migrate
// it: goose takes no lock on a libSQL server, so the loser meets a table the
// winner just created ("already exists"), or a column it added ("duplicate
// column name"). It then waits and looks again,
// until the winner is done, for up to a minute.
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) {
	deadline := time.Now().Add(time.Minute)
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		out, err := s.migrate(ctx)
		if err == nil || time.Now().After(deadline) || !(isBusy(err) || raced(err)) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// raced reports an error a migration meets when another process applied
// it first: a table it creates exists, or a column it adds (migration 10)
// is there already.
func raced(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "already exists") || strings.Contains(msg, "duplicate column name")
}

func (s *Store) migrate(ctx context.Context) ([]Migration, error) {
	cur, err := s.prov.GetDBVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate mirror: read version: %w", err)
	}
	if latest := s.latestVersion(); cur > latest {
		return nil, fmt.Errorf("migrate mirror: schema version %d is newer than this tursync knows (%d); upgrade tursync", cur, latest)
	}
	res, err := s.prov.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate mirror: %w", err)
	}
	if err := s.ensureStageTables(ctx); err != nil {
		return nil, fmt.Errorf("migrate mirror: stage tables: %w", err)
	}
	if err := s.ensureDictionary(ctx); err != nil {
		return nil, fmt.Errorf("migrate mirror: %w", err)
	}
	out := make([]Migration, 0, len(res))
	for _, r := range res {
		out = append(out, Migration{Version: r.Source.Version, Source: r.Source.Path, Applied: true})
	}
	return out, nil
}

func (s *Store) latestVersion() int64 {
	srcs := s.prov.ListSources()
	if len(srcs) == 0 {
		return 0
	}
	return srcs[len(srcs)-1].Version
}

// MigrationStatus lists every migration and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]Migration, error) {
	st, err := s.prov.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("mirror migration status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, m := range st {
		out = append(out, Migration{Version: m.Source.Version, Source: m.Source.Path, Applied: m.State == goose.StateApplied})
	}
	return out, nil
}

// Ping checks the mirror answers a query (libsql-client-go's PingContext
// does not reach a remote server).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("mirror does not answer: %w", explainOpen(err, "", true))
	}
	return nil
}

// CheckWritable proves the mirror takes writes: it creates a table in a
// transaction and rolls it back, so nothing is left behind. `check` runs it,
// and the daemon's readiness probe uses its result.
func (s *Store) CheckWritable(ctx context.Context) error {
	const create = `CREATE TABLE IF NOT EXISTS tursync_write_check (x INTEGER)`
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := s.retryBusy(ctx, func() error {
		if s.remote {
			_, err := s.db.ExecContext(ctx, "BEGIN IMMEDIATE;\n"+create+";\nROLLBACK")
			return err
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		_, err = tx.ExecContext(ctx, create)
		return err
	})
	if err != nil {
		return s.explainWrite(fmt.Errorf("mirror write check: %w", err))
	}
	return nil
}

// Remote reports whether the mirror is a libSQL server rather than a file.
func (s *Store) Remote() bool { return s.remote }

// fence returns the lease this store holds on account, if any: every
// commit of the account's rows checks it inside its transaction.
func (s *Store) fence(account string) *Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leases[account]
}

// explainOpen turns a remote mirror's refusal into an error that says what
// to fix, naming where the token comes from but never the token.
func explainOpen(err error, tokenName string, hasToken bool) error {
	msg := err.Error()
	if tokenName == "" {
		tokenName = "mirror.auth_token_env"
	}
	switch {
	case strings.Contains(msg, "error code 401"):
		if !hasToken {
			return fmt.Errorf("mirror refused the connection without a token (HTTP 401): set %s: %w", tokenName, err)
		}
		return fmt.Errorf("mirror refused the token (HTTP 401) from %s: %w", tokenName, err)
	case strings.Contains(msg, "error code 403"):
		return fmt.Errorf("mirror refused the token (HTTP 403) from %s: it may be read-only or for another database: %w", tokenName, err)
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("the server speaks plain HTTP: libsql:// and https:// use TLS, use http://HOST:PORT for a local sqld: %w", err)
	case strings.Contains(msg, "connection refused"):
		return fmt.Errorf("mirror server unreachable: %w", err)
	}
	return err
}

// DB exposes the database for read-only queries (demo summaries, tests).
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the mirror.
func (s *Store) Close() error {
	s.stmts.close()
	return s.db.Close()
}

func (s *Store) ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }
