package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/store"
)

func openTestDriver(t *testing.T) *driver {
	t.Helper()
	s, err := OpenDriver(context.Background(), filepath.Join(t.TempDir(), "dispatchd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*driver)
}

// groupInsert commits one event in a group transaction and returns its
// wait for the flush.
func groupInsert(t *testing.T, d *driver, id string) func(context.Context) error {
	t.Helper()
	ctx := context.Background()
	tx, durable, err := d.BeginGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	row := store.EventRow{ID: id, Source: "src", DeliveryID: id, ContentType: "application/json", Headers: []byte(`{}`), Body: []byte(`{}`), ReceivedAt: time.Now()}
	if _, err := tx.InsertEvents(ctx, []store.EventRow{row}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return durable
}

// TestGroupCommitsShareFlushes: a group commit's durable flushes the log
// file, and commits waiting together share one flush.
func TestGroupCommitsShareFlushes(t *testing.T) {
	d := openTestDriver(t)
	var flushes atomic.Int64
	var flushed []string
	d.wal.flush = func(f *os.File) error {
		flushes.Add(1)
		flushed = append(flushed, f.Name()) // one flush at a time: no race
		return fdatasync(f)
	}
	var waits []func(context.Context) error
	for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4"} {
		waits = append(waits, groupInsert(t, d, id))
	}
	var wg sync.WaitGroup
	for _, w := range waits {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := flushes.Load(); n < 1 || n > 2 {
		t.Errorf("four commits waited for together took %d flushes, want 1 (or 2 if one began before the others arrived)", n)
	}
	for _, name := range flushed {
		if name != d.wal.path || filepath.Base(name) != "dispatchd.db-wal" {
			t.Errorf("flushed %s, want the write-ahead log %s", name, d.wal.path)
		}
	}
	before := flushes.Load()
	if err := waits[0](context.Background()); err != nil {
		t.Fatal(err)
	}
	if flushes.Load() != before {
		t.Error("waiting again for a commit already flushed flushed again")
	}
}

// TestFailedFlushStopsAcknowledgements: after a flush fails, neither the
// commits it covered nor any later one is answered as durable, and no new
// write transaction starts; the error says why.
func TestFailedFlushStopsAcknowledgements(t *testing.T) {
	d := openTestDriver(t)
	ioErr := errors.New("input/output error")
	d.wal.flush = func(*os.File) error { return ioErr }
	ctx := context.Background()
	if err := groupInsert(t, d, "evt_1")(ctx); !errors.Is(err, ioErr) {
		t.Fatalf("durable with a failing fsync: %v, want the fsync's error", err)
	}
	d.wal.flush = fdatasync // the disk "recovers": the pages may be gone
	for name, begin := range map[string]func() error{
		"Begin":         func() error { _, err := d.Begin(ctx); return err },
		"BeginUnsynced": func() error { _, err := d.BeginUnsynced(ctx); return err },
		"BeginGroup":    func() error { _, _, err := d.BeginGroup(ctx); return err },
	} {
		if err := begin(); !errors.Is(err, ioErr) {
			t.Errorf("%s after a failed flush: %v, want the flush's error", name, err)
		}
	}
}

// TestClaimWaitsForTheWebhooksItCanRead: an unsynced transaction (a claim)
// that could read a group commit not yet flushed returns from Commit only
// after that flush, so no job leaves before its webhook is on disk.
func TestClaimWaitsForTheWebhooksItCanRead(t *testing.T) {
	d := openTestDriver(t)
	release := make(chan struct{})
	d.wal.flush = func(f *os.File) error { <-release; return fdatasync(f) }
	groupInsert(t, d, "evt_1") // committed, its flush not waited for
	ctx := context.Background()
	claim, err := d.BeginUnsynced(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := claim.CountEventsBySource(ctx, "src"); err != nil || n != 1 {
		t.Fatalf("the claim reads %d events, %v; want the 1 committed", n, err)
	}
	done := make(chan error, 1)
	go func() { done <- claim.Commit(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("the claim's Commit returned (%v) before the webhook it could read was flushed", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// With nothing left unflushed a claim does not wait.
	d.wal.flush = func(*os.File) error { t.Error("flushed with nothing to flush"); return nil }
	next, err := d.BeginUnsynced(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}
