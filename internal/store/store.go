// Package store holds the rules of persistence once, for every engine:
// what a duplicate delivery answers, fencing of leases, the error codes of
// the domain, specs as JSON, group commits. It runs them through a narrow
// Driver (one method per query), which store/sqlite and store/postgres
// implement; storetest holds both to the same behaviour.
package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/secretbox"
	"github.com/dispatchd/dispatchd/internal/store/groupcommit"
)

// maxBatch bounds one group commit; past a few hundred rows a transaction
// only adds latency for the first caller in it.
const maxBatch = 256

// Store implements job.Store and job.KeyStore on a Driver.
type Store struct {
	d       Driver
	commits *groupcommit.Committer[job.NewEvent, eventResult]
	// finishes groups the outcomes of concurrent deliveries.
	finishes *groupcommit.Committer[[]job.Finish, []bool]
	// keys seals the specs; nil: stored in clear.
	keys *secretbox.Keyring
	// sealPayloads seals event bodies and job payloads under keys too.
	sealPayloads bool
	// shardBase is the first of the catalog's shards this store counts
	// in; shards holds them, each taken by one commit until it ends.
	shardBase int
	shards    chan int
}

var (
	_ job.Store    = (*Store)(nil)
	_ job.KeyStore = (*Store)(nil)
)

// New returns the store that runs on d. Closing it closes d.
func New(d Driver, opts ...Option) *Store {
	s := &Store{d: d, shardBase: rand.IntN(catalogShards)}
	for _, o := range opts {
		o(s)
	}
	s.shards = newShards(s.shardBase, d.CommitWorkers())
	s.commits = groupcommit.New(s.commitEvents, d.CommitWorkers(), maxBatch)
	s.finishes = groupcommit.New(s.commitFinishes, d.CommitWorkers(), maxBatch)
	return s
}

// Driver returns the engine's driver, for engine-specific tests and tools.
func (s *Store) Driver() Driver { return s.d }

// Engine names the database for telemetry (db.system.name).
func (s *Store) Engine() string { return s.d.Engine() }

// Ping implements job.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.d.Reader().Ping(ctx); err != nil {
		return &job.Error{Code: job.CodeUnavailable, Message: "the database does not answer", Err: err}
	}
	return nil
}

// Close implements job.Store: it waits for the commits under way, then
// closes the driver.
func (s *Store) Close() error {
	s.commits.Close()
	s.finishes.Close()
	return s.d.Close()
}

// Subscribe implements job.Store.
func (s *Store) Subscribe(endpoint string) (<-chan struct{}, func()) {
	return s.d.Subscribe(endpoint)
}

// notify wakes the endpoints' workers after a write outside a
// transaction; on failure the workers' fallback poll still finds the jobs.
func (s *Store) notify(ctx context.Context, endpoints ...string) {
	if len(endpoints) > 0 {
		_ = s.d.Writer().Notify(ctx, endpoints)
	}
}

// inTx runs fn in a write transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(Tx) error) error {
	return s.run(ctx, s.d.Begin, fn)
}

// inUnsyncedTx is inTx in a transaction whose commit is not flushed to
// disk before it returns (Driver.BeginUnsynced), for claims.
func (s *Store) inUnsyncedTx(ctx context.Context, fn func(Tx) error) error {
	return s.run(ctx, s.d.BeginUnsynced, fn)
}

// inGroupTx is inTx for a group commit (Driver.BeginGroup): it returns once
// the transaction has committed, with the wait for its flush.
func (s *Store) inGroupTx(ctx context.Context, fn func(Tx) error) (groupcommit.Durable, error) {
	var durable groupcommit.Durable
	begin := func(ctx context.Context) (Tx, error) {
		tx, d, err := s.d.BeginGroup(ctx)
		durable = d
		return tx, err
	}
	if err := s.run(ctx, begin, fn); err != nil {
		return nil, err
	}
	return durable, nil
}

func (s *Store) run(ctx context.Context, begin func(context.Context) (Tx, error), fn func(Tx) error) error {
	tx, err := begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func unavailable(err error) error {
	var e *job.Error
	if errors.As(err, &e) {
		return err
	}
	return &job.Error{Code: job.CodeUnavailable, Message: "the store could not commit; retry later", Err: err}
}

// wrap adds what failed to an unexpected error.
func (s *Store) wrap(what string, err error) error {
	return fmt.Errorf("%s: %s: %w", s.d.Engine(), what, err)
}

// notFound is the domain's answer to ErrNoRows, err otherwise.
func (s *Store) notFound(err error, what string, format string, args ...any) error {
	if errors.Is(err, ErrNoRows) {
		return job.Errorf(job.CodeNotFound, format, args...)
	}
	return s.wrap(what, err)
}
