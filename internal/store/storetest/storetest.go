// Package storetest holds every engine to the same contract, as River's
// riverdrivertest does: ExerciseDriver checks a store.Driver below the
// rules, Exercise and ExerciseKeys check the behaviour of the store on top
// of it. The behaviour suite is split by area (events.go, endpoints.go,
// claims.go, ratelimit.go, prune.go, wakeups.go, api.go, integrity.go,
// keys.go, schedules.go, catalog.go). Each
// engine's tests call them with a way to open it on a fresh database.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Opener returns a function that opens a store on a fresh, empty database
// of its own. Calling the returned function again opens the same database
// (after the previous store was closed), which is how durability is checked.
type Opener func(t *testing.T) (open func(ctx context.Context) (job.Store, error))

// Exercise runs the conformance suite.
func Exercise(t *testing.T, opener Opener) {
	setup := func(t *testing.T) (job.Store, func(context.Context) (job.Store, error)) {
		t.Helper()
		open := opener(t)
		s, err := open(context.Background())
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s, open
	}
	exerciseEvents(t, setup)
	exerciseEndpoints(t, setup)
	exerciseClaims(t, setup)
	exerciseRateLimit(t, setup)
	exercisePrune(t, setup)
	exerciseWakeups(t, setup)
	exercisePayloadOnce(t, setup)
	exerciseAPI(t, setup)
	exerciseSchedules(t, setup)
	exerciseCatalog(t, setup)
	exerciseIntegrity(t, setup)
	exerciseConsole(t, setup)
	exerciseListing(t, setup)
}

// ignoreBatch leaves out how many events shared a commit: it depends on
// timing.
var ignoreBatch = cmpopts.IgnoreFields(job.Stored{}, "BatchSize")

func count(t *testing.T, s job.Store, source string) int64 {
	t.Helper()
	n, err := s.CountEvents(context.Background(), source)
	if err != nil {
		t.Fatalf("CountEvents: %v", err)
	}
	return n
}

// newEvent builds an event with one available job per endpoint. Times are
// whole microseconds, the precision both engines keep.
func newEvent(source, deliveryID string, now time.Time, endpoints ...string) job.NewEvent {
	now = now.Truncate(time.Microsecond)
	e := job.NewEvent{Event: job.Event{
		ID:          job.NewID("evt", now),
		Source:      source,
		DeliveryID:  deliveryID,
		ContentType: "application/json",
		Headers:     map[string]string{"content-type": "application/json"},
		Body:        []byte(`{"id":"` + deliveryID + `"}`),
		ReceivedAt:  now,
	}}
	for _, ep := range endpoints {
		e.Jobs = append(e.Jobs, job.Job{
			ID:        job.NewID("job", now),
			Endpoint:  ep,
			EventID:   e.Event.ID,
			Source:    source,
			Payload:   e.Event.Body,
			State:     job.StateAvailable,
			RunAt:     now,
			CreatedAt: now,
			UpdatedAt: now,
		})
	}
	return e
}
