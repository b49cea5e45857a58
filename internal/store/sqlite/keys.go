package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/job"
)

var _ apikey.Store = (*Store)(nil)

// CreateKey implements apikey.Store.
func (s *Store) CreateKey(ctx context.Context, k apikey.Key) error {
	err := s.q.InsertKey(ctx, s.ws.on(nil), sqlitedb.InsertKeyParams{
		ID:              k.ID,
		Prefix:          k.Prefix,
		Hash:            nonNil(k.Hash),
		Name:            k.Name,
		DefaultEndpoint: k.DefaultEndpoint,
		Scope:           string(k.Scope),
		CreatedAt:       micros(k.CreatedAt),
	})
	if err != nil {
		return fmt.Errorf("sqlite: create API key: %w", err)
	}
	return nil
}

// GetKeyByPrefix implements apikey.Store.
func (s *Store) GetKeyByPrefix(ctx context.Context, prefix string) (apikey.Key, error) {
	row, err := s.q.GetKeyByPrefix(ctx, s.rs.on(nil), prefix)
	if errors.Is(err, sql.ErrNoRows) {
		return apikey.Key{}, job.Errorf(job.CodeNotFound, "no API key with prefix %q", prefix)
	}
	if err != nil {
		return apikey.Key{}, fmt.Errorf("sqlite: get API key: %w", err)
	}
	return toKey(row), nil
}

// ListKeys implements apikey.Store.
func (s *Store) ListKeys(ctx context.Context) ([]apikey.Key, error) {
	rows, err := s.q.ListKeys(ctx, s.rs.on(nil))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list API keys: %w", err)
	}
	keys := make([]apikey.Key, len(rows))
	for i, r := range rows {
		keys[i] = toKey(r)
	}
	return keys, nil
}

// RevokeKey implements apikey.Store.
func (s *Store) RevokeKey(ctx context.Context, id string, now time.Time) error {
	n, err := s.q.RevokeKey(ctx, s.ws.on(nil), sqlitedb.RevokeKeyParams{ID: id, Now: micros(now)})
	if err != nil {
		return fmt.Errorf("sqlite: revoke API key: %w", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no API key %q", id)
	}
	return nil
}

// TouchKey implements apikey.Store.
func (s *Store) TouchKey(ctx context.Context, id string, now time.Time) error {
	if err := s.q.TouchKey(ctx, s.ws.on(nil), sqlitedb.TouchKeyParams{ID: id, Now: micros(now)}); err != nil {
		return fmt.Errorf("sqlite: record use of API key: %w", err)
	}
	return nil
}

func toKey(r sqlitedb.ApiKey) apikey.Key {
	return apikey.Key{
		ID:              r.ID,
		Prefix:          r.Prefix,
		Name:            r.Name,
		DefaultEndpoint: r.DefaultEndpoint,
		Scope:           apikey.Scope(r.Scope),
		Hash:            r.Hash,
		CreatedAt:       fromMicros(r.CreatedAt),
		LastUsedAt:      fromNullMicros(r.LastUsedAt),
		RevokedAt:       fromNullMicros(r.RevokedAt),
	}
}
