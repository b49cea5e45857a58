// Package retry decides when a failed delivery is tried again, and when it
// is given up and the job goes dead.
//
// An endpoint has one [Policy]: a named preset, an explicit list of delays,
// or exponential backoff that runs until a window after the first attempt
// has passed. Presets exist so that an endpoint migrated from another
// service keeps the cadence its receiver was built for: "bevy" is Bevy's
// (first retry 10 minutes after the first attempt, each delay twice the one
// before, for 48 hours), "dispatched" is Dispatched's, and
// "standard-webhooks" is the schedule the Standard Webhooks specification
// recommends, which is also the default.
//
// Three rules shape every schedule:
//
//   - Each delay is jittered by ±20%. After an outage every job that failed
//     during it would otherwise come back at the same instant and knock the
//     recovered endpoint over again.
//   - A receiver's Retry-After is honoured when it asks for more time than
//     the schedule would give, but never beyond the window: a receiver
//     cannot keep a job alive forever by answering Retry-After: 86400 again
//     and again. When the wait would pass the window's end, the retry is
//     made at the window's end, so a policy of "48 hours" gets a last try
//     at 48 hours rather than stopping hours earlier.
//   - Lists end after their last delay, whatever the clock says.
//
// [Policy.Next] takes the clock and the random source as arguments, so
// tests control both and the package holds no state.
package retry
