package store

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// CreateSession implements job.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess job.Session) error {
	if err := s.d.Writer().InsertSession(ctx, sess); err != nil {
		return s.wrap("create session", err)
	}
	return nil
}

// GetSession implements job.SessionStore.
func (s *Store) GetSession(ctx context.Context, hash []byte) (job.Session, error) {
	sess, err := s.d.Reader().GetSession(ctx, nonNil(hash))
	if err != nil {
		return job.Session{}, s.notFound(err, "get session", "no such session")
	}
	return sess, nil
}

// DeleteSession implements job.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.d.Writer().DeleteSession(ctx, nonNil(hash)); err != nil {
		return s.wrap("delete session", err)
	}
	return nil
}

// TouchSession implements job.SessionStore.
func (s *Store) TouchSession(ctx context.Context, hash []byte, now time.Time) error {
	if err := s.d.Writer().TouchSession(ctx, nonNil(hash), now); err != nil {
		return s.wrap("record use of session", err)
	}
	return nil
}

// GetKeyByID implements job.SessionStore.
func (s *Store) GetKeyByID(ctx context.Context, id string) (job.APIKey, error) {
	k, err := s.d.Reader().GetKeyByID(ctx, id)
	if err != nil {
		return job.APIKey{}, s.notFound(err, "get API key", "no API key %q", id)
	}
	return k, nil
}
