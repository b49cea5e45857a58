package postgres

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/pgdb"
	"github.com/dispatchd/dispatchd/internal/job"
)

func (e *executor) GetKeyByID(ctx context.Context, id string) (job.APIKey, error) {
	r, err := e.q.GetKeyByID(ctx, e.db, id)
	return toKey(r), noRows(err)
}

func (e *executor) InsertSession(ctx context.Context, s job.Session) error {
	return e.q.InsertSession(ctx, e.db, pgdb.InsertSessionParams{
		Hash: s.Hash, KeyID: s.KeyID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
	})
}

func (e *executor) GetSession(ctx context.Context, hash []byte) (job.Session, error) {
	r, err := e.q.GetSession(ctx, e.db, hash)
	return job.Session{
		Hash: r.Hash, KeyID: r.KeyID, CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(),
	}, noRows(err)
}

func (e *executor) DeleteSession(ctx context.Context, hash []byte) (int64, error) {
	return e.q.DeleteSession(ctx, e.db, hash)
}

func (e *executor) TouchSession(ctx context.Context, hash []byte, now time.Time) error {
	return e.q.TouchSession(ctx, e.db, pgdb.TouchSessionParams{Hash: hash, Now: now})
}

func (e *executor) PruneSessions(ctx context.Context, now time.Time) (int64, error) {
	return e.q.PruneSessions(ctx, e.db, now)
}
