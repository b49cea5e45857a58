package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/dispatchd/dispatchd/internal/job"
)

// Options configure a Runner.
type Options struct {
	Log *slog.Logger
	// Now is the clock (time.Now outside tests).
	Now func() time.Time
	// Rand returns a number in [0, 1) for jitter (math/rand/v2 by default).
	Rand func() float64
	// Grace is how late a tick may be seen and still be on time
	// (DefaultGrace if zero): see Spec.Plan.
	Grace time.Duration
	// Interval bounds the wait between passes (1 s if zero), so that a
	// schedule created by another process is seen soon.
	Interval time.Duration
}

// Runner fires the due ticks of every schedule. Any number of runners may
// share a store: each tick fires once (see the package comment).
type Runner struct {
	store Store
	o     Options
}

// NewRunner returns a runner on s.
func NewRunner(s Store, o Options) *Runner {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	return &Runner{store: s, o: o}
}

// Run makes passes until ctx ends, waiting between them until the
// earliest next tick (at most Interval).
func (r *Runner) Run(ctx context.Context) error {
	for {
		next, err := r.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.o.Interval
		if err != nil {
			r.o.Log.Warn("schedule pass failed", "err", err)
		} else if d := next.Sub(r.o.Now()); !next.IsZero() && d < wait {
			wait = max(d, 0)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// RunOnce fires every due tick at the clock's now and returns the
// earliest next tick of the running schedules (zero if there is none),
// with the errors of the schedules it could not fire.
func (r *Runner) RunOnce(ctx context.Context) (time.Time, error) {
	ss, err := r.store.ListSchedules(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var earliest time.Time
	var errs []error
	for _, s := range ss {
		if s.Paused {
			continue
		}
		// One schedule's failure does not hold the others back.
		next, err := r.fire(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", s.Spec.Name, err))
			continue
		}
		if !next.IsZero() && (earliest.IsZero() || next.Before(earliest)) {
			earliest = next
		}
	}
	return earliest, errors.Join(errs...)
}

// fire fires s's due ticks and returns its next tick. When another
// firing (or an edit) got in first, s is read again and planned again.
func (r *Runner) fire(ctx context.Context, s job.Schedule) (time.Time, error) {
	for range 3 {
		now := r.o.Now()
		if s.NextTick.After(now) {
			return s.NextTick, nil
		}
		spec, err := Compile(s.Spec)
		if err != nil {
			// Specs are checked before they are stored; one that no
			// longer compiles (a zone removed from tzdata) waits.
			r.o.Log.Error("schedule spec does not compile", "schedule", s.Spec.Name, "err", err)
			return time.Time{}, nil
		}
		p := spec.Plan(s.NextTick, now, r.o.Grace)
		f := job.ScheduleFiring{
			Name: s.Spec.Name, Version: s.Version, NextTick: p.Next,
			Overlap: s.Spec.Overlap, Now: now,
		}
		for _, tick := range p.Ticks {
			f.Ticks = append(f.Ticks, job.ScheduleTick{Tick: tick, Job: r.jobOf(spec, tick, now)})
		}
		fires, ok, err := r.store.FireSchedule(ctx, f)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			if len(p.Ticks) == 0 {
				r.o.Log.Info("schedule ticks missed", "schedule", s.Spec.Name, "from", s.NextTick, "next", p.Next)
			}
			for _, fr := range fires {
				r.o.Log.Info("schedule fired", "schedule", fr.Schedule, "tick", fr.Tick, "outcome", fr.Outcome, "job_id", fr.JobID)
			}
			return p.Next, nil
		}
		if s, err = r.store.GetSchedule(ctx, s.Spec.Name); err != nil {
			if job.ErrorCode(err) == job.CodeNotFound {
				return time.Time{}, nil
			}
			return time.Time{}, err
		}
		if s.Paused {
			return time.Time{}, nil
		}
	}
	// Still contended after three tries: the next pass tries again.
	return s.NextTick, nil
}

// Trigger fires the schedule now, outside its cron: the overlap policy
// applies, the next tick does not move, and a paused schedule fires too.
func Trigger(ctx context.Context, st Store, name string, now time.Time, rnd func() float64) (job.ScheduleFire, error) {
	s, err := st.GetSchedule(ctx, name)
	if err != nil {
		return job.ScheduleFire{}, err
	}
	spec, err := Compile(s.Spec)
	if err != nil {
		return job.ScheduleFire{}, err
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	r := &Runner{o: Options{Rand: rnd}}
	fires, ok, err := st.FireSchedule(ctx, job.ScheduleFiring{
		Name: name, Manual: true, Overlap: s.Spec.Overlap, Now: now,
		Ticks: []job.ScheduleTick{{Tick: now, Job: r.jobOf(spec, now, now)}},
	})
	if err != nil {
		return job.ScheduleFire{}, err
	}
	if !ok || len(fires) != 1 {
		return job.ScheduleFire{}, job.Errorf(job.CodeFailedPrecondition, "schedule %q already fired at %s; try again", name, now.Format(time.RFC3339Nano))
	}
	return fires[0], nil
}

// IdempotencyKey is the idempotency key of the job of a schedule's tick:
// "schedule:<name>:<tick, RFC 3339 in UTC>".
func IdempotencyKey(name string, tick time.Time) string {
	return "schedule:" + name + ":" + tick.UTC().Format(time.RFC3339Nano)
}

// jobOf is the job a tick makes. Jitter moves its run time, never the
// tick: the tick is the fire's identity.
func (r *Runner) jobOf(spec *Spec, tick, now time.Time) job.Job {
	runAt := tick
	if spec.Jitter > 0 {
		// Whole milliseconds: both engines keep the time exactly.
		runAt = runAt.Add(time.Duration(r.o.Rand() * float64(spec.Jitter)).Truncate(time.Millisecond))
	}
	payload := spec.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	j := job.Job{
		ID:        job.NewID("job", now),
		Endpoint:  spec.Endpoint,
		Payload:   payload,
		State:     job.StateAvailable,
		RunAt:     runAt,
		CreatedAt: now,
		UpdatedAt: now,
		// The fire's identity on the job too: the endpoint's unique
		// idempotency keys refuse a second job for one tick even apart
		// from the fire records, and a reader can tell which tick a job
		// is for.
		IdempotencyKey: IdempotencyKey(spec.Name, tick),
	}
	if runAt.After(now) {
		j.State = job.StateScheduled
	}
	if spec.Overlap == job.OverlapReplace {
		// The store's coalescing does the replacing: a pending job of the
		// endpoint with this key takes the new payload instead.
		j.CoalesceKey = "schedule/" + spec.Name
	}
	return j
}
