package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store"
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

func TestDriverConformance(t *testing.T) {
	storetest.ExerciseDriver(t, func(t *testing.T) store.Driver {
		d, err := postgres.OpenDriver(context.Background(), pgtest.NewDatabase(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return d
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
	if err := a.UpsertEndpoints(ctx, []job.EndpointSpec{{Name: "ep-notify", URL: "https://example.com/", Timeout: time.Second}}, job.OriginConfig, time.Now()); err != nil {
		t.Fatal(err)
	}
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

// TestUpkeepWithoutAutovacuum: with autovacuum off, the pruner vacuums and
// analyzes the queue's tables itself, but only once they changed: an
// empty table analyzed as empty would be planned as empty however it grew.
func TestUpkeepWithoutAutovacuum(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var autovacuum string
	if err := conn.QueryRow(ctx, "SHOW autovacuum").Scan(&autovacuum); err != nil {
		t.Fatal(err)
	}
	if autovacuum == "on" {
		t.Skip("autovacuum is on: the server does the upkeep")
	}
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{{Name: "ep", URL: "https://example.com/", Timeout: time.Second}}, job.OriginConfig, time.Now()); err != nil {
		t.Fatal(err)
	}
	reltuples := func() float64 {
		var n float64
		if err := conn.QueryRow(ctx, "SELECT reltuples FROM pg_class WHERE oid = to_regclass('jobs')").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	now := time.Now()
	cutoffs := job.PruneCutoffs{FinishedBefore: now.Add(-time.Hour), DeadBefore: now.Add(-time.Hour), EventsBefore: now.Add(-time.Hour), Batch: 1000}
	p, ran, err := s.Prune(ctx, cutoffs)
	if err != nil || !ran {
		t.Fatalf("prune: ran %v, %v", ran, err)
	}
	if p.Vacuumed || reltuples() >= 0 {
		t.Fatalf("empty tables: vacuumed %v, jobs reltuples %v; want no vacuum and no statistics (-1)", p.Vacuumed, reltuples())
	}

	for range 300 {
		_, err := s.StoreEvent(ctx, job.NewEvent{
			Event: job.Event{ID: job.NewID("evt", now), Source: "s", ContentType: "application/json", Headers: map[string]string{}, Body: []byte("{}"), ReceivedAt: now},
			Jobs:  []job.Job{{ID: job.NewID("job", now), Endpoint: "ep", Payload: []byte("{}"), State: job.StateAvailable, RunAt: now, CreatedAt: now, UpdatedAt: now}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The server's counters of changed rows reach the statistics a moment
	// after the transactions end (PostgreSQL 15+ flushes a backend's
	// counters at most once a second, and up to 10 s later when it goes
	// idle). Wait until all 300 inserts into both tables are counted: a
	// vacuum that ran on part of them would be followed by a second one
	// when the rest arrive, and the last check below would fail for a
	// reason that is not the pruner's.
	inserted := func(table string) int64 {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT pg_stat_get_tuples_inserted(to_regclass($1))", table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for inserted("jobs") < 300 || inserted("events") < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the statistics count %d job and %d event inserts, want 300", inserted("jobs"), inserted("events"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	deadline = time.Now().Add(30 * time.Second)
	for !p.Vacuumed {
		if time.Now().After(deadline) {
			t.Fatal("300 jobs stored and no vacuum after 30 s of prunes")
		}
		time.Sleep(200 * time.Millisecond)
		if p, _, err = s.Prune(ctx, cutoffs); err != nil {
			t.Fatal(err)
		}
	}
	if n := reltuples(); n != 300 {
		t.Errorf("after the vacuum, jobs reltuples = %v, want 300", n)
	}
	if p, _, err = s.Prune(ctx, cutoffs); err != nil || p.Vacuumed {
		t.Errorf("nothing changed since the vacuum: vacuumed again %v (%v)", p.Vacuumed, err)
	}
}

func TestSharedCatalog(t *testing.T) {
	storetest.ExerciseSharedCatalog(t, func(t *testing.T) func(context.Context, ...store.Option) (*store.Store, error) {
		url := pgtest.NewDatabase(t)
		return func(ctx context.Context, opts ...store.Option) (*store.Store, error) {
			return postgres.OpenWith(ctx, url, postgres.Options{StatementTimeout: 30 * time.Second}, opts...)
		}
	})
}

// TestCountsDoNotSerialiseCommits: while one process's commit holds its
// catalog row of a type and its request-count row of a source's minute (a
// transaction left open on both), another process stores events of that
// type and minute: it counts in shards of its own (20…23; a's are 10…13)
// and does not wait, nor does a's next commit, which takes the next of a's
// shards. The sums count every commit, and the request counts add what a
// process of an older version counted without shards; retention prunes
// those too.
func TestCountsDoNotSerialiseCommits(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	open := func(shard int) *store.Store {
		s, err := postgres.OpenWith(ctx, url, postgres.Options{StatementTimeout: 30 * time.Second}, store.WithCatalogShard(shard))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(10), open(20)
	now := time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)
	event := func(id string) job.NewEvent {
		return job.NewEvent{
			Event: job.Event{ID: job.NewID("evt", now), Source: "s", DeliveryID: id, Type: "order.created",
				ContentType: "application/json", Headers: map[string]string{}, Body: []byte("{}"), ReceivedAt: now},
			Request: &job.InboundRequest{ID: job.NewID("req", now), Source: "s", KnownSource: true, ReceivedAt: now},
		}
	}
	if _, err := a.StoreEvent(ctx, event("a1")); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// What a's next commit in that shard does to its rows, held open.
	for _, lock := range []string{
		`UPDATE event_type_counts SET seen_count = seen_count + 1 WHERE name = 'order.created' AND shard = 10`,
		`UPDATE request_count_shards SET n = n + 1 WHERE source = 's' AND shard = 10`,
	} {
		tag, err := tx.Exec(ctx, lock)
		if err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("lock a's row (%s): %v, %v", lock, tag, err)
		}
	}
	// A commit blocked behind a row would wait for the transaction above,
	// which only ends after these commits: the deadline tells a wait from
	// a slow machine by a wide margin.
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := b.StoreEvent(waitCtx, event("b1")); err != nil {
		t.Fatalf("b's commit of the same type and minute while a's rows are held: %v", err)
	}
	if _, err := a.StoreEvent(waitCtx, event("a2")); err != nil {
		t.Fatalf("a's next commit of the same type and minute while its rows are held: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	types, err := b.ListEventTypes(ctx)
	if err != nil || len(types) != 1 || types[0].Count != 3 {
		t.Errorf("catalog = %+v, %v; want order.created counted three times", types, err)
	}
	// A process of an older version counts in the table without shards.
	if _, err := conn.Exec(ctx, `INSERT INTO request_counts (source, minute, outcome, n) VALUES ('s', $1, 'accepted', 4)`, now.Truncate(time.Minute)); err != nil {
		t.Fatal(err)
	}
	accepted := func() int64 {
		t.Helper()
		st, err := b.GetStats(ctx, job.StatsQuery{Source: "s", Since: now.Add(-time.Minute), Bucket: time.Minute, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, p := range st.Points {
			n += p.Received[job.OutcomeAccepted]
		}
		return n
	}
	if n := accepted(); n != 7 {
		t.Errorf("stats count %d accepted requests, want 7 (3 in the shards, 4 from before them)", n)
	}
	// Counts are kept 7 days longer than refused rows.
	if _, _, err := a.Prune(ctx, job.PruneCutoffs{RefusedBefore: now.Add(time.Hour + 7*24*time.Hour - job.RefusedRetention), Batch: 100}); err != nil {
		t.Fatal(err)
	}
	if n := accepted(); n != 0 {
		t.Errorf("after pruning the minute, stats count %d accepted requests, want 0", n)
	}
}

func TestEncryption(t *testing.T) {
	storetest.ExerciseEncryption(t, func(t *testing.T) func(context.Context, ...store.Option) (*store.Store, error) {
		url := pgtest.NewDatabase(t)
		return func(ctx context.Context, opts ...store.Option) (*store.Store, error) {
			return postgres.OpenWith(ctx, url, postgres.Options{StatementTimeout: 30 * time.Second}, opts...)
		}
	})
}
