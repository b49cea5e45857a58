// Package groupcommit lets many concurrent writers share one database
// transaction. Durability costs one fsync per commit; committing the requests
// that arrived while the previous commit was running together turns N fsyncs
// into one without making any caller wait for a timer. Where the database
// can flush a commit after it returns (SQLite's log), the next batch is
// written while the previous one is flushed, and callers are answered once
// their flush is done; a batch is held while a committed one waits for its
// flush to start, so that a flush covers one commit, not several small ones
// (see awaitFlushStart).
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
// in order. When it returns an error nothing was committed. durable, when
// not nil, returns once the transaction is on disk; the callers are
// answered after it, and the next commit may start before.
type CommitFunc[In, Out any] func(ctx context.Context, items []In) (outs []Out, durable Durable, err error)

// Durable waits for a commit to be flushed to disk.
type Durable func(context.Context) error

// ackDepth is how many committed batches may wait for their flush at once.
// A flush covers every commit before it, so a few are enough to keep the
// writer busy; past them the writer waits, which bounds the memory held.
const ackDepth = 4

// Committer batches calls to Do into calls to a CommitFunc.
type Committer[In, Out any] struct {
	commit   CommitFunc[In, Out]
	maxBatch int

	requests chan request[In, Out]
	closing  chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	// acks holds committed batches until their flush; one goroutine
	// answers them in commit order.
	acks  chan pending[In, Out]
	acked sync.WaitGroup

	// unflushed counts the batches in acks whose flush has not started
	// (answer has not taken them); started is signalled when it takes one.
	mu        sync.Mutex
	started   *sync.Cond
	unflushed int
}

// pending is a committed batch waiting for its flush.
type pending[In, Out any] struct {
	live    []request[In, Out]
	outs    []Out
	durable Durable
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
		acks:     make(chan pending[In, Out], ackDepth),
	}
	c.started = sync.NewCond(&c.mu)
	c.wg.Add(workers)
	for range workers {
		go c.run()
	}
	c.acked.Add(1)
	go c.answer()
	return c
}

// Do commits item, possibly together with other callers' items, and returns
// its result once the transaction holding it has committed and is on disk.
// If ctx ends first Do returns ctx.Err(); the item may still be committed.
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

// Close stops accepting items and waits for the commits under way and
// their flushes.
func (c *Committer[In, Out]) Close() {
	c.once.Do(func() {
		close(c.closing)
		c.wg.Wait()
		close(c.acks)
	})
	c.acked.Wait()
}

// answer delivers the results of committed batches once they are flushed.
// When the flush fails the items are committed but not durable: their
// callers get the error, and a retry finds what was kept, if anything.
func (c *Committer[In, Out]) answer() {
	defer c.acked.Done()
	for p := range c.acks {
		c.mu.Lock()
		c.unflushed--
		c.started.Broadcast()
		c.mu.Unlock()
		// durable starts the flush that covers p and every commit before
		// it, or waits for the one under way if that covers p.
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		err := p.durable(ctx)
		cancel()
		for i, req := range p.live {
			if err != nil {
				req.done <- result[Out]{err: err}
			} else {
				req.done <- result[Out]{out: p.outs[i]}
			}
		}
	}
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
		c.awaitFlushStart()
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
	outs, durable, err := c.commitBounded(items)
	if err == nil {
		c.settle(live, outs, durable)
		return
	}
	if len(live) == 1 {
		live[0].done <- result[Out]{err: err}
		return
	}
	for _, req := range live {
		out, durable, err := c.commitBounded([]In{req.item})
		if err != nil {
			req.done <- result[Out]{err: err}
			continue
		}
		c.settle([]request[In, Out]{req}, out, durable)
	}
}

// settle answers a committed batch at once if it is on disk, else hands it
// to answer to wait for its flush.
func (c *Committer[In, Out]) settle(live []request[In, Out], outs []Out, durable Durable) {
	if durable == nil {
		for i, req := range live {
			req.done <- result[Out]{out: outs[i]}
		}
		return
	}
	c.mu.Lock()
	c.unflushed++
	c.mu.Unlock()
	c.acks <- pending[In, Out]{live: live, outs: outs, durable: durable}
}

// awaitFlushStart returns once no committed batch waits for its flush to
// start. A batch committed before then would share that flush, but the
// commit would cost the writer again every page the two batches share
// (each table's and index's last leaf, a few dozen frames of the log);
// waiting gathers the callers that arrive meanwhile into one commit,
// written while that flush runs. Those callers are answered one flush
// later than an eager commit could have answered them, and under load
// earlier, because the writer's time per webhook is what bounds a server
// on two cores. It never waits for a flush to end, and where commits are
// durable when they return (nothing is in acks) it never waits at all.
func (c *Committer[In, Out]) awaitFlushStart() {
	c.mu.Lock()
	for c.unflushed > 0 {
		c.started.Wait()
	}
	c.mu.Unlock()
}

func (c *Committer[In, Out]) commitBounded(items []In) ([]Out, Durable, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	outs, durable, err := c.commit(ctx, items)
	if err == nil && len(outs) != len(items) {
		// A bug, not a database failure: nobody gets a wrong result.
		err = errors.New("groupcommit: commit returned a wrong number of results")
	}
	return outs, durable, err
}
