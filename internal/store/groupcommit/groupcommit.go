// Package groupcommit lets many concurrent writers share one database
// transaction. Durability costs one fsync per commit; committing the requests
// that arrived while the previous commit was running together turns N fsyncs
// into one without making any caller wait for a timer.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// commitTimeout bounds one transaction, so that an unreachable database
// fails the callers instead of holding them forever.
const commitTimeout = 10 * time.Second

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("groupcommit: closed")

// CommitFunc writes items in one transaction and returns one result per item,
// in order. When it returns an error nothing was committed.
type CommitFunc[In, Out any] func(ctx context.Context, items []In) ([]Out, error)

// Committer batches calls to Do into calls to a CommitFunc.
type Committer[In, Out any] struct {
	commit   CommitFunc[In, Out]
	maxBatch int

	requests chan request[In, Out]
	closing  chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

type request[In, Out any] struct {
	ctx  context.Context
	item In
	done chan result[Out]
}

type result[Out any] struct {
	out Out
	err error
}

// New starts workers goroutines that each commit up to maxBatch items at a
// time. One worker suits a single-writer database (SQLite); several let a
// server database (PostgreSQL) run commits in parallel.
func New[In, Out any](commit CommitFunc[In, Out], workers, maxBatch int) *Committer[In, Out] {
	if workers < 1 {
		workers = 1
	}
	if maxBatch < 1 {
		maxBatch = 1
	}
	c := &Committer[In, Out]{
		commit:   commit,
		maxBatch: maxBatch,
		requests: make(chan request[In, Out]),
		closing:  make(chan struct{}),
	}
	c.wg.Add(workers)
	for range workers {
		go c.run()
	}
	return c
}

// Do commits item, possibly together with other callers' items, and returns
// its result once the transaction holding it has committed. If ctx ends
// first Do returns ctx.Err(); the item may still be committed.
func (c *Committer[In, Out]) Do(ctx context.Context, item In) (Out, error) {
	req := request[In, Out]{ctx: ctx, item: item, done: make(chan result[Out], 1)}
	var zero Out
	select {
	case c.requests <- req:
	case <-c.closing:
		return zero, ErrClosed
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.out, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Close stops accepting items and waits for the commits under way.
func (c *Committer[In, Out]) Close() {
	c.once.Do(func() { close(c.closing) })
	c.wg.Wait()
}

func (c *Committer[In, Out]) run() {
	defer c.wg.Done()
	batch := make([]request[In, Out], 0, c.maxBatch)
	for {
		select {
		case req := <-c.requests:
			batch = append(batch[:0], req)
		case <-c.closing:
			return
		}
		// Take whatever else is already waiting, without waiting for more:
		// under load the queue fills while the previous commit runs, and an
		// idle server commits a lone request at once.
	fill:
		for len(batch) < c.maxBatch {
			select {
			case req := <-c.requests:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		c.flush(batch)
	}
}

// flush commits the batch. If the shared transaction fails, each item is
// retried in a transaction of its own so that one bad item fails alone.
func (c *Committer[In, Out]) flush(batch []request[In, Out]) {
	live := batch[:0:0]
	for _, req := range batch {
		if err := req.ctx.Err(); err != nil {
			req.done <- result[Out]{err: err}
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}
	items := make([]In, len(live))
	for i, req := range live {
		items[i] = req.item
	}
	// The commit runs detached from any one caller's context: a caller that
	// gives up must not abort the transaction its neighbours share.
	outs, err := c.commitBounded(items)
	if err == nil && len(outs) != len(items) {
		err = errors.New("groupcommit: commit returned a wrong number of results")
	}
	if err == nil {
		for i, req := range live {
			req.done <- result[Out]{out: outs[i]}
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- result[Out]{err: err}
		return
	}
	for _, req := range live {
		out, err := c.commitBounded([]In{req.item})
		if err == nil && len(out) != 1 {
			err = errors.New("groupcommit: commit returned a wrong number of results")
		}
		if err != nil {
			req.done <- result[Out]{err: err}
			continue
		}
		req.done <- result[Out]{out: out[0]}
	}
}

func (c *Committer[In, Out]) commitBounded(items []In) ([]Out, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	return c.commit(ctx, items)
}
