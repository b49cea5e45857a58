// Package sqlite is the embedded engine: one database file in WAL mode with
// synchronous=FULL, so a commit survives a crash of the process or the
// machine (claims aside: see BeginUnsynced). SQLite has a single writer;
// every write goes through one connection, and concurrent requests share
// its transactions (the group commits of package store) so that one fsync
// acknowledges many webhooks. A group commit's fsync runs beside the
// writer's next batch instead of in front of it (walSyncer), and its
// callers are answered after it.
//
// The package is a driver of package store: connections, the statement
// cache, migrations and the sqlc adapters. The rules live in store.
package sqlite

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
	"github.com/dispatchd/dispatchd/internal/store/migrate"
	sqlfiles "github.com/dispatchd/dispatchd/sql"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// driver implements store.Driver on a SQLite file.
type driver struct {
	write  *sql.DB // one connection: SQLite's single writer
	read   *sql.DB // readers run beside the writer under WAL
	ws, rs *stmts  // their prepared statements
	q      *sqlitedb.Queries
	signal job.Signal
	wal    *walSyncer // flushes the group commits' log writes
}

var _ store.Driver = (*driver)(nil)

// Open opens (creating it and its directory if needed) the database file at
// path, applies any pending migrations, and returns the store on it.
func Open(ctx context.Context, path string, opts ...store.Option) (*store.Store, error) {
	d, err := OpenDriver(ctx, path)
	if err != nil {
		return nil, err
	}
	return store.New(d, opts...), nil
}

// OpenDriver is Open without the store: the driver alone, for the driver
// conformance suite.
func OpenDriver(ctx context.Context, path string) (store.Driver, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
		}
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	write, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	read.SetMaxOpenConns(8)

	d := &driver{write: write, read: read, q: sqlitedb.New(), ws: newStmts(write), rs: newStmts(read), wal: newWALSyncer(path)}
	if err := d.migrate(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, err
	}
	return d, nil
}

// dsn builds a modernc.org/sqlite data source name. _txlock=immediate takes
// the write lock at BEGIN, so a transaction never fails half-way on a lock
// upgrade.
func dsn(path string, readOnly bool) string {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "journal_mode(WAL)")
	v.Add("_pragma", "synchronous(FULL)")
	v.Add("_pragma", "foreign_keys(ON)")
	// Statement journals in memory: in a transaction of many statements,
	// each insert into a table with unique indexes keeps the pages it
	// changes in a statement journal (to undo that statement alone), and
	// on disk that was a temporary file written page by page, about a third
	// of a group commit's time (profiled). It lasts one statement and holds
	// the pages that statement changes: the store's transactions are made
	// of statements on a few rows each, and its statements on many rows
	// (prune batches, replays) run outside a transaction, with no journal.
	v.Add("_pragma", "temp_store(MEMORY)")
	// A 64 MiB page cache and memory-mapped reads: the hot pages (the ready
	// index, recent jobs) stay in memory instead of costing a pread each.
	v.Add("_pragma", "cache_size(-65536)")
	v.Add("_pragma", "mmap_size(268435456)")
	if readOnly {
		v.Add("_pragma", "query_only(ON)")
	} else {
		v.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + v.Encode()
}

func (d *driver) migrate(ctx context.Context) error {
	ms, err := migrate.Load(sqlfiles.SQLite())
	if err != nil {
		return err
	}
	if _, err := d.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := d.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func (d *driver) applyMigration(ctx context.Context, m migrate.Migration) error {
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// Engine implements store.Driver.
func (d *driver) Engine() string { return "sqlite" }

// CommitWorkers implements store.Driver: one, the single writer.
func (d *driver) CommitWorkers() int { return 1 }

// Reader implements store.Driver.
func (d *driver) Reader() store.Executor {
	return &executor{q: d.q, db: d.rs.on(nil), notify: d.signal.Notify}
}

// Writer implements store.Driver.
func (d *driver) Writer() store.Executor {
	return &executor{q: d.q, db: d.ws.on(nil), notify: d.signal.Notify}
}

// Begin implements store.Driver.
func (d *driver) Begin(ctx context.Context) (store.Tx, error) {
	if err := d.wal.err(); err != nil {
		return nil, err
	}
	sqlTx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return d.newTx(sqlTx, nil), nil
}

// newTx wraps a write transaction; unsynced is the connection a
// BeginUnsynced transaction holds, nil for Begin's.
func (d *driver) newTx(sqlTx *sql.Tx, unsynced *sql.Conn) *tx {
	t := &tx{d: d, tx: sqlTx, unsynced: unsynced}
	t.executor = executor{q: d.q, db: d.ws.on(sqlTx), notify: func(eps ...string) { t.woken = append(t.woken, eps...) }}
	return t
}

// BeginUnsynced implements store.Driver: the writer's connection runs the
// transaction with synchronous=NORMAL (in WAL mode the commit is written
// to the log but not flushed), and is set back to FULL before anything
// else can use it.
func (d *driver) BeginUnsynced(ctx context.Context) (store.Tx, error) {
	t, err := d.beginUnsynced(ctx)
	if err != nil {
		return nil, err // not a nil *tx in a non-nil interface
	}
	return t, nil
}

// BeginGroup implements store.Driver: an unsynced transaction whose
// durable waits for the log's fsync to cover it (see walSyncer).
func (d *driver) BeginGroup(ctx context.Context) (store.Tx, func(context.Context) error, error) {
	t, err := d.beginUnsynced(ctx)
	if err != nil {
		return nil, nil, err
	}
	t.group = true
	return t, func(ctx context.Context) error { return d.wal.wait(ctx, t.seq) }, nil
}

func (d *driver) beginUnsynced(ctx context.Context) (*tx, error) {
	if err := d.wal.err(); err != nil {
		return nil, err
	}
	conn, err := d.write.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		releaseSynced(conn)
		return nil, err
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		releaseSynced(conn)
		return nil, err
	}
	t := d.newTx(sqlTx, conn)
	// Every group commit this transaction can read is counted by now (the
	// writer's connection is taken after each one counts itself).
	t.after = d.wal.written()
	return t, nil
}

// releaseSynced sets the writer's connection back to synchronous=FULL and
// returns it to the pool; if that fails the connection is closed instead,
// so that no later commit can run unsynced on it by mistake.
func releaseSynced(conn *sql.Conn) {
	if _, err := conn.ExecContext(context.Background(), "PRAGMA synchronous = FULL"); err != nil {
		_ = conn.Raw(func(any) error { return sqldriver.ErrBadConn })
	}
	conn.Close()
}

// tx is a write transaction; its wake-ups go out after the commit.
type tx struct {
	executor
	d     *driver
	tx    *sql.Tx
	woken []string
	// unsynced is the connection a BeginUnsynced transaction holds, nil
	// for Begin's.
	unsynced *sql.Conn
	// group marks BeginGroup's transaction; seq is its number in the
	// log's flushes, set by Commit.
	group bool
	seq   uint64
	// after is the last group commit an unsynced transaction could read.
	// A claim's Commit returns once that one is flushed, so that no job is
	// delivered from a webhook that a crash of the machine could still
	// take back (its provider, never answered, would send it again, and
	// the receiver would get it twice under two webhook-ids).
	after uint64
}

// Commit implements store.Tx.
func (t *tx) Commit(ctx context.Context) error {
	err := t.tx.Commit()
	if err == nil && t.group {
		t.seq = t.d.wal.wrote()
	}
	t.release()
	if err != nil {
		return err
	}
	t.d.ws.preparePending(ctx)
	if !t.group && t.after > 0 {
		if err := t.d.wal.wait(ctx, t.after); err != nil {
			return err
		}
	}
	t.d.signal.Notify(t.woken...)
	return nil
}

// Rollback implements store.Tx.
func (t *tx) Rollback(context.Context) error {
	err := t.tx.Rollback()
	t.release()
	if err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// release gives an unsynced transaction's connection back, once.
func (t *tx) release() {
	if t.unsynced != nil {
		releaseSynced(t.unsynced)
		t.unsynced = nil
	}
}

// Subscribe implements store.Driver: SQLite has one process, so its
// in-process signal is every wake-up there is.
func (d *driver) Subscribe(endpoint string) (<-chan struct{}, func()) {
	return d.signal.Subscribe(endpoint)
}

// Exclusive implements store.Driver. SQLite has one process: it always
// runs, and needs no vacuum (deleted pages are reused).
func (d *driver) Exclusive(ctx context.Context, fn func(store.Executor) error) (bool, bool, error) {
	return true, false, fn(d.Writer())
}

// IdempotencyRace implements store.Driver: the single writer serialises
// dispatches, so there is no race to lose.
func (d *driver) IdempotencyRace(error) bool { return false }

// Close implements store.Driver.
func (d *driver) Close() error {
	d.ws.close()
	d.rs.close()
	err := errors.Join(d.read.Close(), d.write.Close())
	d.wal.close()
	return err
}
