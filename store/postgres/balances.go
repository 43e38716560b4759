package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/guard"
)

// dialect is how this store writes guard's statements.
var dialect = guard.Dialect{
	Name:     "postgres",
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
//
// Inside Update, Commit, Release and Reverse are held instead (see
// holdBalances): nothing waits for them. When invoice reads must travel
// with them (invoiceReads) they are answered, and a failure then fails
// the Update from the pipe (refund.Tx.AdjustBalances: a final move that
// does not fit commits nothing, even if fn carries on).
func (t *tx) AdjustBalances(ctx context.Context, b refund.Balances, op refund.BalanceOp) error {
	final := t.write && op != refund.Reserve
	var err error
	if final && t.invoiceReads == nil {
		err = t.holdBalances(b, op)
	} else {
		_, err = t.adjust(ctx, b, op, false)
	}
	if err != nil && final {
		t.q.poison(err)
	}
	return err
}

// holdBalances holds op's guarded updates for the transaction's next round
// trip (holdStep), so the transaction fails in the server and commits
// nothing when one does not fit (refund.Tx.AdjustBalances: a refund's
// final move that does not fit fails its Update). A refund's result then
// needs no answered round trip for its counters.
func (t *tx) holdBalances(b refund.Balances, op refund.BalanceOp) error {
	steps, err := guard.Steps(dialect, b, op)
	if err != nil {
		return err
	}
	for _, st := range steps {
		t.holdStep(st, op, b.OrderID, 0)
	}
	t.lockOrder(b.OrderID) // steps[0] is the order's
	return nil
}

// holdStep holds one guarded update, written to raise in the server when
// it matches no row ('over' when the row is there, 'missing' when not),
// which the pipe turns into st's refusal. With seq, st is the order's
// Reserve for a new refund: it also counts the refund (guard.Counted) and
// raises 'count' unless the count it leaves is seq.
func (t *tx) holdStep(st guard.Step, op refund.BalanceOp, orderID string, seq int) {
	update, args, applied := st.Update+` RETURNING 1`, st.Args, `EXISTS (SELECT 1 FROM u) THEN true`
	if seq > 0 {
		update = guard.Counted(st).Update // RETURNING refund_count
		args = append(slices.Clip(args), seq)
		applied = `EXISTS (SELECT 1 FROM u WHERE refund_count = ` + dialect.Param(len(args)) + `) THEN true
			WHEN EXISTS (SELECT 1 FROM u) THEN refundd_refuse('count')`
	}
	refused := func(why string) error {
		if why == "count" {
			return refund.Errorf(refund.EConflict, "", "order %q counted another refund concurrently", orderID)
		}
		return st.Refused(op, why == "over", orderID)
	}
	t.q.hold(held{op: st.Op, refused: refused, scan: scanTrue, args: args,
		sql: `WITH u AS (` + update + `)
		SELECT CASE WHEN ` + applied + `
			WHEN EXISTS (` + st.Found + `) THEN refundd_refuse('over')
			ELSE refundd_refuse('missing') END`})
}

// ReserveRefund is AdjustBalances(b, Reserve) whose update of the order
// also increments its refund counter (guard.Counted): one round trip, or
// none after the order's locked read (holdReserve). A refusal takes the
// counter back with the other counters. The CreateRefund that follows
// takes the refund's number from the column and hands it back with its
// round trip (numberLater).
func (t *tx) ReserveRefund(ctx context.Context, b refund.Balances) (int, error) {
	if t.write && b.OrderID == t.lockedOrder && t.invoiceReads == nil {
		return t.holdReserve(b)
	}
	return t.adjust(ctx, b, refund.Reserve, true)
}

// holdReserve is ReserveRefund on the order this transaction read and
// locked (GetOrderForRefund): its refund count cannot move under it, so
// the sequence number is known without asking, and the guarded updates
// are held for the next round trip like a final move's (holdStep),
// usually the COMMIT with the refund's other writes: a reservation then
// costs no round trip of its own. A refusal is raised in the server, so
// the transaction commits nothing (refund.Tx.ReserveRefund).
//
// The order's update also checks the count it leaves against the number
// handed out, so two refunds can never share one even if a writer
// somewhere moved the count without the lock: that one is refused as a
// concurrent change.
func (t *tx) holdReserve(b refund.Balances) (int, error) {
	steps, err := guard.Steps(dialect, b, refund.Reserve)
	if err != nil {
		return 0, err
	}
	seq := t.lockedCount + 1
	t.holdStep(steps[0], refund.Reserve, b.OrderID, seq)
	for _, st := range steps[1:] {
		t.holdStep(st, refund.Reserve, b.OrderID, 0)
	}
	t.lockedCount, t.numberLater = seq, true
	t.lockOrder(b.OrderID)
	return seq, nil
}

// adjust runs AdjustBalances and, when count is set, ReserveRefund's
// counter; it returns the refund's sequence number.
func (t *tx) adjust(ctx context.Context, b refund.Balances, op refund.BalanceOp, count bool) (int, error) {
	steps, err := guard.Steps(dialect, b, op)
	if err != nil {
		return 0, err
	}
	if count {
		steps[0] = guard.Counted(steps[0])
	}
	batch := &pgx.Batch{}
	for _, st := range steps {
		batch.Queue(st.Update, st.Args...)
	}
	var readInvoices func(pgx.BatchResults) error
	if t.invoiceReads != nil {
		// After the guarded updates, so after the order's row lock (see
		// invoiceReads).
		readInvoices = t.invoiceReads.queue(t, batch)
		t.invoiceReads = nil
	}
	br := t.q.SendBatch(ctx, batch)
	applied := make([]bool, len(steps))
	failed := -1
	var seq int
	for i, st := range steps {
		if count && i == 0 {
			switch err := br.QueryRow().Scan(&seq); {
			case err == nil:
				applied[i] = true
			case !errors.Is(err, pgx.ErrNoRows):
				br.Close()
				return 0, t.fail(st.Op, err)
			}
		} else {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return 0, t.fail(st.Op, err)
			}
			applied[i] = tag.RowsAffected() > 0
		}
		if !applied[i] && failed < 0 {
			failed = i
		}
	}
	if readInvoices != nil && failed < 0 {
		// Kept only when every guarded update matched: a refused one may
		// have taken no lock, and its reads would answer unguarded.
		if err := readInvoices(br); err != nil {
			br.Close()
			return 0, err
		}
	}
	if err := br.Close(); err != nil {
		return 0, t.fail("adjust balances", err)
	}
	if failed < 0 {
		t.lockOrder(b.OrderID)
		if count {
			t.numberLater = true
			if b.OrderID == t.lockedOrder {
				t.lockedCount = seq // a later reservation here numbers after this one
			}
		}
		return seq, nil
	}
	for i, st := range steps {
		if applied[i] {
			if err := t.later(ctx, st.Op, st.Undo, st.UndoArgs...); err != nil {
				return 0, err
			}
		}
	}
	st := steps[failed]
	ok, err := t.exists(ctx, st.Op, st.Exists, st.ExistsArgs...)
	if err != nil {
		return 0, err
	}
	return 0, st.Refused(op, ok, b.OrderID)
}
