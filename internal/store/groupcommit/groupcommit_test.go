package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestResultsReachTheirCallers: many callers, one worker; each gets the
// result of its own item.
func TestResultsReachTheirCallers(t *testing.T) {
	c := New(func(_ context.Context, items []int) ([]string, Durable, error) {
		out := make([]string, len(items))
		for i, v := range items {
			out[i] = fmt.Sprint(v * 2)
		}
		return out, nil, nil
	}, 1, 16)
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Do(context.Background(), i)
			if err != nil || got != fmt.Sprint(i*2) {
				t.Errorf("Do(%d) = %q, %v; want %q", i, got, err, fmt.Sprint(i*2))
			}
		}()
	}
	wg.Wait()
}

// TestWaitingCallersShareACommit: callers that queue up while a commit runs
// go into the next commit together, up to the batch limit.
func TestWaitingCallersShareACommit(t *testing.T) {
	release := make(chan struct{})
	var commits, biggest atomic.Int64
	c := New(func(_ context.Context, items []int) ([]int, Durable, error) {
		if commits.Add(1) == 1 {
			<-release // hold the first commit while the others queue
		}
		if n := int64(len(items)); n > biggest.Load() {
			biggest.Store(n)
		}
		return items, nil, nil
	}, 1, 64)
	defer c.Close()

	first := make(chan error, 1)
	go func() { _, err := c.Do(context.Background(), -1); first <- err }()
	for commits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Do(context.Background(), i); err != nil {
				t.Error(err)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue behind the held commit
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := commits.Load(); n > 10 {
		t.Errorf("101 items took %d commits; queued items are not being batched", n)
	}
	if b := biggest.Load(); b > 64 {
		t.Errorf("a commit held %d items, over the limit of 64", b)
	}
}

// TestFailingItemFailsAlone: when a shared commit fails, every item is
// retried alone, so only the bad one gets the error.
func TestFailingItemFailsAlone(t *testing.T) {
	bad := errors.New("bad item")
	release := make(chan struct{})
	var calls atomic.Int64
	c := New(func(_ context.Context, items []string) ([]string, Durable, error) {
		if calls.Add(1) == 1 {
			<-release
		}
		for _, it := range items {
			if it == "bad" {
				return nil, nil, bad
			}
		}
		return items, nil, nil
	}, 1, 64)
	defer c.Close()

	go c.Do(context.Background(), "first")
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	items := []string{"a", "b", "bad", "c", "d"}
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Do(context.Background(), it)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, it := range items {
		if (it == "bad") != errors.Is(errs[i], bad) {
			t.Errorf("item %q: error %v", it, errs[i])
		}
	}
}

func TestCancelledAndClosed(t *testing.T) {
	c := New(func(_ context.Context, items []int) ([]int, Durable, error) { return items, nil, nil }, 2, 8)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a cancelled context: %v, want context.Canceled", err)
	}
	if v, err := c.Do(context.Background(), 7); err != nil || v != 7 {
		t.Errorf("Do = %d, %v; want 7", v, err)
	}
	c.Close()
	if _, err := c.Do(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close: %v, want ErrClosed", err)
	}
}

// TestAnswersWaitForTheFlush: a commit whose flush is still running is not
// answered, and the next commit does not wait for that flush; the answers
// come when it ends.
func TestAnswersWaitForTheFlush(t *testing.T) {
	flushed := make(chan struct{})
	var commits atomic.Int64
	c := New(func(_ context.Context, items []int) ([]int, Durable, error) {
		return items, slowFirstFlush(int(commits.Add(1)), flushed), nil
	}, 1, 8)
	defer c.Close()

	first := make(chan error, 1)
	go func() { _, err := c.Do(context.Background(), 1); first <- err }()
	for commits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() { _, err := c.Do(context.Background(), 2); second <- err }()
	for commits.Load() < 2 {
		time.Sleep(time.Millisecond) // fails by timeout if the writer waits for the flush
	}
	select {
	case err := <-first:
		t.Fatalf("the first item was answered (%v) before its flush", err)
	case err := <-second:
		t.Fatalf("the second item was answered (%v) before the flush before it", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(flushed)
	for _, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchWaitsForTheFlushBeforeIt: while the first batch is flushed the
// second commits at once, but the callers after it wait until the second
// batch's flush starts and then commit together, not one commit each.
func TestBatchWaitsForTheFlushBeforeIt(t *testing.T) {
	flushed := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	c := New(func(_ context.Context, items []int) ([]int, Durable, error) {
		mu.Lock()
		batches = append(batches, append([]int(nil), items...))
		n := len(batches)
		mu.Unlock()
		return items, slowFirstFlush(n, flushed), nil
	}, 1, 8)
	defer c.Close()
	committed := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(batches)
	}

	var wg sync.WaitGroup
	do := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Do(context.Background(), i); err != nil {
				t.Error(err)
			}
		}()
	}
	do(1)
	for committed() < 1 {
		time.Sleep(time.Millisecond)
	}
	do(2)
	for committed() < 2 {
		time.Sleep(time.Millisecond) // fails by timeout if the writer waits for the flush to end
	}
	for i := 3; i <= 5; i++ {
		do(i)
	}
	time.Sleep(50 * time.Millisecond)
	if n := committed(); n != 2 {
		t.Errorf("%d commits while the first flush ran, want 2: the batch after the second would share its flush", n)
	}
	close(flushed)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(batches) != 3 || len(batches[2]) != 3 {
		t.Errorf("batches %v, want [1] [2] and the three callers that waited in one", batches)
	}
}

// TestFailedFlushFailsItsItems: every item of a batch whose flush fails gets
// the error, and is not committed again alone (it was committed).
func TestFailedFlushFailsItsItems(t *testing.T) {
	lost := errors.New("fsync: input/output error")
	release := make(chan struct{})
	var commits atomic.Int64
	c := New(func(_ context.Context, items []int) ([]int, Durable, error) {
		if commits.Add(1) == 1 {
			<-release
			return items, nil, nil
		}
		return items, func(context.Context) error { return lost }, nil
	}, 1, 8)
	defer c.Close()

	go c.Do(context.Background(), 0)
	for commits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	errs := make([]error, 5)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Do(context.Background(), i+1)
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them queue into one batch
	close(release)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, lost) {
			t.Errorf("item %d: %v, want the flush's error", i+1, err)
		}
	}
	if n := commits.Load(); n != 2 {
		t.Errorf("%d commits, want 2 (the held one, then the five together, not retried)", n)
	}
}

// TestCloseWaitsForFlushes: Close returns after the flushes of the commits
// it waited for, and their callers have their answers.
func TestCloseWaitsForFlushes(t *testing.T) {
	flushed := make(chan struct{})
	var committed atomic.Bool
	c := New(func(_ context.Context, items []int) ([]int, Durable, error) {
		committed.Store(true)
		return items, func(context.Context) error { <-flushed; return nil }, nil
	}, 1, 8)
	answer := make(chan error, 1)
	go func() { _, err := c.Do(context.Background(), 1); answer <- err }()
	for !committed.Load() {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a flush was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(flushed)
	<-closed
	if err := <-answer; err != nil {
		t.Fatal(err)
	}
}

// slowFirstFlush is the flush of the nth commit: the first one's fsync is
// slow, it ends when flushed is closed.
func slowFirstFlush(n int, flushed <-chan struct{}) Durable {
	return func(context.Context) error {
		if n == 1 {
			<-flushed
		}
		return nil
	}
}
