package postgres_test

import (
	"context"
	"testing"

	"github.com/dispatchd/dispatchd/internal/store/postgres"
	"github.com/dispatchd/dispatchd/internal/store/postgres/pgtest"
	"github.com/dispatchd/dispatchd/internal/store/storetest"
)

func BenchmarkStoreEvent(b *testing.B) {
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkStoreEvent(b, s)
}

func BenchmarkDeliveryCycle(b *testing.B) {
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkDeliveryCycle(b, s)
}
