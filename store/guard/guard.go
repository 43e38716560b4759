// Package guard writes the guarded counter updates of
// refund.Tx.AdjustBalances for both SQL stores, which differ only in how
// they number parameters: the statements, the order they run in, how a
// failed one is taken back and what error it becomes are written once,
// here. It runs nothing; each store runs the statements its own way
// (SQLite one by one, PostgreSQL as one pipelined batch).
package guard

import (
	"fmt"
	"strings"
	"sync"
	"time"

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

// Dialect is what the stores' SQL differs in here.
type Dialect struct {
	Name     string              // tells the dialects apart: their statement texts are kept by it (textsOf)
	Param    func(n int) string  // the n-th parameter (from 1): "$n", "?n"
	Greatest string              // the larger of two values: GREATEST, max
	Time     func(time.Time) any // a time as a parameter
}

// Step is one guarded update of AdjustBalances.
type Step struct {
	Op string // names the statement in errors: "adjust order balance", ...

	// Update applies op with its guard, with Args; Undo takes back what
	// Update changed on a row it matched (no guard: it restores values the
	// row held a moment before), with UndoArgs.
	Update, Undo   string
	Args, UndoArgs []any

	// Exists finds the row without the guard, with ExistsArgs: whether a
	// Step that matched nothing missed its row or its limit.
	Exists     string
	ExistsArgs []any
	// Found is Exists numbered as Update's key (it takes Args), so a store
	// can judge a refused Update in the same statement.
	Found string

	param        string        // the error's Param
	absent, what func() string // the error when the row is missing (nil: the order); over its limit
}

// Steps returns the guarded updates that apply op to every counter b
// names, in the order they must run: the order, the capture, each vendor
// split, each item. Every transaction takes the order's row first, so two
// of them on one order never lock its other rows in opposite orders.
// When b.At is set, the order's updated_at moves to it, never back (a
// node with a late clock must not rewind it).
//
// The update of each row is
//
//	reserve: pending += x        WHERE limit - refunded - pending >= x
//	commit:  pending -= x, refunded += x   WHERE pending >= x
//	release: pending -= x        WHERE pending >= x
//	reverse: refunded -= x       WHERE refunded >= x
//
// The guard sits in the WHERE clause, so the check and the change are one
// statement. Two transactions on one row queue on its row lock (SQLite:
// its one writer), and the second's guard is judged on the row the first
// committed: they can never both spend the same remainder.
func Steps(d Dialect, b refund.Balances, op refund.BalanceOp) ([]Step, error) {
	switch op {
	case refund.Reserve, refund.Commit, refund.Release, refund.Reverse:
	default:
		return nil, fmt.Errorf("adjust balances: unknown operation %d", op)
	}
	if err := check(b); err != nil {
		return nil, err
	}
	at := !b.At.IsZero()
	order := step(d, op, orderRows, at, []any{b.Amount}, []any{b.OrderID}, "amount", nil,
		func() string { return fmt.Sprintf("the order has less than %d left", b.Amount) })
	if at {
		order.Args = append(order.Args, d.Time(b.At))
	}
	steps := []Step{order}
	if b.CaptureID != "" {
		steps = append(steps, step(d, op, captureRows, false, []any{b.Amount}, []any{b.CaptureID, b.OrderID}, "transaction_id",
			func() string { return fmt.Sprintf("order has no capture transaction %q", b.CaptureID) },
			func() string { return fmt.Sprintf("capture %q has less than %d left", b.CaptureID, b.Amount) }))
	}
	for _, v := range b.Vendors {
		steps = append(steps, step(d, op, vendorRows, false, []any{v.Amount}, []any{b.OrderID, v.VendorID}, "vendors["+v.VendorID+"]",
			func() string { return fmt.Sprintf("order has no vendor %q", v.VendorID) },
			func() string { return fmt.Sprintf("vendor %q has less than %d left", v.VendorID, v.Amount) }))
	}
	for _, it := range b.Items {
		steps = append(steps, step(d, op, itemRows, false, []any{it.Qty, it.Amount}, []any{b.OrderID, it.ItemID}, "items["+it.ItemID+"]",
			func() string { return fmt.Sprintf("order has no item %q", it.ItemID) },
			func() string {
				return fmt.Sprintf("item %q has less than %d units or %d left", it.ItemID, it.Qty, it.Amount)
			}))
	}
	return steps, nil
}

// Counted is the order's Reserve step (the first of Steps) for a new
// refund: its guarded update also counts the refund on the order and
// returns the new count, so the order's row is written once, not twice.
// Its Undo takes the count back with the amount.
func Counted(order Step) Step {
	const count = " SET refund_count = refund_count + 1, "
	order.Update = strings.Replace(order.Update, " SET ", count, 1) + " RETURNING refund_count"
	order.Undo = strings.Replace(order.Undo, " SET ", " SET refund_count = refund_count - 1, ", 1)
	return order
}

// rows is one kind of row Steps moves counters on: its table, counters
// and key (a column name, or a fixed condition containing " ").
type rows struct {
	name, table string
	cs          []counter
	key         []string
}

var (
	orderRows   = rows{"adjust order balance", "orders", []counter{orderCounter}, []string{"id"}}
	captureRows = rows{"adjust capture balance", "transactions", []counter{amountCounter}, []string{"id", "order_id", "type = 'capture'"}}
	vendorRows  = rows{"adjust vendor balance", "order_vendors", []counter{amountCounter}, []string{"order_id", "vendor_id"}}
	itemRows    = rows{"adjust item balance", "order_items", []counter{itemQtyCounter, amountCounter}, []string{"order_id", "item_id"}}
)

// step builds one Step on r: the counters' amounts are parameters 1..k,
// the key's k+1 on, then (with at, on the order) its updated_at; Exists
// numbers the key's from 1. absent is nil for the order (EOrderNotFound);
// absent and what are written only when the step is refused.
func step(d Dialect, op refund.BalanceOp, r rows, at bool, amounts, keyArgs []any, param string, absent, what func() string) Step {
	t := textsOf(d, op, r, at)
	return Step{Op: r.name, Update: t.update, Undo: t.undo, Exists: t.exists, Found: t.found,
		Args:       append(append(make([]any, 0, len(amounts)+len(keyArgs)+1), amounts...), keyArgs...),
		UndoArgs:   append(append(make([]any, 0, len(amounts)+len(keyArgs)), amounts...), keyArgs...),
		ExistsArgs: keyArgs,
		param:      param, absent: absent, what: what}
}

// texts are a Step's statements. They depend only on the dialect, op, the
// rows and at, so each is written once per process: a refund's Update
// spent more of the committer's time writing them again than running some
// of its statements.
type texts struct{ update, undo, exists, found string }

type textsKey struct {
	dialect string
	op      refund.BalanceOp
	table   string
	at      bool
}

var textsCache sync.Map // textsKey -> texts

func textsOf(d Dialect, op refund.BalanceOp, r rows, at bool) texts {
	if d.Name == "" {
		return writeTexts(d, op, r, at) // unnamed: nothing to key it by
	}
	k := textsKey{d.Name, op, r.table, at}
	if t, ok := textsCache.Load(k); ok {
		return t.(texts)
	}
	t := writeTexts(d, op, r, at)
	textsCache.Store(k, t)
	return t
}

func writeTexts(d Dialect, op refund.BalanceOp, r rows, at bool) texts {
	p := d.Param
	n := len(r.cs) + 1 // the next parameter
	cond := func(first int) string {
		var parts []string
		n := first
		for _, k := range r.key {
			if strings.Contains(k, " ") {
				parts = append(parts, k)
				continue
			}
			parts = append(parts, k+" = "+p(n))
			n++
		}
		return strings.Join(parts, " AND ")
	}
	var set, guard, undo []string
	for i, c := range r.cs {
		x := p(i + 1)
		switch op {
		case refund.Reserve:
			set = append(set, c.pending+" = "+c.pending+" + "+x)
			guard = append(guard, c.limit+" - "+c.refunded+" - "+c.pending+" >= "+x)
			undo = append(undo, c.pending+" = "+c.pending+" - "+x)
		case refund.Commit:
			set = append(set, c.pending+" = "+c.pending+" - "+x, c.refunded+" = "+c.refunded+" + "+x)
			guard = append(guard, c.pending+" >= "+x)
			undo = append(undo, c.pending+" = "+c.pending+" + "+x, c.refunded+" = "+c.refunded+" - "+x)
		case refund.Release:
			set = append(set, c.pending+" = "+c.pending+" - "+x)
			guard = append(guard, c.pending+" >= "+x)
			undo = append(undo, c.pending+" = "+c.pending+" + "+x)
		case refund.Reverse:
			set = append(set, c.refunded+" = "+c.refunded+" - "+x)
			guard = append(guard, c.refunded+" >= "+x)
			undo = append(undo, c.refunded+" = "+c.refunded+" + "+x)
		}
	}
	where := cond(n)
	for _, k := range r.key {
		if !strings.Contains(k, " ") {
			n++
		}
	}
	if at {
		set = append(set, "updated_at = "+d.Greatest+"(updated_at, "+p(n)+")")
	}
	return texts{
		update: "UPDATE " + r.table + " SET " + strings.Join(set, ", ") + " WHERE " + where + " AND " + strings.Join(guard, " AND "),
		undo:   "UPDATE " + r.table + " SET " + strings.Join(undo, ", ") + " WHERE " + where,
		exists: "SELECT 1 FROM " + r.table + " WHERE " + cond(1),
		found:  "SELECT 1 FROM " + r.table + " WHERE " + where,
	}
}

// Refused is the error of s, which matched no row: exists says whether
// its row is there without the guard. A missing order is EOrderNotFound,
// a missing capture, vendor or item EInvalidRequest with s's Param; a row
// over its limit is EAmountExceedsRefundable for a Reserve and, for the
// other operations (which never take a counter below zero), a bug: an
// internal error.
func (s Step) Refused(op refund.BalanceOp, exists bool, orderID string) error {
	switch {
	case !exists && s.absent == nil:
		return refund.Errorf(refund.EOrderNotFound, "", "order %q not found", orderID)
	case !exists:
		return refund.Errorf(refund.EInvalidRequest, s.param, "%s", s.absent())
	case op == refund.Reserve:
		return refund.Errorf(refund.EAmountExceedsRefundable, s.param, "refund exceeds what is refundable: %s", s.what())
	}
	return fmt.Errorf("adjust balances: %s on %s would take a counter below zero (%s)", op, s.param, s.what())
}

// check refuses amounts a guarded update cannot judge: the refund's amount
// must be positive, its shares not negative.
func check(b refund.Balances) error {
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
