package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/secretbox"
	"github.com/dispatchd/dispatchd/internal/store"
	"github.com/dispatchd/dispatchd/internal/store/sqlite"
	"github.com/dispatchd/dispatchd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) func(context.Context) (job.Store, error) {
		path := filepath.Join(t.TempDir(), "data", "dispatchd.db")
		return func(ctx context.Context) (job.Store, error) { return sqlite.Open(ctx, path) }
	})
}

func TestDriverConformance(t *testing.T) {
	storetest.ExerciseDriver(t, func(t *testing.T) store.Driver {
		d, err := sqlite.OpenDriver(context.Background(), filepath.Join(t.TempDir(), "dispatchd.db"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestSharedCatalog(t *testing.T) {
	storetest.ExerciseSharedCatalog(t, func(t *testing.T) func(context.Context, ...store.Option) (*store.Store, error) {
		path := filepath.Join(t.TempDir(), "dispatchd.db")
		return func(ctx context.Context, opts ...store.Option) (*store.Store, error) {
			return sqlite.Open(ctx, path, opts...)
		}
	})
}

func TestEncryption(t *testing.T) {
	storetest.ExerciseEncryption(t, func(t *testing.T) func(context.Context, ...store.Option) (*store.Store, error) {
		path := filepath.Join(t.TempDir(), "dispatchd.db")
		return func(ctx context.Context, opts ...store.Option) (*store.Store, error) {
			return sqlite.Open(ctx, path, opts...)
		}
	})
}

// TestConformanceEncrypted: the whole behaviour suite holds with specs and
// payloads sealed.
func TestConformanceEncrypted(t *testing.T) {
	keys, err := secretbox.ParseKeyring(secretbox.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Exercise(t, func(t *testing.T) func(context.Context) (job.Store, error) {
		path := filepath.Join(t.TempDir(), "data", "dispatchd.db")
		return func(ctx context.Context) (job.Store, error) {
			return sqlite.Open(ctx, path, store.WithKeyring(keys), store.WithPayloadEncryption())
		}
	})
}
