package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
)

// maxCached bounds the statement cache; queries built from filters come in
// a few shapes (limits written in add a few), so the bound is only a guard.
const maxCached = 512

// stmtCache keeps one prepared statement per query text on the writer's
// connection, so SQLite parses and plans each write-path query once
// instead of on every call. Only the committer goroutine uses it, so it
// needs no lock.
//
// The statements are prepared on the connection itself (*sql.Conn), not on
// the pool: preparing on a one-connection pool while that connection holds
// the open transaction would wait for a second connection forever, and
// database/sql re-prepares a Conn's statements inside every *sql.Tx. That
// is why the committer drives BEGIN/COMMIT itself on its own connection.
type stmtCache struct {
	conn *sql.Conn
	m    map[string]*sql.Stmt
}

func newStmtCache(conn *sql.Conn) *stmtCache {
	return &stmtCache{conn: conn, m: map[string]*sql.Stmt{}}
}

func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := c.m[query]; ok {
		return st, nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.m) >= maxCached {
		// Full: one statement makes room (map order is arbitrary), so the
		// new one is closed in its turn rather than never.
		for q, old := range c.m {
			old.Close()
			delete(c.m, q)
			break
		}
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// querier runs a transaction's statements: the writer's through the
// statement cache on the committer's connection (inside the transaction
// the committer began there), a reader's on its *sql.Tx. It has the
// *sql.Tx methods the store uses, so the store code reads the same.
//
// The writer's statements never see a caller's cancellation: the batch
// transaction is shared, and an interrupted write makes SQLite roll back
// the whole transaction, every other caller's work with it. A caller that
// gives up still has its fn run to the end (fn is short, and Update waits
// for the batch anyway); only a caller canceled before its turn is skipped.
type querier struct {
	tx    *sql.Tx              // a View's transaction
	pre   map[string]*sql.Stmt // with the readers' prepared statements
	cache *stmtCache           // or the committer's connection
	n     *atomic.Uint64       // statements run, when counted
}

func (q *querier) count() {
	if q.n != nil {
		q.n.Add(1)
	}
}

func (q *querier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q.count()
	if q.tx != nil {
		return q.tx.ExecContext(ctx, query, args...)
	}
	ctx = context.WithoutCancel(ctx)
	st, err := q.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (q *querier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q.count()
	if q.tx != nil {
		if st, ok := q.pre[query]; ok {
			return q.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
		}
		return q.tx.QueryContext(ctx, query, args...)
	}
	ctx = context.WithoutCancel(ctx)
	st, err := q.cache.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext reports a prepare error through Row.Scan, as *sql.Tx
// does, by running the query unprepared on the same connection.
func (q *querier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	q.count()
	if q.tx != nil {
		if st, ok := q.pre[query]; ok {
			return q.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
		}
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	ctx = context.WithoutCancel(ctx)
	st, err := q.cache.get(ctx, query)
	if err != nil {
		return q.cache.conn.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
