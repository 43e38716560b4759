package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// counter is one pair of refund counters on a row: what is pending, what
// is refunded, and the expression both together may not exceed.
type counter struct {
	pending, refunded, limit string
}

var (
	orderCounter   = counter{"pending_refund_amount", "refunded_amount", "captured_amount - voided_amount - charged_back_amount"}
	amountCounter  = counter{"pending_amount", "refunded_amount", "amount"} // captures, vendors, item amounts
	itemQtyCounter = counter{"pending_qty", "refunded_qty", "qty"}
)

// adjustSQL builds the guarded UPDATE that applies op to the counters of
// table. The i-th counter's amount is parameter $i (from 1); key, the
// row's condition, numbers its parameters after them.
//
//	reserve: pending += x        WHERE limit - refunded - pending >= x
//	commit:  pending -= x, refunded += x   WHERE pending >= x
//	release: pending -= x        WHERE pending >= x
//	reverse: refunded -= x       WHERE refunded >= x
//
// The guard sits in the WHERE clause, so the check and the change are one
// statement. Two transactions reserving on one row queue on its row lock,
// and PostgreSQL evaluates the second one's guard again on the row the
// first committed: they can never both spend the same remainder, however
// many nodes they run on.
func adjustSQL(table, key string, op refund.BalanceOp, cs ...counter) string {
	var set, guard []string
	for i, c := range cs {
		x := fmt.Sprintf("$%d", i+1)
		switch op {
		case refund.Reserve:
			set = append(set, c.pending+" = "+c.pending+" + "+x)
			guard = append(guard, c.limit+" - "+c.refunded+" - "+c.pending+" >= "+x)
		case refund.Commit:
			set = append(set, c.pending+" = "+c.pending+" - "+x, c.refunded+" = "+c.refunded+" + "+x)
			guard = append(guard, c.pending+" >= "+x)
		case refund.Release:
			set = append(set, c.pending+" = "+c.pending+" - "+x)
			guard = append(guard, c.pending+" >= "+x)
		case refund.Reverse:
			set = append(set, c.refunded+" = "+c.refunded+" - "+x)
			guard = append(guard, c.refunded+" >= "+x)
		}
	}
	return "UPDATE " + table + " SET " + strings.Join(set, ", ") + " WHERE " + key + " AND " + strings.Join(guard, " AND ")
}

// undoSQL builds the UPDATE that takes back what adjustSQL's statement
// changed on a row it matched, with the same parameters: no guard, since
// it only restores values the row held a moment before.
func undoSQL(table, key string, op refund.BalanceOp, cs ...counter) string {
	var set []string
	for i, c := range cs {
		x := fmt.Sprintf("$%d", i+1)
		switch op {
		case refund.Reserve:
			set = append(set, c.pending+" = "+c.pending+" - "+x)
		case refund.Commit:
			set = append(set, c.pending+" = "+c.pending+" + "+x, c.refunded+" = "+c.refunded+" - "+x)
		case refund.Release:
			set = append(set, c.pending+" = "+c.pending+" + "+x)
		case refund.Reverse:
			set = append(set, c.refunded+" = "+c.refunded+" + "+x)
		}
	}
	return "UPDATE " + table + " SET " + strings.Join(set, ", ") + " WHERE " + key
}

// step is one guarded update of AdjustBalances: the row, its counters'
// amounts, and what to say when it matches nothing.
type step struct {
	op           string // names the statement in errors
	table, key   string // key numbers its parameters after the counters'
	counters     []counter
	args         []any // the counters' amounts, then the key's
	param        string
	exists       string // finds the row without the guard; args after the amounts
	absent, what string // the error when the row is missing; when over its limit
}

// AdjustBalances applies op to every counter b names, in a fixed order:
// the order, the capture, each vendor split, each item. Every transaction
// takes the order's row first, so two of them on one order never lock its
// other rows in opposite orders.
//
// All of the guarded updates go to PostgreSQL in one pipelined batch (one
// round trip, in that order). A Reserve that would take a counter over its
// limit returns EAmountExceedsRefundable with that counter's Param
// ("amount", "transaction_id", "vendors[<id>]", "items[<id>]"); a capture,
// vendor or item the order does not have is EInvalidRequest with the same
// Param. Either way no counter is left changed: the updates that did match
// are taken back (undoSQL) before the error is returned, so a caller that
// carries on in the same transaction (a late approval recorded as a
// discrepancy) commits counters as they were. Commit, Release and Reverse
// never take a counter below zero; trying is a bug and returns an internal
// error.
func (t *tx) AdjustBalances(ctx context.Context, b refund.Balances, op refund.BalanceOp) error {
	switch op {
	case refund.Reserve, refund.Commit, refund.Release, refund.Reverse:
	default:
		return fmt.Errorf("postgres: adjust balances: unknown operation %d", op)
	}
	if err := checkBalances(b); err != nil {
		return err
	}
	steps := []step{{op: "adjust order balance", table: "orders", key: "id = $2", counters: []counter{orderCounter},
		args: []any{b.Amount, b.OrderID}, param: "amount", exists: `SELECT 1 FROM orders WHERE id = $1`,
		what: fmt.Sprintf("the order has less than %d left", b.Amount)}}
	if b.CaptureID != "" {
		steps = append(steps, step{op: "adjust capture balance", table: "transactions",
			key: "id = $2 AND order_id = $3 AND type = 'capture'", counters: []counter{amountCounter},
			args: []any{b.Amount, b.CaptureID, b.OrderID}, param: "transaction_id",
			exists: `SELECT 1 FROM transactions WHERE id = $1 AND order_id = $2 AND type = 'capture'`,
			absent: fmt.Sprintf("order has no capture transaction %q", b.CaptureID),
			what:   fmt.Sprintf("capture %q has less than %d left", b.CaptureID, b.Amount)})
	}
	for _, v := range b.Vendors {
		steps = append(steps, step{op: "adjust vendor balance", table: "order_vendors",
			key: "order_id = $2 AND vendor_id = $3", counters: []counter{amountCounter},
			args: []any{v.Amount, b.OrderID, v.VendorID}, param: "vendors[" + v.VendorID + "]",
			exists: `SELECT 1 FROM order_vendors WHERE order_id = $1 AND vendor_id = $2`,
			absent: fmt.Sprintf("order has no vendor %q", v.VendorID),
			what:   fmt.Sprintf("vendor %q has less than %d left", v.VendorID, v.Amount)})
	}
	for _, it := range b.Items {
		steps = append(steps, step{op: "adjust item balance", table: "order_items",
			key: "order_id = $3 AND item_id = $4", counters: []counter{itemQtyCounter, amountCounter},
			args: []any{it.Qty, it.Amount, b.OrderID, it.ItemID}, param: "items[" + it.ItemID + "]",
			exists: `SELECT 1 FROM order_items WHERE order_id = $1 AND item_id = $2`,
			absent: fmt.Sprintf("order has no item %q", it.ItemID),
			what:   fmt.Sprintf("item %q has less than %d units or %d left", it.ItemID, it.Qty, it.Amount)})
	}

	batch := &pgx.Batch{}
	for i, st := range steps {
		q := adjustSQL(st.table, st.key, op, st.counters...)
		if i == 0 && !b.At.IsZero() {
			// The order changed: its updated_at moves forward, never back
			// (a node with a late clock must not rewind it).
			q = strings.Replace(q, " WHERE ", ", updated_at = GREATEST(updated_at, $3) WHERE ", 1)
			batch.Queue(q, append(st.args, b.At)...)
			continue
		}
		batch.Queue(q, st.args...)
	}
	br := t.q.SendBatch(ctx, batch)
	applied := make([]bool, len(steps))
	failed := -1
	for i, st := range steps {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return t.fail(st.op, err)
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
			if err := t.later(ctx, st.op, nil, undoSQL(st.table, st.key, op, st.counters...), st.args...); err != nil {
				return err
			}
		}
	}
	st := steps[failed]
	ok, err := t.exists(ctx, st.op, st.exists, st.args[len(st.counters):]...)
	switch {
	case err != nil:
		return err
	case !ok && failed == 0:
		return refund.Errorf(refund.EOrderNotFound, "", "order %q not found", b.OrderID)
	case !ok:
		return refund.Errorf(refund.EInvalidRequest, st.param, "%s", st.absent)
	}
	return miss(op, st.param, st.what)
}

// miss is the error of a guarded update that matched no row although the
// row exists: over the limit for a Reserve, a bug otherwise.
func miss(op refund.BalanceOp, param, what string) error {
	if op == refund.Reserve {
		return refund.Errorf(refund.EAmountExceedsRefundable, param, "refund exceeds what is refundable: %s", what)
	}
	return fmt.Errorf("postgres: %s on %s would take a counter below zero (%s)", op, param, what)
}

// checkBalances refuses amounts a guarded update cannot judge: the
// refund's amount must be positive, its shares not negative.
func checkBalances(b refund.Balances) error {
	if b.Amount <= 0 {
		return refund.Errorf(refund.EInvalidAmount, "amount", "amount must be positive")
	}
	for _, v := range b.Vendors {
		if v.Amount < 0 {
			return refund.Errorf(refund.EInvalidAmount, "vendors["+v.VendorID+"]", "a vendor amount must not be negative")
		}
	}
	for _, it := range b.Items {
		if it.Qty < 0 || it.Amount < 0 {
			return refund.Errorf(refund.EInvalidAmount, "items["+it.ItemID+"]", "an item qty or amount must not be negative")
		}
	}
	return nil
}
