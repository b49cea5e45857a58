package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// walSyncer makes group commits durable after they return, so that the
// single writer does not sit idle through the fsync. A group commit runs
// with synchronous=NORMAL: its COMMIT writes the transaction's frames to
// the write-ahead log and returns. The syncer then flushes the log file —
// one fsync for every commit written before it started — and only then are
// the commit's callers answered. With powersafe overwrite (SQLite's default
// on unix) synchronous=FULL does exactly this write-then-fsync of the log
// at COMMIT, so an answered commit is as durable as before; what changes
// is that the writer builds the next batch while the disk flushes this one.
//
// A commit is visible to readers before its fsync. A crash of the machine
// in between loses it and every commit after it, none of which was
// answered. A claim may lease its jobs, but its Commit returns only once
// the group commits it could read are flushed (tx.after), so nothing is
// delivered from a webhook that could still be lost: the provider would
// send it again and the receiver would get it twice, under two ids.
//
// The log is flushed through a descriptor of its own: on Linux fsync
// flushes the file, whichever descriptor wrote it. The syncer never opens
// the database file itself (closing a descriptor of it would drop SQLite's
// POSIX locks); the log file carries no locks (they live in the -shm file).
type walSyncer struct {
	path string // the log: the database path + "-wal"
	// flush is fdatasync on the log (a variable for the test of failures).
	flush func(*os.File) error

	mu        sync.Mutex
	file      *os.File
	committed uint64        // commits written to the log
	synced    uint64        // of those, the ones an fsync covered
	syncing   chan struct{} // closed when the fsync under way ends; nil: none
	// failed is the first fsync error. After it nothing more is answered
	// as durable: the kernel may have dropped the pages it could not
	// write, and a later fsync that succeeds would not bring them back
	// (PostgreSQL stops for the same reason).
	failed error
}

func newWALSyncer(dbPath string) *walSyncer {
	return &walSyncer{path: dbPath + "-wal", flush: fdatasync}
}

// wrote records a commit written to the log and returns its number, for
// wait. It is called after COMMIT returns, so every commit it counts was in
// the log before any fsync that counts it starts.
func (w *walSyncer) wrote() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.committed++
	return w.committed
}

// written is the number of the last commit written to the log.
func (w *walSyncer) written() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.committed
}

// wait returns when commit seq is on disk: at once if an fsync already
// covered it, after the one under way if that covers it, else after one it
// starts (waiters that arrive meanwhile share it).
func (w *walSyncer) wait(ctx context.Context, seq uint64) error {
	w.mu.Lock()
	for {
		if w.failed != nil {
			w.mu.Unlock()
			return w.failed
		}
		if w.synced >= seq {
			w.mu.Unlock()
			return nil
		}
		if w.syncing != nil {
			done := w.syncing
			w.mu.Unlock()
			select {
			case <-done:
			case <-ctx.Done():
				return ctx.Err()
			}
			w.mu.Lock()
			continue
		}
		target := w.committed
		done := make(chan struct{})
		w.syncing = done
		w.mu.Unlock()
		err := w.sync()
		w.mu.Lock()
		if err != nil && w.failed == nil {
			w.failed = fmt.Errorf("sqlite: flush the write-ahead log: %w; nothing more is acknowledged until dispatchd restarts", err)
		}
		if err == nil && target > w.synced {
			w.synced = target
		}
		w.syncing = nil
		close(done)
	}
}

// err is the fsync failure that stops acknowledgements, nil if none.
func (w *walSyncer) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// sync flushes the log. The log file is opened once and kept; if it was
// replaced (SQLite deletes it when the last connection closes, after a
// checkpoint that synced its frames into the database) the new one is
// opened, and if there is none there is nothing to flush.
func (w *walSyncer) sync() error {
	cur, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		w.closeFile()
		return nil
	}
	if err != nil {
		return err
	}
	if w.file != nil {
		if held, err := w.file.Stat(); err != nil || !os.SameFile(held, cur) {
			w.closeFile()
		}
	}
	if w.file == nil {
		f, err := os.Open(w.path) // fsync needs no write access
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		w.file = f
	}
	return w.flush(w.file)
}

func (w *walSyncer) closeFile() {
	if w.file != nil {
		w.file.Close()
		w.file = nil
	}
}

// close releases the log's descriptor. No wait may run during or after it.
func (w *walSyncer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closeFile()
}
