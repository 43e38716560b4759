package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/guard"
)

// dialect is how this store writes guard's statements.
var dialect = guard.Dialect{
	Param:    func(n int) string { return "$" + strconv.Itoa(n) },
	Greatest: "GREATEST",
	Time:     func(t time.Time) any { return t },
}

// AdjustBalances applies op to every counter b names (guard.Steps: the
// order, the capture, each vendor split, each item, each a guarded
// update), all in one pipelined batch: one round trip, run in that order.
//
// It is all or nothing. When one matches no row, the ones that did are
// taken back (their Undo travels with the next round trip) and the error
// says which counter refused: EAmountExceedsRefundable for a Reserve over
// a limit, EInvalidRequest for a capture, vendor or item the order does
// not have (each with its Param), EOrderNotFound. So a caller that carries
// on in the same transaction (a late approval recorded as a discrepancy)
// commits counters as they were.
func (t *tx) AdjustBalances(ctx context.Context, b refund.Balances, op refund.BalanceOp) error {
	steps, err := guard.Steps(dialect, b, op)
	if err != nil {
		return err
	}
	batch := &pgx.Batch{}
	for _, st := range steps {
		batch.Queue(st.Update, st.Args...)
	}
	br := t.q.SendBatch(ctx, batch)
	applied := make([]bool, len(steps))
	failed := -1
	for i, st := range steps {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return t.fail(st.Op, err)
		}
		applied[i] = tag.RowsAffected() > 0
		if !applied[i] && failed < 0 {
			failed = i
		}
	}
	if err := br.Close(); err != nil {
		return t.fail("adjust balances", err)
	}
	if failed < 0 {
		return nil
	}
	for i, st := range steps {
		if applied[i] {
			if err := t.later(ctx, st.Op, nil, st.Undo, st.UndoArgs...); err != nil {
				return err
			}
		}
	}
	st := steps[failed]
	ok, err := t.exists(ctx, st.Op, st.Exists, st.ExistsArgs...)
	if err != nil {
		return err
	}
	return st.Refused(op, ok, b.OrderID)
}
