package job

import "time"

// Overlap policies of a schedule: what a tick does while the job of the
// previous fire is unfinished.
const (
	// OverlapAllow fires a new job on every tick (the default).
	OverlapAllow = "allow"
	// OverlapSkip records the tick as skipped while the previous fire's
	// job is pending or running.
	OverlapSkip = "skip"
	// OverlapReplace coalesces the tick into the previous fire's job while
	// that job is still pending: its payload is replaced, no job is added.
	OverlapReplace = "replace"
)

// Catch-up policies of a schedule besides a duration: what the scheduler
// does with ticks that came due while no scheduler ran.
const (
	// CatchUpLatest fires only the latest missed tick (the default).
	CatchUpLatest = "latest"
	// CatchUpNone fires no missed tick.
	CatchUpNone = "none"
)

// Outcomes of a schedule fire.
const (
	// FireCreated: the tick made a new job.
	FireCreated = "created"
	// FireCoalesced: the tick replaced the payload of the previous fire's
	// pending job (overlap replace).
	FireCoalesced = "coalesced"
	// FireSkipped: the previous fire's job was unfinished (overlap skip).
	FireSkipped = "skipped"
)

// ScheduleSpec is a recurring job as declared in the file or through the
// API. The schedule package validates it and computes its ticks.
type ScheduleSpec struct {
	Name string `json:"name"`
	// Cron is a 5-field expression, optionally with a leading seconds
	// field, a macro (@hourly, @daily…) or "@every <duration>".
	Cron string `json:"cron"`
	// TimeZone is an IANA zone name; empty means UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// Endpoint receives a job on every fire.
	Endpoint string `json:"endpoint"`
	// Payload is the JSON each fire's job carries.
	Payload []byte `json:"payload"`
	// Overlap is OverlapAllow (empty), OverlapSkip or OverlapReplace.
	Overlap string `json:"overlap,omitempty"`
	// CatchUp is CatchUpLatest (empty), CatchUpNone or a Go duration: the
	// window of missed ticks to fire.
	CatchUp string `json:"catch_up,omitempty"`
	// Jitter delays each fire's job by a random time below it; the tick
	// (the fire's identity) is not moved.
	Jitter time.Duration `json:"jitter,omitempty"`
}

// NewSchedule is a spec to store with its first tick, computed by the
// schedule package from the time of the change.
type NewSchedule struct {
	Spec     ScheduleSpec
	NextTick time.Time
}

// Schedule is a stored schedule and where it stands.
type Schedule struct {
	Spec   ScheduleSpec
	Origin string // OriginConfig or OriginAPI
	Paused bool
	// NextTick is the next tick to fire, in UTC.
	NextTick time.Time
	// LastTick is the tick fired last (zero before the first fire), and
	// LastJobID the job it made or coalesced into (empty when skipped).
	LastTick    time.Time
	LastJobID   string
	LastFiredAt time.Time
	// Version counts the changes of the row; a fire commits only if the
	// version it planned from is still the current one.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ScheduleTick is one tick to fire and the job it makes if it creates one.
type ScheduleTick struct {
	Tick time.Time
	Job  Job
}

// ScheduleFiring asks the store to fire ticks of a schedule in one
// transaction.
type ScheduleFiring struct {
	Name string
	// Version is the schedule's version the ticks were planned from; the
	// firing commits only if it is still current. Ignored when Manual.
	Version int64
	// NextTick becomes the schedule's next tick. Ignored when Manual.
	NextTick time.Time
	// Manual fires outside the cron (a trigger): the next tick stays.
	Manual  bool
	Overlap string
	Ticks   []ScheduleTick
	Now     time.Time
}

// ScheduleFire is the record of one fired tick: (Schedule, Tick) is unique.
type ScheduleFire struct {
	Schedule string
	Tick     time.Time
	// JobID is the job the fire made or coalesced into; empty when skipped.
	JobID   string
	Outcome string
	Manual  bool
	FiredAt time.Time
}
