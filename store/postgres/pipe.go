package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipe runs a transaction's statements, holding back the writes whose
// result nothing waits for (a transition, an event, an audit entry, a
// transaction row, the idempotency key's update) and sending them in one
// pipelined batch with the next statement that does need an answer, or at
// the end of the Update: one round trip for all of them instead of one
// each. Within a transaction the order of statements is unchanged, so what
// a later read sees is what it would have seen.
//
// A held-back write that fails fails the statement it travelled with
// (PostgreSQL skips the rest of the batch and the transaction is aborted
// up to its savepoint), so fn still sees the error before it returns, or
// Update does when it sends the rest.
type pipe struct {
	tx      pgx.Tx
	pending []held
}

// held is one write waiting for the next round trip.
type held struct {
	op    string
	sql   string
	args  []any
	check func(pgconn.CommandTag) error // nil: any success will do
}

// later holds a write back until the next round trip.
func (p *pipe) later(op string, check func(pgconn.CommandTag) error, sql string, args ...any) {
	p.pending = append(p.pending, held{op: op, sql: sql, args: args, check: check})
}

// send starts a batch of the held writes followed by sql (when not "").
func (p *pipe) send(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	for _, h := range p.pending {
		b.Queue(h.sql, h.args...)
	}
	if sql != "" {
		b.Queue(sql, args...)
	}
	return p.tx.SendBatch(ctx, b)
}

// drain reads the held writes' results off br. The error names the write
// that failed and wraps the driver's (its SQLSTATE stays visible).
func (p *pipe) drain(br pgx.BatchResults) error {
	pending := p.pending
	p.pending = nil
	for _, h := range pending {
		tag, err := br.Exec()
		if err == nil && h.check != nil {
			err = h.check(tag)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", h.op, err)
		}
	}
	return nil
}

// flush sends the held writes, and then, in the same round trip, sql when
// it is not "" (a RELEASE SAVEPOINT, say).
func (p *pipe) flush(ctx context.Context, sql string) error {
	if len(p.pending) == 0 {
		if sql == "" {
			return nil
		}
		_, err := p.tx.Exec(ctx, sql)
		return err
	}
	br := p.send(ctx, sql, nil)
	err := p.drain(br)
	if err == nil && sql != "" {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (p *pipe) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if len(p.pending) == 0 {
		return p.tx.Exec(ctx, sql, args...)
	}
	br := p.send(ctx, sql, args)
	if err := p.drain(br); err != nil {
		br.Close()
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (p *pipe) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if len(p.pending) == 0 {
		return p.tx.QueryRow(ctx, sql, args...)
	}
	br := p.send(ctx, sql, args)
	if err := p.drain(br); err != nil {
		br.Close()
		return errRow{err}
	}
	return &batchRow{row: br.QueryRow(), br: br}
}

// Query and SendBatch send the held writes first, on their own: rows are
// read by the caller after this returns.
func (p *pipe) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := p.flush(ctx, ""); err != nil {
		return nil, err
	}
	return p.tx.Query(ctx, sql, args...)
}

func (p *pipe) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := p.flush(ctx, ""); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return p.tx.SendBatch(ctx, b)
}

// batchRow is the last statement of a batch: scanning it ends the batch.
type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
