// Package schedule fires recurring jobs: a schedule is a cron expression in
// a time zone, an endpoint and a payload; each tick it makes one job.
//
// The store, not memory, is the source of truth. A schedule's row holds the
// next tick to fire and a version; a scheduler plans the due ticks from the
// row and commits them — the jobs, one fire record per tick, and the move to
// the next tick — in one transaction that only succeeds if the version is
// still the one it read. Two schedulers on one PostgreSQL (or one restarted
// after a crash) may plan the same tick; only one commit wins, and the fire
// record's key (schedule, tick) refuses a second fire of a tick outright.
// No leader election, no timer whose loss loses a tick.
//
// Ticks are wall-clock times in the schedule's zone. A wall time that does
// not exist (skipped by a spring-forward change) fires once, at the first
// instant after the gap; a wall time that happens twice (fall-back) fires
// once, at its first occurrence. "@every <d>" is not a wall-clock schedule:
// it fires at the multiples of d since the Unix epoch.
package schedule
