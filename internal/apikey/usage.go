package apikey

import (
	"context"
	"time"
)

// UsageCounter is what a store that counts requests per key and UTC day
// implements; an Authenticator on one counts every authenticated request.
type UsageCounter interface {
	CountKeyUse(ctx context.Context, keyID string, at time.Time, n int64) error
}

// usage is the requests of one key not yet written, and when its count
// was last written.
type usage struct {
	pending int64
	flushed time.Time
}

// countUse counts one request of the key. Counts are written at most once
// per TouchInterval per key (and when the UTC day changes), so a busy key
// costs one small write a minute; the figures are at most that late, and
// a process that dies loses its unwritten minute.
func (a *Authenticator) countUse(ctx context.Context, id string) {
	uc, ok := a.store.(UsageCounter)
	if !ok {
		return
	}
	now := a.now()
	a.mu.Lock()
	u := a.usage[id]
	if u == nil {
		u = &usage{}
		a.usage[id] = u
	}
	u.pending++
	sameDay := u.flushed.UTC().Format(time.DateOnly) == now.UTC().Format(time.DateOnly)
	if !u.flushed.IsZero() && sameDay && !now.Before(u.flushed) && now.Sub(u.flushed) < TouchInterval {
		a.mu.Unlock()
		return
	}
	n := u.pending
	u.pending, u.flushed = 0, now
	a.mu.Unlock()

	if err := uc.CountKeyUse(ctx, id, now, n); err != nil {
		a.mu.Lock()
		u.pending += n // the next request tries again
		a.mu.Unlock()
	}
}
