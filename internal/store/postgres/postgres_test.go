package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/postgres"
	"github.com/dispatchd/dispatchd/internal/store/postgres/pgtest"
	"github.com/dispatchd/dispatchd/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) func(context.Context) (job.Store, error) {
		url := pgtest.NewDatabase(t)
		return func(ctx context.Context) (job.Store, error) { return postgres.Open(ctx, url) }
	})
}

// TestNotifyAcrossProcesses: a job stored through one pool (process) wakes
// a subscriber of another, through LISTEN/NOTIFY.
func TestNotifyAcrossProcesses(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	a, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wake, stop := b.Subscribe("ep-notify")
	defer stop()
	now := time.Now()
	deadline := time.After(10 * time.Second)
	// The listener may still be connecting: store until a wake-up arrives.
	for i := 0; ; i++ {
		_, err := a.StoreEvent(ctx, job.NewEvent{
			Event: job.Event{ID: job.NewID("evt", now), Source: "s", ContentType: "application/json", Headers: map[string]string{}, Body: []byte("{}"), ReceivedAt: now},
			Jobs:  []job.Job{{ID: job.NewID("job", now), Endpoint: "ep-notify", Payload: []byte("{}"), State: job.StateAvailable, RunAt: now, CreatedAt: now, UpdatedAt: now}},
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			return
		case <-deadline:
			t.Fatalf("no wake-up in the other process after %d jobs", i+1)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestPruneOneProcessAtATime: while another process holds the pruning lock,
// Prune skips.
func TestPruneOneProcessAtATime(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	cut := job.PruneCutoffs{FinishedBefore: time.Now(), DeadBefore: time.Now(), EventsBefore: time.Now(), Batch: 100}
	// Parallel tests share the server's advisory locks: wait until this
	// connection holds the pruning lock.
	for {
		var got bool
		if err := other.QueryRow(ctx, "SELECT pg_try_advisory_lock(1886549358)").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ran, err := s.Prune(ctx, cut); err != nil || ran {
		t.Errorf("Prune while another process prunes = ran %v, %v; want skipped", ran, err)
	}
	if _, err := other.Exec(ctx, "SELECT pg_advisory_unlock(1886549358)"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ran, err := s.Prune(ctx, cut); err != nil {
			t.Fatal(err)
		} else if ran {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Prune never ran once the lock was free")
		}
	}
}
