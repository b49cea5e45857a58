// Package postgres is the scale-out engine: any number of dispatchd
// processes share one PostgreSQL database. Writes from one process share
// transactions (the group commits of package store) on a few connections;
// uniqueness of delivery ids across processes is left to the database's
// unique constraint.
//
// The package is a driver of package store: the pool, migrations under an
// advisory lock, the sqlc adapters with pipelined batches, LISTEN/NOTIFY
// wake-ups across processes, the pruning lock and vacuum upkeep. The rules
// live in store.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
	"github.com/dispatchd/dispatchd/internal/store/migrate"
	sqlfiles "github.com/dispatchd/dispatchd/sql"
)

const (
	// commitWorkers is how many group commits run at once; each holds one
	// pool connection while it commits.
	commitWorkers = 4
	// migrationLock is the advisory lock key that keeps processes starting
	// together from migrating the same database at once.
	migrationLock = 0x64697370 // "disp"
)

// driver implements store.Driver on PostgreSQL.
type driver struct {
	pool   *pgxpool.Pool
	q      *pgdb.Queries
	signal job.Signal
	// stopListen ends the LISTEN loop; listening is closed when it has.
	stopListen context.CancelFunc
	listening  chan struct{}
}

var _ store.Driver = (*driver)(nil)

// Options tune the connection pool.
type Options struct {
	// MaxConns sizes the pool; 0 means 4 + 2 per CPU, at least 12 (the
	// commit workers hold up to 4, the LISTEN loop 1, claims and API the
	// rest).
	MaxConns int
	// StatementTimeout is set as statement_timeout on every connection, so
	// that a stuck query fails instead of holding a connection forever.
	StatementTimeout time.Duration
}

// Open connects to the database at url (postgres://…) with default
// options, applies any pending migrations and returns the store on it.
func Open(ctx context.Context, url string) (*store.Store, error) {
	return OpenWith(ctx, url, Options{StatementTimeout: 30 * time.Second})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, o Options, opts ...store.Option) (*store.Store, error) {
	d, err := OpenDriver(ctx, url, o)
	if err != nil {
		return nil, err
	}
	return store.New(d, opts...), nil
}

// OpenDriver is OpenWith without the store: the driver alone, for the
// driver conformance suite.
func OpenDriver(ctx context.Context, url string, o Options) (store.Driver, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = int32(o.MaxConns)
	default:
		cfg.MaxConns = int32(max(12, 4+2*runtime.NumCPU()))
	}
	if cfg.MaxConns < commitWorkers+2 {
		cfg.MaxConns = commitWorkers + 2
	}
	if o.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	d := &driver{pool: pool, q: pgdb.New()}
	if err := d.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	d.stopListen, d.listening = stop, make(chan struct{})
	go d.listen(lctx)
	return d, nil
}

func (s *driver) migrate(ctx context.Context) error {
	ms, err := migrate.Load(sqlfiles.Postgres())
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER     NOT NULL PRIMARY KEY,
		name       TEXT        NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		if done {
			continue
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.Name, err)
		}
	}
	return tx.Commit(ctx)
}

// Engine implements store.Driver.
func (s *driver) Engine() string { return "postgresql" }

// CommitWorkers implements store.Driver.
func (s *driver) CommitWorkers() int { return commitWorkers }

// Reader implements store.Driver.
func (s *driver) Reader() store.Executor { return &executor{q: s.q, db: s.pool} }

// Writer implements store.Driver.
func (s *driver) Writer() store.Executor { return &executor{q: s.q, db: s.pool} }

// Begin implements store.Driver.
func (s *driver) Begin(ctx context.Context) (store.Tx, error) {
	return s.begin(ctx, pgx.TxOptions{})
}

// BeginUnsynced implements store.Driver: the commit does not wait for the
// WAL flush, which the WAL writer does within a fraction of a second.
// The setting travels with BEGIN, in the same round trip.
func (s *driver) BeginUnsynced(ctx context.Context) (store.Tx, error) {
	return s.begin(ctx, pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"})
}

// BeginGroup implements store.Driver: a transaction like Begin's, whose
// commit waits for its flush. Several group commits run at once instead
// (CommitWorkers).
func (s *driver) BeginGroup(ctx context.Context) (store.Tx, func(context.Context) error, error) {
	t, err := s.Begin(ctx)
	return t, nil, err
}

func (s *driver) begin(ctx context.Context, o pgx.TxOptions) (store.Tx, error) {
	t, err := s.pool.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return &tx{executor: executor{q: s.q, db: t}, tx: t}, nil
}

// tx is a transaction; a NOTIFY in it is sent at commit.
type tx struct {
	executor
	tx pgx.Tx
}

// Commit implements store.Tx.
func (t *tx) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// Rollback implements store.Tx.
func (t *tx) Rollback(ctx context.Context) error {
	if err := t.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// IdempotencyRace implements store.Driver.
func (s *driver) IdempotencyRace(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "jobs_idempotency_key"
}

// Close implements store.Driver.
func (s *driver) Close() error {
	s.stopListen()
	<-s.listening
	s.pool.Close()
	return nil
}

// Subscribe implements store.Driver: the LISTEN loop relays every
// process's notifications to this process's subscribers.
func (s *driver) Subscribe(endpoint string) (<-chan struct{}, func()) {
	return s.signal.Subscribe(endpoint)
}

// listen relays the notifications of every process's commits to this
// process's subscribers. It holds one connection for LISTEN and reconnects
// after a failure; while it is down, the workers' fallback poll covers.
func (s *driver) listen(ctx context.Context) {
	defer close(s.listening)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		_ = err // the connection broke; try again after a pause
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *driver) listenOnce(ctx context.Context) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that has run LISTEN must not go back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if err := s.q.ListenJobs(ctx, conn); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload != "" {
			s.signal.Notify(strings.Split(n.Payload, ",")...)
		}
	}
}

// Exclusive implements store.Driver. One process prunes at a time: the
// others find the advisory lock taken and skip.
func (s *driver) Exclusive(ctx context.Context, fn func(store.Executor) error) (ran, vacuumed bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, false, fmt.Errorf("postgres: prune: %w", err)
	}
	defer conn.Release()
	got, err := s.q.TryPruneLock(ctx, conn)
	if err != nil || !got {
		return false, false, err
	}
	defer s.q.PruneUnlock(context.WithoutCancel(ctx), conn)

	// Deleted and updated rows leave dead tuples that only a vacuum makes
	// reusable, and the planner needs fresh statistics as the queue grows
	// and shrinks. Autovacuum does both; where it is off (some CI and
	// benchmark set-ups turn it off, and it is easy to leave so), the
	// pruner does it, before it deletes: the deletes are planned with the
	// statistics, and a failing delete must not stop the upkeep.
	vacuumed, err = s.maintain(ctx, conn.Conn())
	if err != nil {
		return true, false, err
	}
	return true, vacuumed, fn(&executor{q: s.q, db: conn})
}

// maintain vacuums and analyzes the tables that churn when autovacuum is
// off and they changed enough to need it (the thresholds autovacuum uses).
// It reports whether it vacuumed.
func (s *driver) maintain(ctx context.Context, conn *pgx.Conn) (bool, error) {
	on, err := s.q.AutovacuumOn(ctx, conn)
	if err != nil {
		return false, fmt.Errorf("postgres: autovacuum setting: %w", err)
	}
	if on {
		return false, nil
	}
	needed, err := s.q.QueueNeedsVacuum(ctx, conn)
	if err != nil || !needed {
		return false, err
	}
	return true, s.vacuum(ctx, conn)
}

// vacuum vacuums the tables that churn, without the statement timeout (the
// first vacuum of a large table may take longer).
func (s *driver) vacuum(ctx context.Context, conn *pgx.Conn) error {
	if err := s.q.LiftStatementTimeout(ctx, conn); err != nil {
		return fmt.Errorf("postgres: vacuum: %w", err)
	}
	defer s.q.ResetStatementTimeout(context.WithoutCancel(ctx), conn)
	if err := s.q.VacuumQueue(ctx, conn); err != nil {
		return fmt.Errorf("postgres: vacuum: %w", err)
	}
	return nil
}
