package postgres

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// wireCounter counts what the pool sends PostgreSQL, through pgx's tracer
// hooks: every statement outside a batch is one round trip (BEGIN, COMMIT
// and savepoints included), a batch is one round trip for all of its
// statements.
type wireCounter struct {
	stmts, trips, txs atomic.Uint64
	retries           atomic.Uint64 // batches run again (commitBatch)
}

var (
	_ pgx.QueryTracer = (*wireCounter)(nil)
	_ pgx.BatchTracer = (*wireCounter)(nil)
)

func (c *wireCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.stmts.Add(1)
	c.trips.Add(1)
	c.begins(d.SQL)
	return ctx
}

func (c *wireCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *wireCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.trips.Add(1)
	return ctx
}

func (c *wireCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.stmts.Add(1)
	c.begins(d.SQL)
}

func (c *wireCounter) begins(sql string) {
	if len(sql) >= 5 && strings.EqualFold(sql[:5], "begin") {
		c.txs.Add(1)
	}
}

func (c *wireCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// Counts reports the statements, round trips and transactions this node's
// pool has sent so far, and the batches it ran again.
func (s *Store) Counts() refund.StoreCounts {
	return refund.StoreCounts{Statements: s.count.stmts.Load(), RoundTrips: s.count.trips.Load(), Transactions: s.count.txs.Load(),
		Retries: s.count.retries.Load()}
}
