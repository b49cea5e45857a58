// Package postgres is the scale-out store: any number of dispatchd processes
// share one PostgreSQL database. Writes from one process share transactions
// (group commit) on a few connections; uniqueness of delivery ids across
// processes is left to the database's unique constraint.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/groupcommit"
	"github.com/dispatchd/dispatchd/internal/store/migrate"
	sqlfiles "github.com/dispatchd/dispatchd/sql"
)

const (
	// commitWorkers is how many group commits run at once; each holds one
	// pool connection while it commits.
	commitWorkers = 4
	maxBatch      = 256
	// migrationLock is the advisory lock key that keeps processes starting
	// together from migrating the same database at once.
	migrationLock = 0x64697370 // "disp"
)

// Store implements job.Store on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	q       *pgdb.Queries
	commits *groupcommit.Committer[job.NewEvent, job.Stored]
	// finishes groups the outcomes of concurrent deliveries.
	finishes *groupcommit.Committer[[]job.Finish, []bool]
	signal   job.Signal
	// stopListen ends the LISTEN loop; listening is closed when it has.
	stopListen context.CancelFunc
	listening  chan struct{}
}

var _ job.Store = (*Store)(nil)

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
// options and applies any pending migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenWith(ctx, url, Options{StatementTimeout: 30 * time.Second})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, o Options) (*Store, error) {
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
	s := &Store{pool: pool, q: pgdb.New()}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	s.commits = groupcommit.New(s.commitEvents, commitWorkers, maxBatch)
	s.finishes = groupcommit.New(s.commitFinishes, commitWorkers, maxBatch)
	lctx, stop := context.WithCancel(context.Background())
	s.stopListen, s.listening = stop, make(chan struct{})
	go s.listen(lctx)
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
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

// Engine names the database for telemetry (db.system.name).
func (s *Store) Engine() string { return "postgresql" }

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

// commitEvents writes a batch in one transaction. Rows are inserted in
// (source, delivery id) order so that two batches racing on the same ids
// lock them in the same order and cannot deadlock.
func (s *Store) commitEvents(ctx context.Context, events []job.NewEvent) ([]job.Stored, error) {
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ea, eb := events[order[a]].Event, events[order[b]].Event
		if ea.Source != eb.Source {
			return ea.Source < eb.Source
		}
		return ea.DeliveryID < eb.DeliveryID
	})

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	out, err := s.storeBatch(ctx, tx, events, order)
	if err != nil {
		return nil, err
	}
	// The notification is sent at commit, to every process listening.
	if endpoints := endpointsOf(events); len(endpoints) > 0 {
		if err := s.q.NotifyJobs(ctx, tx, strings.Join(endpoints, ",")); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
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

// storeBatch inserts the events, then their jobs, each set in one round
// trip (a pipelined batch), in the given order; then it looks up the
// originals of the duplicates.
func (s *Store) storeBatch(ctx context.Context, tx pgx.Tx, events []job.NewEvent, order []int) ([]job.Stored, error) {
	evParams := make([]pgdb.InsertEventsBatchParams, len(order))
	for k, i := range order {
		e := events[i].Event
		headers, err := json.Marshal(e.Headers)
		if err != nil {
			return nil, err
		}
		evParams[k] = pgdb.InsertEventsBatchParams{
			ID:          e.ID,
			Source:      e.Source,
			DeliveryID:  nullable(e.DeliveryID),
			ContentType: e.ContentType,
			Headers:     headers,
			Body:        nonNil(e.Body),
			ReceivedAt:  e.ReceivedAt,
		}
	}
	inserted := make([]bool, len(events))
	var batchErr error
	evs := s.q.InsertEventsBatch(ctx, tx, evParams)
	evs.QueryRow(func(k int, _ string, err error) {
		switch {
		case err == nil:
			inserted[order[k]] = true
		case errors.Is(err, pgx.ErrNoRows): // the delivery id is stored already
		case batchErr == nil:
			batchErr = err
		}
	})
	if err := errors.Join(batchErr, evs.Close()); err != nil {
		return nil, err
	}

	out := make([]job.Stored, len(events))
	var jobParams []pgdb.InsertJobsBatchParams
	var owner []int // event index of each job
	for _, i := range order {
		e := events[i]
		if !inserted[i] {
			continue
		}
		out[i] = job.Stored{EventID: e.Event.ID, JobIDs: make([]string, 0, len(e.Jobs)), BatchSize: len(events)}
		for _, j := range e.Jobs {
			j.EventID, j.Source = e.Event.ID, e.Event.Source
			p, err := jobParamsOf(j)
			if err != nil {
				return nil, err
			}
			jobParams = append(jobParams, pgdb.InsertJobsBatchParams(p))
			owner = append(owner, i)
		}
	}
	if len(jobParams) > 0 {
		jobs := s.q.InsertJobsBatch(ctx, tx, jobParams)
		jobs.QueryRow(func(k int, id string, err error) {
			if err != nil {
				if batchErr == nil {
					batchErr = err
				}
				return
			}
			// A coalesced job answers with the id of the pending job it
			// updated.
			out[owner[k]].JobIDs = append(out[owner[k]].JobIDs, id)
		})
		if err := errors.Join(batchErr, jobs.Close()); err != nil {
			return nil, err
		}
	}
	for _, i := range order {
		if inserted[i] {
			continue
		}
		st, err := s.original(ctx, tx, events[i].Event)
		if err != nil {
			return nil, err
		}
		st.BatchSize = len(events)
		out[i] = st
	}
	return out, nil
}

// original returns the event already stored under e's delivery id. Under
// READ COMMITTED each statement sees rows committed before it started, so
// the row that made the insert conflict is visible here.
func (s *Store) original(ctx context.Context, db pgdb.DBTX, e job.Event) (job.Stored, error) {
	id, err := s.q.GetEventIDByDeliveryID(ctx, db, pgdb.GetEventIDByDeliveryIDParams{
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
	row, err := s.q.GetEvent(ctx, s.pool, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return job.Event{}, job.Errorf(job.CodeNotFound, "no event %q", id)
	}
	if err != nil {
		return job.Event{}, fmt.Errorf("postgres: get event: %w", err)
	}
	e := job.Event{
		ID:          row.ID,
		Source:      row.Source,
		ContentType: row.ContentType,
		Body:        row.Body,
		ReceivedAt:  row.ReceivedAt.UTC(),
	}
	if row.DeliveryID != nil {
		e.DeliveryID = *row.DeliveryID
	}
	if err := json.Unmarshal(row.Headers, &e.Headers); err != nil {
		return job.Event{}, fmt.Errorf("postgres: event %s headers: %w", id, err)
	}
	return e, nil
}

// CountEvents implements job.Store.
func (s *Store) CountEvents(ctx context.Context, source string) (int64, error) {
	n, err := s.q.CountEventsBySource(ctx, s.pool, source)
	if err != nil {
		return 0, fmt.Errorf("postgres: count events: %w", err)
	}
	return n, nil
}

// ListJobsByEvent implements job.Store.
func (s *Store) ListJobsByEvent(ctx context.Context, eventID string) ([]job.Job, error) {
	rows, err := s.q.ListJobsByEvent(ctx, s.pool, &eventID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list jobs: %w", err)
	}
	jobs := make([]job.Job, len(rows))
	for i, r := range rows {
		jobs[i] = toJob(r)
	}
	return jobs, nil
}

// Ping implements job.Store.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.q.Ping(ctx, s.pool); err != nil {
		return &job.Error{Code: job.CodeUnavailable, Message: "the database does not answer", Err: err}
	}
	return nil
}

// Close implements job.Store.
func (s *Store) Close() error {
	s.commits.Close()
	s.finishes.Close()
	s.stopListen()
	<-s.listening
	s.pool.Close()
	return nil
}

func toJob(r pgdb.Job) job.Job {
	return job.Job{
		ID:             r.ID,
		Endpoint:       r.Endpoint,
		EventID:        deref(r.EventID),
		Payload:        r.Payload,
		State:          job.State(r.State),
		Attempts:       int(r.Attempts),
		RunAt:          r.RunAt.UTC(),
		CreatedAt:      r.CreatedAt.UTC(),
		UpdatedAt:      r.UpdatedAt.UTC(),
		CoalesceKey:    deref(r.CoalesceKey),
		OrderingKey:    deref(r.OrderingKey),
		LeaseID:        deref(r.LeaseID),
		LeaseExpiresAt: derefTime(r.LeaseExpiresAt),
		FirstAttemptAt: derefTime(r.FirstAttemptAt),
		FinishedAt:     derefTime(r.FinishedAt),
		LastError:      r.LastError,
		Source:         deref(r.Source),
		IdempotencyKey: deref(r.IdempotencyKey),
		Retry:          retrySpec(r.Retry),
		TraceParent:    r.TraceParent,
	}
}

// retrySpec decodes a job's retry override; a broken one counts as none
// (the endpoint's schedule applies).
func retrySpec(b []byte) *job.RetrySpec {
	if b == nil {
		return nil
	}
	var r job.RetrySpec
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return &r
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// nonNil keeps an empty body from becoming NULL in a NOT NULL column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
