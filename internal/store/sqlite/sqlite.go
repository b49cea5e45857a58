// Package sqlite is the embedded store: one database file in WAL mode with
// synchronous=FULL, so a commit survives a crash of the process or the
// machine. SQLite has a single writer; every write goes through one
// connection, and concurrent ingest requests share its transactions (group
// commit) so that one fsync acknowledges many webhooks.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/groupcommit"
	"github.com/dispatchd/dispatchd/internal/store/migrate"
	sqlfiles "github.com/dispatchd/dispatchd/sql"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// maxBatch bounds one group commit; past a few hundred rows a transaction
// only adds latency for the first caller in it.
const maxBatch = 256

// Store implements job.Store on a SQLite file.
type Store struct {
	write   *sql.DB // one connection: SQLite's single writer
	read    *sql.DB // readers run beside the writer under WAL
	ws, rs  *stmts  // their prepared statements
	q       *sqlitedb.Queries
	commits *groupcommit.Committer[job.NewEvent, job.Stored]
	// finishes groups the outcomes of concurrent deliveries.
	finishes *groupcommit.Committer[[]job.Finish, []bool]
	signal   job.Signal
}

var _ job.Store = (*Store)(nil)

// Open opens (creating it and its directory if needed) the database file at
// path and applies any pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
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

	s := &Store{write: write, read: read, q: sqlitedb.New(), ws: newStmts(write), rs: newStmts(read)}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, err
	}
	s.commits = groupcommit.New(s.commitEvents, 1, maxBatch)
	s.finishes = groupcommit.New(s.commitFinishes, 1, maxBatch)
	return s, nil
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

func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(sqlfiles.SQLite())
	if err != nil {
		return err
	}
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, m migrate.Migration) error {
	tx, err := s.write.BeginTx(ctx, nil)
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

// Engine names the database for telemetry (db.system.name).
func (s *Store) Engine() string { return "sqlite" }

// StoreEvent implements job.Store.
func (s *Store) StoreEvent(ctx context.Context, e job.NewEvent) (job.Stored, error) {
	st, err := s.commits.Do(ctx, e)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return job.Stored{}, ctxErr
		}
		return job.Stored{}, &job.Error{Code: job.CodeUnavailable, Message: "the store could not commit the event; retry later", Err: err}
	}
	return st, nil
}

// commitEvents writes a batch of events in one transaction. SQLite's single
// writer serialises it with every other write, so checking a delivery id and
// inserting it cannot race.
func (s *Store) commitEvents(ctx context.Context, events []job.NewEvent) ([]job.Stored, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out := make([]job.Stored, len(events))
	for i, e := range events {
		st, err := s.storeOne(ctx, tx, e)
		if err != nil {
			return nil, err
		}
		st.BatchSize = len(events)
		out[i] = st
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	s.ws.preparePending(ctx)
	s.signal.Notify(endpointsOf(events)...)
	return out, nil
}

// endpointsOf lists the endpoints that got jobs, each once.
func endpointsOf(events []job.NewEvent) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range events {
		for _, j := range e.Jobs {
			if !seen[j.Endpoint] {
				seen[j.Endpoint] = true
				out = append(out, j.Endpoint)
			}
		}
	}
	return out
}

func (s *Store) storeOne(ctx context.Context, tx *sql.Tx, e job.NewEvent) (job.Stored, error) {
	headers, err := json.Marshal(e.Event.Headers)
	if err != nil {
		return job.Stored{}, err
	}
	n, err := s.q.InsertEvent(ctx, s.ws.on(tx), sqlitedb.InsertEventParams{
		ID:          e.Event.ID,
		Source:      e.Event.Source,
		DeliveryID:  nullable(e.Event.DeliveryID),
		ContentType: e.Event.ContentType,
		Headers:     string(headers),
		Body:        nonNil(e.Event.Body),
		ReceivedAt:  micros(e.Event.ReceivedAt),
	})
	if err != nil {
		return job.Stored{}, err
	}
	if n == 0 {
		return s.original(ctx, s.ws.on(tx), e.Event)
	}
	st := job.Stored{EventID: e.Event.ID, JobIDs: make([]string, 0, len(e.Jobs))}
	for _, j := range e.Jobs {
		j.EventID, j.Source = e.Event.ID, e.Event.Source
		// A coalesced job answers with the id of the pending job it updated.
		id, err := s.insertJob(ctx, tx, j)
		if err != nil {
			return job.Stored{}, err
		}
		st.JobIDs = append(st.JobIDs, id)
	}
	return st, nil
}

// original returns the event already stored under e's delivery id.
func (s *Store) original(ctx context.Context, db sqlitedb.DBTX, e job.Event) (job.Stored, error) {
	id, err := s.q.GetEventIDByDeliveryID(ctx, db, sqlitedb.GetEventIDByDeliveryIDParams{
		Source: e.Source, DeliveryID: nullable(e.DeliveryID),
	})
	if err != nil {
		return job.Stored{}, fmt.Errorf("look up the original of delivery %q: %w", e.DeliveryID, err)
	}
	jobs, err := s.q.ListJobsByEvent(ctx, db, &id)
	if err != nil {
		return job.Stored{}, err
	}
	st := job.Stored{EventID: id, Duplicate: true, JobIDs: make([]string, 0, len(jobs))}
	for _, j := range jobs {
		st.JobIDs = append(st.JobIDs, j.ID)
	}
	return st, nil
}

// GetEvent implements job.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (job.Event, error) {
	row, err := s.q.GetEvent(ctx, s.rs.on(nil), id)
	if errors.Is(err, sql.ErrNoRows) {
		return job.Event{}, job.Errorf(job.CodeNotFound, "no event %q", id)
	}
	if err != nil {
		return job.Event{}, fmt.Errorf("sqlite: get event: %w", err)
	}
	e := job.Event{
		ID:          row.ID,
		Source:      row.Source,
		ContentType: row.ContentType,
		Body:        row.Body,
		ReceivedAt:  fromMicros(row.ReceivedAt),
	}
	if row.DeliveryID != nil {
		e.DeliveryID = *row.DeliveryID
	}
	if err := json.Unmarshal([]byte(row.Headers), &e.Headers); err != nil {
		return job.Event{}, fmt.Errorf("sqlite: event %s headers: %w", id, err)
	}
	return e, nil
}

// CountEvents implements job.Store.
func (s *Store) CountEvents(ctx context.Context, source string) (int64, error) {
	n, err := s.q.CountEventsBySource(ctx, s.rs.on(nil), source)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count events: %w", err)
	}
	return n, nil
}

// ListJobsByEvent implements job.Store.
func (s *Store) ListJobsByEvent(ctx context.Context, eventID string) ([]job.Job, error) {
	rows, err := s.q.ListJobsByEvent(ctx, s.rs.on(nil), &eventID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
	}
	jobs := make([]job.Job, len(rows))
	for i, r := range rows {
		jobs[i] = toJob(r)
	}
	return jobs, nil
}

// Ping implements job.Store.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.q.Ping(ctx, s.rs.on(nil)); err != nil {
		return &job.Error{Code: job.CodeUnavailable, Message: "the database does not answer", Err: err}
	}
	return nil
}

// Close implements job.Store.
func (s *Store) Close() error {
	s.commits.Close()
	s.finishes.Close()
	s.ws.close()
	s.rs.close()
	return errors.Join(s.read.Close(), s.write.Close())
}

func toJob(r sqlitedb.Job) job.Job {
	return job.Job{
		ID:             r.ID,
		Endpoint:       r.Endpoint,
		EventID:        deref(r.EventID),
		Payload:        r.Payload,
		State:          job.State(r.State),
		Attempts:       int(r.Attempts),
		RunAt:          fromMicros(r.RunAt),
		CreatedAt:      fromMicros(r.CreatedAt),
		UpdatedAt:      fromMicros(r.UpdatedAt),
		CoalesceKey:    deref(r.CoalesceKey),
		OrderingKey:    deref(r.OrderingKey),
		LeaseID:        deref(r.LeaseID),
		LeaseExpiresAt: fromNullMicros(r.LeaseExpiresAt),
		FirstAttemptAt: fromNullMicros(r.FirstAttemptAt),
		FinishedAt:     fromNullMicros(r.FinishedAt),
		LastError:      r.LastError,
		Source:         deref(r.Source),
		IdempotencyKey: deref(r.IdempotencyKey),
		Retry:          retrySpec(r.Retry),
		TraceParent:    r.TraceParent,
	}
}

// retrySpec decodes a job's retry override; a broken one counts as none
// (the endpoint's schedule applies).
func retrySpec(s *string) *job.RetrySpec {
	if s == nil {
		return nil
	}
	var r job.RetrySpec
	if json.Unmarshal([]byte(*s), &r) != nil {
		return nil
	}
	return &r
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

func fromNullMicros(us *int64) time.Time {
	if us == nil {
		return time.Time{}
	}
	return fromMicros(*us)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// nonNil keeps an empty body from becoming NULL in a NOT NULL column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
