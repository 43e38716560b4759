package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/guard"
)

// dialect is how this store writes guard's statements.
var dialect = guard.Dialect{
	Name:     "sqlite",
	Param:    func(n int) string { return "?" + strconv.Itoa(n) },
	Greatest: "max",
	Time:     func(t time.Time) any { return nanos(t) },
}

// AdjustBalances applies op to every counter b names (guard.Steps: the
// order, the capture, each vendor split, each item, each a guarded
// update), one after the other.
//
// It is all or nothing. When one matches no row, the ones before it are
// taken back and the error says which counter refused:
// EAmountExceedsRefundable for a Reserve over a limit, EInvalidRequest for
// a capture, vendor or item the order does not have (each with its Param),
// EOrderNotFound. So a caller that carries on in the same transaction (a
// late approval recorded as a discrepancy) commits counters as they were.
//
// A failed Commit, Release or Reverse also fails the Update, even one
// whose fn carries on (refund.Tx.AdjustBalances), as on PostgreSQL, where
// it raises in the server.
func (t *tx) AdjustBalances(ctx context.Context, b refund.Balances, op refund.BalanceOp) error {
	_, err := t.adjust(ctx, b, op, false)
	if err != nil && op != refund.Reserve && t.failed == nil {
		t.failed = err
	}
	return err
}

// adjust runs the guarded updates one by one, taking back those before a
// refused one. With count, the order's update also counts a new refund
// (guard.Counted), and adjust returns the order's new refund count.
func (t *tx) adjust(ctx context.Context, b refund.Balances, op refund.BalanceOp, count bool) (int, error) {
	steps, err := guard.Steps(dialect, b, op)
	if err != nil {
		return 0, err
	}
	if count {
		steps[0] = guard.Counted(steps[0])
	}
	var seq int
	for i, st := range steps {
		var n int64
		if count && i == 0 {
			switch err := t.q.QueryRowContext(ctx, st.Update, st.Args...).Scan(&seq); {
			case err == nil:
				n = 1
			case !errors.Is(err, sql.ErrNoRows):
				return 0, wrap(st.Op, err)
			}
		} else if n, err = t.exec(ctx, st.Op, st.Update, st.Args...); err != nil {
			return 0, err
		}
		if n > 0 {
			continue
		}
		for _, done := range steps[:i] {
			if _, err := t.exec(ctx, done.Op, done.Undo, done.UndoArgs...); err != nil {
				return 0, err
			}
		}
		ok, err := t.exists(ctx, st.Op, st.Exists, st.ExistsArgs...)
		if err != nil {
			return 0, err
		}
		return 0, st.Refused(op, ok, b.OrderID)
	}
	return seq, nil
}
