package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, as dispatchd uses

	"github.com/dispatchd/dispatchd/internal/job"
)

// The generated pending jobs carry this source, so that each round can put
// them back to pending; the completed ones carry the source they would
// have (bench), like the jobs ingestion makes.
const pendingSource = "bench-backlog"

// fillStore writes completed and pending jobs, each with its event, into
// the SQLite file dispatchd migrated at path: what a store looks like after
// a long life. The completed jobs spread over the last 30 days; the
// pending ones are all due. Attempts are not written (neither claims nor
// ingestion read them). The writes skip fsync: only the content matters.
func fillStore(ctx context.Context, path string, completed, pending int, body []byte) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	now := time.Now()
	const batch = 20000
	for start := 0; start < completed+pending; start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fillBatch(ctx, db, start, min(start+batch, completed+pending), completed, now, body); err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "ANALYZE")
	return err
}

// fillBatch writes jobs from to to-1: the first completed of all are
// completed, the rest pending.
func fillBatch(ctx context.Context, db *sql.DB, from, to, completed int, now time.Time, body []byte) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	event, err := tx.PrepareContext(ctx, `INSERT INTO events (id, source, delivery_id, content_type, headers, body, received_at)
		VALUES (?, 'bench', ?, 'application/json', '{"content-type":["application/json"]}', ?, ?)`)
	if err != nil {
		return err
	}
	jobStmt, err := tx.PrepareContext(ctx, `INSERT INTO jobs (id, endpoint, event_id, payload, state, attempts, run_at, created_at, updated_at,
		first_attempt_at, finished_at, source, trace_parent)
		VALUES (?, 'receiver', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`)
	if err != nil {
		return err
	}
	// Within the default retention (7 days): the pruner of the worker
	// process finds nothing to delete while it is measured.
	span := 6 * 24 * time.Hour
	for i := from; i < to; i++ {
		var at time.Time
		if i < completed {
			at = now.Add(-span + time.Duration(int64(span)/int64(completed)*int64(i)))
		} else {
			at = now.Add(-time.Hour + time.Duration(i-completed)*time.Millisecond)
		}
		us := at.UnixMicro()
		eventID, jobID := job.NewID("evt", at), job.NewID("job", at)
		if _, err := event.ExecContext(ctx, eventID, fmt.Sprintf("msg_backlog_%d", i), body, us); err != nil {
			return err
		}
		if i < completed {
			done := us + 50_000
			_, err = jobStmt.ExecContext(ctx, jobID, eventID, body, "completed", 1, us, us, done, us, done, "bench")
		} else {
			_, err = jobStmt.ExecContext(ctx, jobID, eventID, body, "available", 0, us, us, us, nil, nil, pendingSource)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// resetStore makes the generated pending jobs pending again (a round
// delivered some), and finishes the jobs the last ingest round stored, so
// that every claim round starts from the same queue.
func resetStore(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UnixMicro()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'available', attempts = 0, run_at = created_at,
		lease_id = NULL, lease_expires_at = NULL, first_attempt_at = NULL, finished_at = NULL, last_error = '', updated_at = ?
		WHERE source = ? AND state <> 'available'`, now, pendingSource); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'completed', attempts = 1, finished_at = ?, updated_at = ?
		WHERE source = 'bench' AND state IN ('scheduled', 'available', 'retrying', 'running')`, now, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}
