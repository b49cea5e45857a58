package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// consoleStore is the slice of the store the console's API reads.
type consoleStore interface {
	job.Store
	RecordRequest(ctx context.Context, r job.InboundRequest) error
	ListRequests(ctx context.Context, f job.RequestFilter) ([]job.InboundRequest, error)
	GetRequest(ctx context.Context, id string) (job.InboundRequest, error)
	GetStats(ctx context.Context, q job.StatsQuery) (job.Stats, error)
	BulkJobs(ctx context.Context, f job.JobFilter, a job.BulkAction, dryRun bool, now time.Time) (job.BulkResult, error)
	RecordAudit(ctx context.Context, e job.AuditEntry) error
	ListAuditEntries(ctx context.Context, beforeID string, limit int) ([]job.AuditEntry, error)
	CountKeyUse(ctx context.Context, keyID string, at time.Time, n int64) error
	ListKeyUsage(ctx context.Context, since time.Time) ([]job.KeyUsage, error)
}

func exerciseConsole(t *testing.T, setup setupFunc) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	open := func(t *testing.T) consoleStore {
		s, _ := setup(t)
		cs, ok := s.(consoleStore)
		if !ok {
			t.Fatalf("%T does not implement the console's store methods", s)
		}
		if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{spec("ep")}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	refused := func(source string, known bool, at time.Time) job.InboundRequest {
		return job.InboundRequest{
			ID: job.NewID("req", at), Source: source, KnownSource: known, ReceivedAt: at, Outcome: "unauthorized",
			Reason: "signature (bearer): token does not match", StatusCode: 401, Size: 9, RemoteAddr: "192.0.2.7",
			Headers: map[string]string{"content-type": "application/json"}, BodyExcerpt: []byte(`{"forged":1}`),
		}
	}

	t.Run("RequestLog", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// An accepted webhook, then the same delivery again: both logged
		// in the event's commit.
		for i := range 2 {
			e := newEvent("src", "d-1", t0.Add(time.Duration(i)*time.Second), "ep")
			r := job.InboundRequest{ID: job.NewID("req", t0), Source: "src", KnownSource: true, ReceivedAt: e.Event.ReceivedAt, Size: int64(len(e.Event.Body))}
			e.Request = &r
			if _, err := s.StoreEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordRequest(ctx, refused("src", true, t0.Add(2*time.Second))); err != nil {
			t.Fatal(err)
		}
		rs, err := s.ListRequests(ctx, job.RequestFilter{Source: "src", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 3 {
			t.Fatalf("ListRequests: %d requests, want 3: %+v", len(rs), rs)
		}
		got := []string{rs[0].Outcome, rs[1].Outcome, rs[2].Outcome}
		if fmt.Sprint(got) != "[unauthorized duplicate accepted]" {
			t.Errorf("outcomes newest first = %v", got)
		}
		if rs[2].EventID == "" || rs[1].EventID != rs[2].EventID || rs[1].Reason != "duplicate of event "+rs[2].EventID {
			t.Errorf("duplicate %+v does not name the first event %q", rs[1], rs[2].EventID)
		}
		one, err := s.GetRequest(ctx, rs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if one.Reason != "signature (bearer): token does not match" || string(one.BodyExcerpt) != `{"forged":1}` ||
			one.Headers["content-type"] != "application/json" || one.RemoteAddr != "192.0.2.7" || one.StatusCode != 401 {
			t.Errorf("GetRequest = %+v", one)
		}
		if _, err := s.GetRequest(ctx, "req_nope"); job.ErrorCode(err) != job.CodeNotFound {
			t.Errorf("GetRequest of an unknown id: %v, want not_found", err)
		}
		byOutcome, _ := s.ListRequests(ctx, job.RequestFilter{Outcome: "accepted", Limit: 10})
		newer, _ := s.ListRequests(ctx, job.RequestFilter{AfterID: rs[1].ID, Limit: 10})
		older, _ := s.ListRequests(ctx, job.RequestFilter{BeforeID: rs[1].ID, Limit: 10})
		if len(byOutcome) != 1 || len(newer) != 1 || newer[0].ID != rs[0].ID || len(older) != 1 || older[0].ID != rs[2].ID {
			t.Errorf("filters: outcome %d (want 1), after %v, before %v", len(byOutcome), newer, older)
		}
	})

	t.Run("RequestLogIsBounded", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// Refused requests beyond the bound push out the oldest; unknown
		// source names share one bound however many there are.
		extra := 5
		for i := range job.RefusedPerSource + extra {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			if err := s.RecordRequest(ctx, refused("src", true, at)); err != nil {
				t.Fatal(err)
			}
			if err := s.RecordRequest(ctx, refused(fmt.Sprintf("made-up-%d", i), false, at)); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.ListRequests(ctx, job.RequestFilter{Limit: 10 * job.RefusedPerSource})
		if err != nil {
			t.Fatal(err)
		}
		known := 0
		for _, r := range all {
			if r.Source == "src" {
				known++
			}
		}
		if known != job.RefusedPerSource || len(all) != 2*job.RefusedPerSource {
			t.Errorf("kept %d of source src and %d in all, want %d and %d", known, len(all), job.RefusedPerSource, 2*job.RefusedPerSource)
		}
		// The stats still count every one of them.
		st, err := s.GetStats(ctx, job.StatsQuery{Source: "src", Since: t0.Add(-time.Minute), Bucket: time.Minute, Now: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, p := range st.Points {
			n += p.Received["unauthorized"]
		}
		if n != int64(job.RefusedPerSource+extra) {
			t.Errorf("stats count %d refused, want %d", n, job.RefusedPerSource+extra)
		}
		// Past their retention, refused rows are pruned.
		if _, _, err := s.Prune(ctx, job.PruneCutoffs{FinishedBefore: t0, DeadBefore: t0, EventsBefore: t0, RefusedBefore: t0.Add(time.Hour), Batch: 500}); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.ListRequests(ctx, job.RequestFilter{Limit: 10}); len(left) != 0 {
			t.Errorf("%d requests left after pruning", len(left))
		}
	})

	t.Run("Stats", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		e := newEvent("src", "d-1", t0.Add(90*time.Second), "ep")
		r := job.InboundRequest{ID: job.NewID("req", t0), Source: "src", KnownSource: true, ReceivedAt: e.Event.ReceivedAt}
		e.Request = &r
		if _, err := s.StoreEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(5 * time.Minute)
		st, err := s.GetStats(ctx, job.StatsQuery{Since: t0, Bucket: time.Minute, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Points) != 6 {
			t.Fatalf("%d points, want one per minute from 07:00 to 07:05", len(st.Points))
		}
		if st.Points[1].Received["accepted"] != 1 || st.Points[0].Received["accepted"] != 0 {
			t.Errorf("points: %+v", st.Points[:2])
		}
		if st.QueueDepth != 1 || st.OldestReadyWait != now.Sub(e.Event.ReceivedAt) {
			t.Errorf("queue depth %d, oldest wait %v; want 1 and %v", st.QueueDepth, st.OldestReadyWait, now.Sub(e.Event.ReceivedAt))
		}
	})

	// Attempts keep what was sent and the Retry-After asked for, and the
	// stats of one endpoint count its attempts only: those naming it, and
	// those recorded without an endpoint (before attempts named it),
	// found through their job.
	t.Run("AttemptTimelineAndEndpointStats", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.UpsertEndpoints(ctx, []job.EndpointSpec{spec("ep"), spec("other")}, job.OriginConfig, t0); err != nil {
			t.Fatal(err)
		}
		var jobs []job.Job
		for i, ep := range []string{"ep", "ep", "other"} {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			jobs = append(jobs, job.Job{ID: job.NewID("job", at), Endpoint: ep, Payload: []byte(`{}`), State: job.StateAvailable, RunAt: at, CreatedAt: at, UpdatedAt: at})
		}
		if _, err := s.DispatchJobs(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Second)
		var fs []job.Finish
		for _, ep := range []string{"ep", "other"} {
			claimed, err := s.ClaimJobs(ctx, job.Claim{Endpoint: ep, LeaseID: "l-" + ep, Now: now, LeaseUntil: now.Add(time.Minute), Max: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range claimed {
				fs = append(fs, job.Finish{JobID: j.ID, LeaseID: "l-" + ep, State: job.StateRetrying, RunAt: now.Add(time.Hour), LastError: "busy", Now: now,
					Attempt: job.Attempt{ID: job.NewID("att", now), Number: 1, StartedAt: now, Latency: 3 * time.Millisecond, StatusCode: 503, Outcome: "retry",
						Endpoint: ep, RequestHeaders: map[string]string{"Webhook-Id": j.ID, "Authorization": "Bearer ***"}, RetryAfter: 2 * time.Minute}})
			}
		}
		if len(fs) != 3 {
			t.Fatalf("claimed %d jobs, want 3", len(fs))
		}
		// The second job of ep: an attempt recorded as before 0017, with
		// neither endpoint nor headers nor Retry-After.
		for i := range fs {
			if fs[i].JobID == jobs[1].ID {
				fs[i].Attempt.Endpoint, fs[i].Attempt.RequestHeaders, fs[i].Attempt.RetryAfter = "", nil, 0
				fs[i].Attempt.Latency = 9 * time.Millisecond
			}
		}
		if ok, err := s.FinishJobs(ctx, fs); err != nil || len(ok) != 3 || !ok[0] || !ok[1] || !ok[2] {
			t.Fatalf("FinishJobs = %v, %v", ok, err)
		}
		atts, err := s.ListAttempts(ctx, jobs[0].ID)
		if err != nil || len(atts) != 1 {
			t.Fatalf("ListAttempts = %+v, %v", atts, err)
		}
		a := atts[0]
		if a.Endpoint != "ep" || a.RetryAfter != 2*time.Minute || a.StatusCode != 503 ||
			len(a.RequestHeaders) != 2 || a.RequestHeaders["Webhook-Id"] != jobs[0].ID || a.RequestHeaders["Authorization"] != "Bearer ***" {
			t.Errorf("attempt = %+v: want endpoint ep, its headers and a 2m Retry-After", a)
		}
		old, err := s.ListAttempts(ctx, jobs[1].ID)
		if err != nil || len(old) != 1 || old[0].Endpoint != "" || old[0].RequestHeaders != nil || old[0].RetryAfter != 0 {
			t.Errorf("attempt without the new fields = %+v, %v: want them unknown", old, err)
		}
		st, err := s.GetStats(ctx, job.StatsQuery{Endpoint: "ep", Since: t0, Bucket: time.Minute, Now: t0.Add(2 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		var retries int64
		for _, p := range st.Points {
			retries += p.Deliveries["retry"]
		}
		if retries != 2 || st.Points[0].Deliveries["retry"] != 2 {
			t.Errorf("ep's stats count %d retries (points %+v), want its 2 attempts in the first minute", retries, st.Points)
		}
		if st.LatencyP50 != 3*time.Millisecond || st.LatencyP95 != 9*time.Millisecond {
			t.Errorf("ep's latencies p50 %v p95 %v, want 3ms and 9ms (both its attempts)", st.LatencyP50, st.LatencyP95)
		}
		all, err := s.GetStats(ctx, job.StatsQuery{Since: t0, Bucket: time.Minute, Now: t0.Add(2 * time.Minute)})
		if err != nil || all.Points[0].Deliveries["retry"] != 3 {
			t.Errorf("every endpoint's stats: %+v, %v; want 3 retries", all.Points, err)
		}
	})

	t.Run("BulkJobs", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// More jobs than one batch holds.
		var jobs []job.Job
		for i := range 1203 {
			at := t0.Add(time.Duration(i) * time.Millisecond)
			jobs = append(jobs, job.Job{ID: job.NewID("job", at), Endpoint: "ep", Payload: []byte(`{}`), State: job.StateAvailable, RunAt: at, CreatedAt: at, UpdatedAt: at})
		}
		if _, err := s.DispatchJobs(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		f := job.JobFilter{Endpoint: "ep", CreatedBefore: t0.Add(1200 * time.Millisecond)}
		dry, err := s.BulkJobs(ctx, f, job.BulkCancel, true, t0.Add(time.Hour))
		if err != nil || dry != (job.BulkResult{Matched: 1200}) {
			t.Fatalf("dry run = %+v, %v; want 1200 matched, none affected", dry, err)
		}
		if j, _ := s.GetJob(ctx, jobs[0].ID); j.State != job.StateAvailable {
			t.Errorf("a dry run changed job state to %s", j.State)
		}
		res, err := s.BulkJobs(ctx, f, job.BulkCancel, false, t0.Add(time.Hour))
		if err != nil || res != (job.BulkResult{Matched: 1200, Affected: 1200}) {
			t.Fatalf("cancel = %+v, %v", res, err)
		}
		if j, _ := s.GetJob(ctx, jobs[1202].ID); j.State != job.StateAvailable {
			t.Errorf("a job outside the filter is %s", j.State)
		}
		// Retry applies to the cancelled ones; replay to dead ones only.
		if res, err := s.BulkJobs(ctx, job.JobFilter{Endpoint: "ep"}, job.BulkReplay, false, t0.Add(2*time.Hour)); err != nil || res.Matched != 0 {
			t.Errorf("replay with no dead job = %+v, %v", res, err)
		}
		res, err = s.BulkJobs(ctx, job.JobFilter{State: job.StateCancelled}, job.BulkRetry, false, t0.Add(2*time.Hour))
		if err != nil || res != (job.BulkResult{Matched: 1200, Affected: 1200}) {
			t.Fatalf("retry = %+v, %v", res, err)
		}
		if j, _ := s.GetJob(ctx, jobs[7].ID); j.State != job.StateAvailable || !j.RunAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("after a bulk retry: %s due %v", j.State, j.RunAt)
		}
	})

	t.Run("AuditAndKeyUsage", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for i := range 3 {
			at := t0.Add(time.Duration(i) * time.Second)
			e := job.AuditEntry{ID: job.NewID("aud", at), At: at, KeyID: "key_1", KeyName: "ops", Action: fmt.Sprintf("endpoint.pause.%d", i), Target: "ep"}
			if err := s.RecordAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.ListAuditEntries(ctx, "", 2)
		if err != nil || len(page) != 2 || page[0].Action != "endpoint.pause.2" || page[0].KeyName != "ops" || !page[0].At.Equal(t0.Add(2*time.Second)) {
			t.Fatalf("first page = %+v, %v", page, err)
		}
		rest, _ := s.ListAuditEntries(ctx, page[1].ID, 2)
		if len(rest) != 1 || rest[0].Action != "endpoint.pause.0" {
			t.Errorf("second page = %+v", rest)
		}

		s.CountKeyUse(ctx, "key_1", t0, 3)
		s.CountKeyUse(ctx, "key_1", t0.Add(time.Hour), 2)
		s.CountKeyUse(ctx, "key_1", t0.Add(24*time.Hour), 1)
		s.CountKeyUse(ctx, "key_1", t0.Add(-48*time.Hour), 9)
		us, err := s.ListKeyUsage(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(us) != "[{key_1 2026-11-23 5} {key_1 2026-11-24 1}]" {
			t.Errorf("ListKeyUsage = %v", us)
		}
	})
}
