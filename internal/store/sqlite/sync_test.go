package sqlite

import (
	"context"
	"path/filepath"
	"testing"
)

// TestUnsyncedTransactionsLeaveTheWriterSynced: a claim's transaction runs
// with synchronous=NORMAL, and whether it commits or rolls back the
// writer's connection is FULL again afterwards, so that no webhook's
// commit returns before its fsync.
func TestUnsyncedTransactionsLeaveTheWriterSynced(t *testing.T) {
	ctx := context.Background()
	s, err := OpenDriver(ctx, filepath.Join(t.TempDir(), "dispatchd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d := s.(*driver)
	level := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := d.write.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const normal, full = 1, 2
	if got := level(t); got != full {
		t.Fatalf("the writer starts at synchronous=%d, want %d (FULL)", got, full)
	}
	for _, commit := range []bool{true, false} {
		u, err := d.BeginUnsynced(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var inside int
		if err := u.(*tx).tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&inside); err != nil {
			t.Fatal(err)
		}
		if inside != normal {
			t.Errorf("inside an unsynced transaction synchronous=%d, want %d (NORMAL)", inside, normal)
		}
		if commit {
			err = u.Commit(ctx)
		} else {
			err = u.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Rollback(ctx); err != nil { // after Commit: nothing to do
			t.Fatal(err)
		}
		if got := level(t); got != full {
			t.Errorf("after an unsynced transaction (commit %v) the writer is at synchronous=%d, want %d (FULL)", commit, got, full)
		}
	}
}
