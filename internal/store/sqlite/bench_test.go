package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/dispatchd/dispatchd/internal/store/sqlite"
	"github.com/dispatchd/dispatchd/internal/store/storetest"
)

func BenchmarkStoreEvent(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "dispatchd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkStoreEvent(b, s)
}

func BenchmarkDeliveryCycle(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "dispatchd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkDeliveryCycle(b, s)
}
