package postgres

import (
	"context"
	"testing"

	"github.com/dispatchd/dispatchd/internal/store/postgres/pgtest"
)

// TestUnsyncedTransactions: a claim's transaction does not wait for the WAL
// flush, and the setting ends with it: every other transaction on the same
// pool still commits synchronously.
func TestUnsyncedTransactions(t *testing.T) {
	ctx := context.Background()
	s, err := OpenDriver(ctx, pgtest.NewDatabase(t), Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d := s.(*driver)
	setting := func(t *testing.T, unsynced bool) string {
		t.Helper()
		begin := d.Begin
		if unsynced {
			begin = d.BeginUnsynced
		}
		x, err := begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Rollback(ctx)
		var v string
		if err := x.(*tx).tx.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if err := x.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range 8 { // more transactions than connections: each is reused
		if got := setting(t, true); got != "off" {
			t.Errorf("in an unsynced transaction synchronous_commit = %q, want off", got)
		}
		if got := setting(t, false); got != "on" {
			t.Errorf("in a transaction of Begin synchronous_commit = %q, want on", got)
		}
	}
}
