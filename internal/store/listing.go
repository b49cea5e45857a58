package store

import (
	"bytes"
	"context"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// The list views' rule: every page is one range read of one index whose
// order is the page's order (the filter's columns, then id, newest
// first). The core chooses the index from the filters given; the drivers
// have one query per index (sql/*/queries: ListJobsBy…, ListEventsBy…,
// ListRequestsBy…), because an optional filter written as
// "(? IS NULL OR col = ?)" cannot use an index on SQLite. A filter without
// an index of its own is checked on the rows the chosen index yields. Time
// ranges narrow the id range: ids start with their creation millisecond
// (job.NewID): a start bounds the ids read, an end is checked on the rows. No
// page counts rows.

// ListIndex names the index a list query reads.
type ListIndex int

// The indexes of the list queries (sql/*/schema/0016_list_indexes.sql and
// earlier migrations).
const (
	// ByID reads the primary key: no indexed filter was given.
	ByID ListIndex = iota
	ByState
	ByEndpoint
	BySource
	ByType
	ByDeliveryID
	ByOutcome
	// ByRunning reads the running jobs on the lease index and sorts them
	// by id: there are only as many as the endpoints' concurrency.
	ByRunning
	// ByTime reads a time window (both ends given) on the time's index
	// and sorts it by id: for a window without an indexed filter.
	ByTime
)

// IDRange is the part of a table's id order a page reads: after AfterID
// and before BeforeID (both exclusive; neither is ever empty of meaning:
// "" and job.IDCeiling stand for the open ends).
type IDRange struct {
	AfterID, BeforeID string
}

// idRange narrows the page's bounds (afterID, beforeID: "" when open) by
// the start of a time range of rows whose ids were made with prefix. Only
// the start: an id's time is never earlier than its row's creation time,
// but it may be later (NewID keeps ids increasing when it is given an
// earlier time than before, as a clock stepped back or a catch-up tick
// does), so an end of the range cannot bound the ids; the time condition
// checks it row by row, reading from the newest row of the range's start.
func idRange(prefix, afterID, beforeID string, from time.Time) IDRange {
	r := IDRange{AfterID: afterID, BeforeID: beforeID}
	if r.BeforeID == "" {
		r.BeforeID = job.IDCeiling(prefix)
	}
	if !from.IsZero() {
		// Ids of from's millisecond are at least IDAt(from); the one id
		// equal to it (a zero random part) is as good as impossible, and
		// one millisecond earlier keeps even that one.
		if lo := job.IDAt(prefix, from.Add(-time.Millisecond)); lo > r.AfterID {
			r.AfterID = lo
		}
	}
	return r
}

// JobQuery is one page of jobs for a driver: the filter, the index the
// core chose for it and the id range to read.
type JobQuery struct {
	Filter job.JobFilter
	Index  ListIndex
	IDRange
}

// jobQuery chooses the index for f. A state that few jobs are in is read
// on the state's index (jobs_state_id holds those states only) and the
// endpoint or source checked on its rows; running jobs, as few as the
// endpoints' concurrency, on the lease index. The states most jobs are in
// (available: the queue; completed: where they end) are dense on the
// endpoint's or the source's index, or on the primary key. Both a source
// and an endpoint: the source's index, checking the endpoint on its rows.
// A source fans out to a few endpoints, so few of its rows fail that
// check; an endpoint may take jobs from a busy source and a quiet one,
// and the quiet one's rows would be found only after reading the other's.
func jobQuery(f job.JobFilter) JobQuery {
	q := JobQuery{Filter: f, IDRange: idRange("job", "", f.BeforeID, f.CreatedAfter)}
	switch {
	case f.State == job.StateRunning:
		q.Index = ByRunning
	case indexedState(f.State):
		q.Index = ByState
	case f.Source != "":
		q.Index = BySource
	case f.Endpoint != "":
		q.Index = ByEndpoint
	case !f.CreatedAfter.IsZero() && !f.CreatedBefore.IsZero():
		q.Index = ByTime // with no state or a dense one, checked in the window
	}
	return q
}

// indexedState reports whether jobs_state_id holds s: the states few jobs
// are in, so that the claims and finishes of deliveries (available →
// running → completed) never write it (sql/*/schema/0023).
func indexedState(s job.State) bool {
	switch s {
	case job.StateScheduled, job.StateRetrying, job.StateCancelled, job.StateDead:
		return true
	}
	return false
}

// EventQuery is one page of events for a driver.
type EventQuery struct {
	Filter job.EventFilter
	Index  ListIndex
	IDRange
}

// eventQuery chooses the index for f: a delivery id names one event per
// source, so its index wins; then the source, then the type.
func eventQuery(f job.EventFilter) EventQuery {
	q := EventQuery{Filter: f, IDRange: idRange("evt", "", f.BeforeID, f.ReceivedAfter)}
	switch {
	case f.DeliveryID != "":
		q.Index = ByDeliveryID
	case f.Source != "":
		q.Index = BySource
	case f.Type != "":
		q.Index = ByType
	case !f.ReceivedAfter.IsZero() && !f.ReceivedBefore.IsZero():
		q.Index = ByTime
	}
	return q
}

// RequestQuery is one page of the inbound request log for a driver.
type RequestQuery struct {
	Filter job.RequestFilter
	Index  ListIndex
	IDRange
}

// requestQuery chooses the index for f. An outcome other than accepted
// has few rows (refused and duplicate rows are capped per source), so its
// index wins over the source's; accepted rows are most of a source's.
func requestQuery(f job.RequestFilter) RequestQuery {
	q := RequestQuery{Filter: f, IDRange: idRange("req", f.AfterID, f.BeforeID, time.Time{})}
	switch {
	case f.Outcome != "" && (f.Outcome != job.OutcomeAccepted || f.Source == ""):
		q.Index = ByOutcome
	case f.Source != "":
		q.Index = BySource
	}
	return q
}

// searchBatch is how many jobs a payload search reads per query.
const searchBatch = 500

// SearchJobs returns the jobs of f whose payload contains text (ASCII
// case-insensitive), newest first: it reads the filter's jobs in keyset
// order, opens their payloads (sealed or kept in their event) and keeps
// the matching ones, until f.Limit match or job.SearchScanLimit are read.
func (s *Store) SearchJobs(ctx context.Context, f job.JobFilter, text string) (job.JobSearch, error) {
	needle := bytes.ToLower([]byte(text))
	var out job.JobSearch
	page := f
	for out.Searched < job.SearchScanLimit {
		page.Limit = min(searchBatch, job.SearchScanLimit-out.Searched)
		jobs, err := s.ListJobs(ctx, page)
		if err != nil {
			return job.JobSearch{}, err
		}
		for _, j := range jobs {
			out.Searched++
			if bytes.Contains(bytes.ToLower(j.Payload), needle) {
				out.Jobs = append(out.Jobs, j)
				if len(out.Jobs) == f.Limit {
					out.ResumeID = j.ID
					return out, nil
				}
			}
		}
		if len(jobs) < page.Limit {
			return out, nil // every job of the filter is searched
		}
		page.BeforeID = jobs[len(jobs)-1].ID
	}
	out.ResumeID = page.BeforeID
	return out, nil
}
