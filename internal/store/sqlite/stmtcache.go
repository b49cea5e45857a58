package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"github.com/dispatchd/dispatchd/gen/sqlc/sqlitedb"
)

// stmts keeps each query prepared, once per connection: SQLite compiles a
// statement on every execution otherwise, which was a fifth of the CPU of
// a busy worker. It wraps a *sql.DB, or a transaction on it, as the
// generated queries' DBTX.
//
// The writer has a single connection: a query first met inside a
// transaction cannot be prepared then (preparing needs the connection the
// transaction holds). It runs unprepared and is prepared after the
// transaction, by preparePending.
type stmts struct {
	db      *sql.DB
	mu      sync.Mutex
	cache   map[string]*sql.Stmt
	pending map[string]bool
}

func newStmts(db *sql.DB) *stmts {
	return &stmts{db: db, cache: map[string]*sql.Stmt{}, pending: map[string]bool{}}
}

// lookup returns the prepared statement of query, or nil (and notes it is
// wanted) when there is none yet.
func (s *stmts) lookup(query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.cache[query]
	if st == nil {
		s.pending[query] = true
	}
	return st
}

// preparePending prepares the queries met inside transactions. Call it
// with no transaction open.
func (s *stmts) preparePending(ctx context.Context) {
	s.mu.Lock()
	var want []string
	for q := range s.pending {
		want = append(want, q)
		delete(s.pending, q)
	}
	s.mu.Unlock()
	// Preparing waits for the connection, which another goroutine's
	// transaction may hold while it looks statements up: never hold mu
	// here.
	for _, q := range want {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared, and is wanted again next time
		}
		s.mu.Lock()
		if s.cache[q] == nil {
			s.cache[q] = st
			st = nil
		}
		s.mu.Unlock()
		if st != nil {
			st.Close() // prepared twice at once
		}
	}
}

func (s *stmts) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.cache {
		st.Close()
	}
	s.cache = map[string]*sql.Stmt{}
}

// on returns the DBTX that runs the cached statements in tx (nil: outside
// a transaction).
func (s *stmts) on(tx *sql.Tx) sqlitedb.DBTX { return cachedDBTX{s: s, tx: tx} }

type cachedDBTX struct {
	s  *stmts
	tx *sql.Tx
}

// stmt returns the prepared statement for query in this context, or nil
// to run it unprepared.
func (c cachedDBTX) stmt(ctx context.Context, query string) *sql.Stmt {
	st := c.s.lookup(query)
	if st == nil {
		if c.tx == nil {
			c.s.preparePending(ctx)
			st = c.s.lookup(query)
		}
		if st == nil {
			return nil
		}
	}
	if c.tx == nil {
		return st
	}
	// On the connection the statement was prepared on, this reuses it.
	return c.tx.StmtContext(ctx, st)
}

// statementContext is the context a statement runs with. Every
// transaction here is a write on the single writer, and its statements
// run with a context that cannot be cancelled: with one that can, the
// driver starts a goroutine per statement to interrupt it and
// database/sql one per query to close its rows, a cost every webhook and
// every delivery paid on the serial writer (profiled). A statement of a
// transaction takes microseconds on a local file; the transaction is
// still bounded by its own context, on which database/sql rolls it back
// and SQLite's commit is interrupted, and a lock another process holds by
// busy_timeout. Outside a transaction (reads, and the long batches of
// retention) a cancelled caller still interrupts its statement.
func (c cachedDBTX) statementContext(ctx context.Context) context.Context {
	if c.tx == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// plain is where an unprepared query runs.
func (c cachedDBTX) plain() sqlitedb.DBTX {
	if c.tx != nil {
		return c.tx
	}
	return c.s.db
}

func (c cachedDBTX) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = c.statementContext(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.plain().ExecContext(ctx, query, args...)
}

func (c cachedDBTX) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.plain().PrepareContext(ctx, query)
}

func (c cachedDBTX) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = c.statementContext(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.plain().QueryContext(ctx, query, args...)
}

func (c cachedDBTX) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = c.statementContext(ctx)
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.plain().QueryRowContext(ctx, query, args...)
}
