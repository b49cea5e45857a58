package store

import (
	"context"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// CreateKey implements job.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k job.APIKey) error {
	k.Hash = nonNil(k.Hash)
	if err := s.d.Writer().InsertKey(ctx, k); err != nil {
		return s.wrap("create API key", err)
	}
	return nil
}

// GetKeyByPrefix implements job.KeyStore.
func (s *Store) GetKeyByPrefix(ctx context.Context, prefix string) (job.APIKey, error) {
	k, err := s.d.Reader().GetKeyByPrefix(ctx, prefix)
	if err != nil {
		return job.APIKey{}, s.notFound(err, "get API key", "no API key with prefix %q", prefix)
	}
	return k, nil
}

// ListKeys implements job.KeyStore.
func (s *Store) ListKeys(ctx context.Context) ([]job.APIKey, error) {
	keys, err := s.d.Reader().ListKeys(ctx)
	if err != nil {
		return nil, s.wrap("list API keys", err)
	}
	return keys, nil
}

// RevokeKey implements job.KeyStore.
func (s *Store) RevokeKey(ctx context.Context, id string, now time.Time) error {
	n, err := s.d.Writer().RevokeKey(ctx, id, now)
	if err != nil {
		return s.wrap("revoke API key", err)
	}
	if n == 0 {
		return job.Errorf(job.CodeNotFound, "no API key %q", id)
	}
	return nil
}

// TouchKey implements job.KeyStore.
func (s *Store) TouchKey(ctx context.Context, id string, now time.Time) error {
	if err := s.d.Writer().TouchKey(ctx, id, now); err != nil {
		return s.wrap("record use of API key", err)
	}
	return nil
}
