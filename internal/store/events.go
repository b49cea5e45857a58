package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/store/groupcommit"
)

// StoreEvent implements job.Store.
func (s *Store) StoreEvent(ctx context.Context, e job.NewEvent) (job.Stored, error) {
	res, err := s.commits.Do(ctx, e)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return job.Stored{}, ctxErr
		}
		return job.Stored{}, &job.Error{Code: job.CodeUnavailable, Message: "the store could not commit the event; retry later", Err: err}
	}
	if res.err != nil {
		return job.Stored{}, res.err
	}
	return res.st, nil
}

// commitEvents writes a batch of events in one transaction: the events,
// then their jobs, then the lookup of the originals of duplicates. Rows
// are inserted in (source, delivery id) order so that two batches racing
// on the same ids (PostgreSQL, several processes) lock them in the same
// order and cannot deadlock. The endpoints the jobs name are read (and
// locked) first, in one query: an event routed to one that does not exist
// is refused on its own, and the others commit.
func (s *Store) commitEvents(ctx context.Context, events []job.NewEvent) ([]eventResult, groupcommit.Durable, error) {
	order := make([]int, 0, len(events))
	for i := range events {
		order = append(order, i)
	}
	sort.SliceStable(order, func(a, b int) bool {
		ea, eb := events[order[a]].Event, events[order[b]].Event
		if ea.Source != eb.Source {
			return ea.Source < eb.Source
		}
		return ea.DeliveryID < eb.DeliveryID
	})
	out := make([]eventResult, len(events))
	// The catalog's row this commit counts in, its own until it ends.
	shard := <-s.shards
	defer func() { s.shards <- shard }()
	durable, err := s.inGroupTx(ctx, func(tx Tx) error {
		missing, err := missingEndpoints(ctx, tx, endpointsOf(events))
		if err != nil {
			return err
		}
		var refused []int
		if missing != nil {
			kept := order[:0:0]
			for _, i := range order {
				if missingEndpointOf(events[i], missing) != "" {
					refused = append(refused, i)
				} else {
					kept = append(kept, i)
				}
			}
			order = kept
		}
		var stored []job.Stored
		if len(order) > 0 {
			if stored, err = s.storeBatch(ctx, tx, shard, events, order); err != nil {
				return err
			}
			for _, i := range order {
				out[i].st = stored[i]
			}
		}
		for _, i := range refused {
			if out[i], err = s.refuse(ctx, tx, events[i], missing, len(events)); err != nil {
				return err
			}
		}
		// The wake-up goes out at commit.
		var woken []job.NewEvent
		for _, i := range order {
			woken = append(woken, events[i])
		}
		return tx.Notify(ctx, endpointsOf(woken))
	})
	if err != nil {
		return nil, nil, err
	}
	return out, durable, nil
}

// refuse answers an event routed to a missing endpoint: a redelivery of an
// event stored before is still a duplicate (nothing new would be stored);
// anything else is refused.
func (s *Store) refuse(ctx context.Context, tx Tx, e job.NewEvent, missing map[string]bool, batch int) (eventResult, error) {
	if e.Event.DeliveryID != "" {
		st, err := original(ctx, tx, e.Event)
		switch {
		case err == nil:
			st.BatchSize = batch
			return eventResult{st: st}, nil
		case !errors.Is(err, ErrNoRows):
			return eventResult{}, err
		}
	}
	return eventResult{err: errRoutedToMissing(e.Event.Source, missingEndpointOf(e, missing))}, nil
}

func (s *Store) storeBatch(ctx context.Context, tx Tx, shard int, events []job.NewEvent, order []int) ([]job.Stored, error) {
	rows := make([]EventRow, len(order))
	for k, i := range order {
		e := events[i].Event
		headers, err := json.Marshal(e.Headers)
		if err != nil {
			return nil, err
		}
		rows[k] = EventRow{
			ID: e.ID, Source: e.Source, DeliveryID: e.DeliveryID, ContentType: e.ContentType,
			Headers: headers, Body: nonNil(s.sealPayload(eventAAD(e.ID), e.Body)), ReceivedAt: e.ReceivedAt, Type: e.Type,
		}
	}
	ins, err := tx.InsertEvents(ctx, rows)
	if err != nil {
		return nil, err
	}
	inserted := make([]bool, len(events))
	for k, i := range order {
		inserted[i] = ins[k]
	}

	out := make([]job.Stored, len(events))
	var jobs []JobRow
	var owner []int // event index of each job
	for _, i := range order {
		e := events[i]
		if !inserted[i] {
			continue
		}
		out[i] = job.Stored{EventID: e.Event.ID, JobIDs: make([]string, 0, len(e.Jobs)), BatchSize: len(events)}
		for _, j := range e.Jobs {
			j.EventID, j.Source = e.Event.ID, e.Event.Source
			r, err := s.jobRowOf(j)
			if err != nil {
				return nil, err
			}
			// The event holds the body once for all its jobs.
			if len(j.Payload) > 0 && bytes.Equal(j.Payload, e.Event.Body) {
				r.Job.Payload, r.PayloadEventID = []byte{}, e.Event.ID
			}
			jobs = append(jobs, r)
			owner = append(owner, i)
		}
	}
	if len(jobs) > 0 {
		// A coalesced job answers with the id of the pending job it
		// updated.
		ids, err := tx.InsertJobs(ctx, jobs)
		if err != nil {
			return nil, err
		}
		for k, id := range ids {
			out[owner[k]].JobIDs = append(out[owner[k]].JobIDs, id)
		}
	}
	if err := s.countTypes(ctx, tx, shard, events, inserted); err != nil {
		return nil, err
	}
	for _, i := range order {
		if inserted[i] {
			continue
		}
		st, err := original(ctx, tx, events[i].Event)
		if err != nil {
			return nil, err
		}
		st.BatchSize = len(events)
		out[i] = st
	}
	if err := s.logRequests(ctx, tx, shard, events, out); err != nil {
		return nil, err
	}
	return out, nil
}

// original returns the event already stored under e's delivery id. On
// PostgreSQL under READ COMMITTED each statement sees rows committed
// before it started, so the row that made the insert conflict is visible.
func original(ctx context.Context, ex Executor, e job.Event) (job.Stored, error) {
	id, err := ex.GetEventIDByDeliveryID(ctx, e.Source, e.DeliveryID)
	if err != nil {
		return job.Stored{}, fmt.Errorf("look up the original of delivery %q: %w", e.DeliveryID, err)
	}
	jobs, err := ex.ListJobsByEvent(ctx, id)
	if err != nil {
		return job.Stored{}, err
	}
	st := job.Stored{EventID: id, Duplicate: true, JobIDs: make([]string, 0, len(jobs))}
	for _, j := range jobs {
		st.JobIDs = append(st.JobIDs, j.Job.ID)
	}
	return st, nil
}

// endpointsOf lists the endpoints that got jobs, each once.
func endpointsOf(events []job.NewEvent) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range events {
		for _, j := range e.Jobs {
			if !seen[j.Endpoint] {
				seen[j.Endpoint] = true
				out = append(out, j.Endpoint)
			}
		}
	}
	return out
}

// GetEvent implements job.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (job.Event, error) {
	row, err := s.d.Reader().GetEvent(ctx, id)
	if err != nil {
		return job.Event{}, s.notFound(err, "get event", "no event %q", id)
	}
	e := job.Event{
		ID:          row.ID,
		Source:      row.Source,
		DeliveryID:  row.DeliveryID,
		ContentType: row.ContentType,
		Type:        row.Type,
		ReceivedAt:  row.ReceivedAt,
	}
	if e.Body, err = s.openPayload(eventAAD(row.ID), row.Body); err != nil {
		return job.Event{}, s.wrap("event "+id+" body", err)
	}
	if err := json.Unmarshal(row.Headers, &e.Headers); err != nil {
		return job.Event{}, s.wrap("event "+id+" headers", err)
	}
	return e, nil
}

// CountEvents implements job.Store.
func (s *Store) CountEvents(ctx context.Context, source string) (int64, error) {
	n, err := s.d.Reader().CountEventsBySource(ctx, source)
	if err != nil {
		return 0, s.wrap("count events", err)
	}
	return n, nil
}

// ListJobsByEvent implements job.Store.
func (s *Store) ListJobsByEvent(ctx context.Context, eventID string) ([]job.Job, error) {
	r := s.d.Reader()
	rows, err := r.ListJobsByEvent(ctx, eventID)
	if err != nil {
		return nil, s.wrap("list jobs", err)
	}
	return s.toJobs(ctx, r, rows)
}

// jobRowOf is the row of a job.
func (s *Store) jobRowOf(j job.Job) (JobRow, error) {
	r := JobRow{Job: j}
	r.Job.Payload = nonNil(s.sealPayload(jobPayloadAAD, j.Payload))
	r.Job.Retry = nil
	if j.Retry != nil {
		b, err := json.Marshal(j.Retry)
		if err != nil {
			return JobRow{}, err
		}
		r.Retry = b
	}
	return r, nil
}

// toJobs converts rows to jobs, reading the payloads that are left in
// their events in one query.
func (s *Store) toJobs(ctx context.Context, ex Executor, rows []JobRow) ([]job.Job, error) {
	var ids []string
	seen := map[string]bool{}
	for _, r := range rows {
		if id := r.PayloadEventID; id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	var bodies map[string][]byte
	if len(ids) > 0 {
		var err error
		if bodies, err = ex.GetEventBodies(ctx, ids); err != nil {
			return nil, s.wrap("read payloads", err)
		}
	}
	out := make([]job.Job, len(rows))
	for i, r := range rows {
		out[i] = r.Job
		out[i].Retry = retrySpec(r.Retry)
		if r.PayloadEventID != "" {
			body, ok := bodies[r.PayloadEventID]
			if !ok {
				return nil, s.wrap("read payloads", fmt.Errorf("job %s: event %s is gone", r.Job.ID, r.PayloadEventID))
			}
			plain, err := s.openPayload(eventAAD(r.PayloadEventID), body)
			if err != nil {
				return nil, s.wrap("read payloads", fmt.Errorf("job %s: %w", r.Job.ID, err))
			}
			out[i].Payload = plain
		} else {
			plain, err := s.openPayload(jobPayloadAAD, r.Job.Payload)
			if err != nil {
				return nil, s.wrap("read payloads", fmt.Errorf("job %s: %w", r.Job.ID, err))
			}
			out[i].Payload = plain
		}
	}
	return out, nil
}

// toJob is toJobs for one row.
func (s *Store) toJob(ctx context.Context, ex Executor, r JobRow) (job.Job, error) {
	jobs, err := s.toJobs(ctx, ex, []JobRow{r})
	if err != nil {
		return job.Job{}, err
	}
	return jobs[0], nil
}

// retrySpec decodes a job's retry override; a broken one counts as none
// (the endpoint's schedule applies).
func retrySpec(b []byte) *job.RetrySpec {
	if b == nil {
		return nil
	}
	var r job.RetrySpec
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return &r
}

// nonNil keeps an empty body from becoming NULL in a NOT NULL column.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
