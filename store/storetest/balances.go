package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// counters is every refund counter of an order by name: "order", each
// transaction id, "vendor:<id>", "item:<id>:qty" and "item:<id>:amount",
// each as [pending, refunded].
type counters map[string][2]int64

func countersOf(o *refund.Order) counters {
	c := counters{"order": {o.PendingRefundAmount, o.RefundedAmount}}
	for _, t := range o.Transactions {
		c[t.ID] = [2]int64{t.PendingAmount, t.RefundedAmount}
	}
	for _, v := range o.Vendors {
		c["vendor:"+v.ID] = [2]int64{v.PendingAmount, v.RefundedAmount}
	}
	for _, it := range o.Items {
		c["item:"+it.ID+":qty"] = [2]int64{it.PendingQty, it.RefundedQty}
		c["item:"+it.ID+":amount"] = [2]int64{it.PendingAmount, it.RefundedAmount}
	}
	return c
}

// with returns a copy of c with the named counters set.
func (c counters) with(kv map[string][2]int64) counters {
	out := counters{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range kv {
		out[k] = v
	}
	return out
}

// fullBalances names every counter of a withItemsAndVendors order, for
// the whole 300.00.
func fullBalances(o *refund.Order) refund.Balances {
	return refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 30000,
		Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 20000}, {VendorID: "v2", Amount: 10000}},
		Items:   []refund.RefundItem{{ItemID: "line-1", Qty: 2, Amount: 10000}, {ItemID: "line-2", Qty: 4, Amount: 20000}}}
}

var balanceTests = []test{
	{"ReserveGuarded", testReserveGuarded},
	{"UpdatedAtMovesForward", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		later := o.UpdatedAt.Add(time.Hour)
		steps := []struct {
			b    refund.Balances
			op   refund.BalanceOp
			want time.Time
		}{
			{refund.Balances{OrderID: o.ID, Amount: 100}, refund.Reserve, o.UpdatedAt}, // no At: unchanged
			{refund.Balances{OrderID: o.ID, Amount: 100, At: later}, refund.Commit, later},
			{refund.Balances{OrderID: o.ID, Amount: 100, At: later.Add(-time.Minute)}, refund.Reserve, later}, // never back
			{refund.Balances{OrderID: o.ID, Amount: 100, At: later.Add(time.Minute)}, refund.Release, later.Add(time.Minute)},
		}
		for i, s := range steps {
			f.mustAdjust(s.b, s.op)
			if got := f.mustGetOrder(o.ID).UpdatedAt; !got.Equal(s.want) {
				t.Fatalf("step %d: updated_at %v, want %v", i, got, s.want)
			}
		}
		f.mustUpdate(func(tx refund.Tx) error {
			return tx.AdjustOrder(f.ctx, o.ID, refund.AdjustmentVoid, 50, later.Add(time.Hour))
		})
		if got := f.mustGetOrder(o.ID).UpdatedAt; !got.Equal(later.Add(time.Hour)) {
			t.Fatalf("after a void: updated_at %v", got)
		}
	}},
	{"ReserveExactlyRefundable", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		f.mustAdjust(fullBalances(o), refund.Reserve)
		got := f.mustGetOrder(o.ID)
		if got.Refundable() != 0 {
			t.Fatalf("Refundable = %d after reserving everything, want 0", got.Refundable())
		}
		wantSame(t, "counters", countersOf(got), countersOf(o).with(map[string][2]int64{
			"order": {30000, 0}, captureID(o): {30000, 0}, "vendor:v1": {20000, 0}, "vendor:v2": {10000, 0},
			"item:line-1:qty": {2, 0}, "item:line-1:amount": {10000, 0}, "item:line-2:qty": {4, 0}, "item:line-2:amount": {20000, 0},
		}))
		err := f.adjust(refund.Balances{OrderID: o.ID, Amount: 1}, refund.Reserve)
		wantCodeParam(t, err, refund.EAmountExceedsRefundable, "amount")
	}},
	{"Arithmetic", testBalanceArithmetic},
	{"NeverNegative", testNeverNegative},
	{"RollbackOnError", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		before := countersOf(f.mustGetOrder(o.ID))
		ok := refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 5000,
			Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 5000}}, Items: []refund.RefundItem{{ItemID: "line-1", Qty: 1, Amount: 5000}}}

		// A reservation that fails half-way (the vendor is over) leaves
		// nothing behind once the caller returns its error.
		tooMuch := refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 12000,
			Vendors: []refund.RefundVendor{{VendorID: "v2", Amount: 12000}}}
		err := f.update(func(tx refund.Tx) error {
			if err := tx.AdjustBalances(f.ctx, ok, refund.Reserve); err != nil {
				return err
			}
			return tx.AdjustBalances(f.ctx, tooMuch, refund.Reserve)
		})
		wantCodeParam(t, err, refund.EAmountExceedsRefundable, "vendors[v2]")
		wantSame(t, "counters after a failed reserve", countersOf(f.mustGetOrder(o.ID)), before)

		// So does any other error.
		boom := errors.New("boom")
		err = f.update(func(tx refund.Tx) error {
			if err := tx.AdjustBalances(f.ctx, ok, refund.Reserve); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want the error fn returned", err)
		}
		wantSame(t, "counters after fn failed", countersOf(f.mustGetOrder(o.ID)), before)
	}},
	{"AllOrNothing", testAllOrNothing},
	{"FinalMoveFailsItsUpdate", testFinalMoveFailsItsUpdate},
	{"ConcurrentReserveNeverOverRefunds", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID) // captured 30000
		results := reserveConcurrently(f, 50, func(int) refund.Balances {
			return refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 1000}
		})
		wantConcurrentResults(t, results, map[string]int{"": 30, "amount": 20})
		got := countersOf(f.mustGetOrder(o.ID))
		wantSame(t, "counters", got, countersOf(o).with(map[string][2]int64{"order": {30000, 0}, captureID(o): {30000, 0}}))
	}},
	{"ConcurrentVendorReserveNeverOverRefunds", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, func(o *refund.Order) {
			o.Vendors = []refund.Vendor{{ID: "v1", Amount: 15000}, {ID: "v2", Amount: 15000}}
		})
		// 50 refunds of 10.00 against v1's 150.00: the order has room for
		// all of them, the vendor for 15.
		results := reserveConcurrently(f, 50, func(int) refund.Balances {
			return refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 1000,
				Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 1000}}}
		})
		wantConcurrentResults(t, results, map[string]int{"": 15, "vendors[v1]": 35})
		got := countersOf(f.mustGetOrder(o.ID))
		wantSame(t, "counters", got, countersOf(o).with(map[string][2]int64{
			"order": {15000, 0}, captureID(o): {15000, 0}, "vendor:v1": {15000, 0},
		}))
	}},
	{"ConcurrentItemReserveNeverOverRefunds", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, func(o *refund.Order) {
			o.Items = []refund.Item{
				{ID: "line-1", Qty: 5, UnitAmount: 3000, TaxRate: "15", Taxable: true, Amount: 15000},
				{ID: "line-2", Qty: 1, UnitAmount: 15000, TaxRate: "15", Taxable: true, Amount: 15000},
			}
		})
		// 30 refunds of one unit of line-1: the order has room for 10,
		// the line for 5.
		results := reserveConcurrently(f, 30, func(int) refund.Balances {
			return refund.Balances{OrderID: o.ID, Amount: 3000, Items: []refund.RefundItem{{ItemID: "line-1", Qty: 1, Amount: 3000}}}
		})
		wantConcurrentResults(t, results, map[string]int{"": 5, "items[line-1]": 25})
		got := countersOf(f.mustGetOrder(o.ID))
		wantSame(t, "counters", got, countersOf(o).with(map[string][2]int64{
			"order": {15000, 0}, "item:line-1:qty": {5, 0}, "item:line-1:amount": {15000, 0},
		}))
	}},
}

// reserveConcurrently runs n Updates at once, the i-th reserving
// balances(i), and returns each one's error.
func reserveConcurrently(f *fixture, n int, balances func(i int) refund.Balances) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f.store.Update(f.ctx, func(tx refund.Tx) error {
				return tx.AdjustBalances(f.ctx, balances(i), refund.Reserve)
			})
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wantConcurrentResults checks how many reservations succeeded (key "")
// and how many failed with EAmountExceedsRefundable on each param.
func wantConcurrentResults(t *testing.T, errs []error, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, err := range errs {
		switch {
		case err == nil:
			got[""]++
		case refund.ErrorCode(err) == refund.EAmountExceedsRefundable:
			got[refund.ErrorParam(err)]++
		default:
			t.Fatalf("concurrent reserve: unexpected error %v", err)
		}
	}
	wantSame(t, "outcomes (\"\" = reserved, else the param refused)", got, want)
}

func testReserveGuarded(t *testing.T, f *fixture) {
	m := f.mustCreateMerchant()
	twoCaptures := func(o *refund.Order) {
		o.Transactions = []refund.Transaction{
			{ID: o.ID + "-c1", OrderID: o.ID, Seq: 1, Type: refund.TxCapture, Status: refund.TxSucceeded, Amount: 20000, CreatedAt: t0},
			{ID: o.ID + "-c2", OrderID: o.ID, Seq: 2, Type: refund.TxCapture, Status: refund.TxSucceeded, Amount: 10000, CreatedAt: t0},
		}
	}
	for _, tc := range []struct {
		name   string
		order  []func(*refund.Order)
		before func(o *refund.Order) []refund.Balances // reserved first, successfully
		try    func(o *refund.Order) refund.Balances
		code   string
		param  string
	}{
		{name: "Amount",
			try:  func(o *refund.Order) refund.Balances { return refund.Balances{OrderID: o.ID, Amount: 30001} },
			code: refund.EAmountExceedsRefundable, param: "amount"},
		{name: "AmountAfterReserve",
			before: func(o *refund.Order) []refund.Balances { return []refund.Balances{{OrderID: o.ID, Amount: 20000}} },
			try:    func(o *refund.Order) refund.Balances { return refund.Balances{OrderID: o.ID, Amount: 10001} },
			code:   refund.EAmountExceedsRefundable, param: "amount"},
		{name: "AmountAfterVoid",
			order: []func(*refund.Order){func(o *refund.Order) { o.VoidedAmount = 5000 }},
			try:   func(o *refund.Order) refund.Balances { return refund.Balances{OrderID: o.ID, Amount: 25001} },
			code:  refund.EAmountExceedsRefundable, param: "amount"},
		{name: "AmountPartlyCaptured",
			order: []func(*refund.Order){func(o *refund.Order) { o.CapturedAmount = 20000 }},
			try:   func(o *refund.Order) refund.Balances { return refund.Balances{OrderID: o.ID, Amount: 20001} },
			code:  refund.EAmountExceedsRefundable, param: "amount"},
		{name: "Capture",
			order: []func(*refund.Order){twoCaptures},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, CaptureID: o.ID + "-c2", Amount: 10001}
			},
			code: refund.EAmountExceedsRefundable, param: "transaction_id"},
		{name: "CaptureAfterReserve",
			order: []func(*refund.Order){twoCaptures},
			before: func(o *refund.Order) []refund.Balances {
				return []refund.Balances{{OrderID: o.ID, CaptureID: o.ID + "-c1", Amount: 15000}}
			},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, CaptureID: o.ID + "-c1", Amount: 5001}
			},
			code: refund.EAmountExceedsRefundable, param: "transaction_id"},
		{name: "Vendor",
			order: []func(*refund.Order){withItemsAndVendors},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 10001, Vendors: []refund.RefundVendor{{VendorID: "v2", Amount: 10001}}}
			},
			code: refund.EAmountExceedsRefundable, param: "vendors[v2]"},
		{name: "VendorAfterReserve",
			order: []func(*refund.Order){withItemsAndVendors},
			before: func(o *refund.Order) []refund.Balances {
				return []refund.Balances{{OrderID: o.ID, Amount: 6000, Vendors: []refund.RefundVendor{{VendorID: "v2", Amount: 6000}}}}
			},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 5000, Vendors: []refund.RefundVendor{
					{VendorID: "v1", Amount: 1000}, {VendorID: "v2", Amount: 4001}}}
			},
			code: refund.EAmountExceedsRefundable, param: "vendors[v2]"},
		{name: "ItemQty",
			order: []func(*refund.Order){withItemsAndVendors},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 5000, Items: []refund.RefundItem{{ItemID: "line-1", Qty: 3, Amount: 5000}}}
			},
			code: refund.EAmountExceedsRefundable, param: "items[line-1]"},
		{name: "ItemAmount",
			order: []func(*refund.Order){withItemsAndVendors},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 10001, Items: []refund.RefundItem{{ItemID: "line-1", Qty: 1, Amount: 10001}}}
			},
			code: refund.EAmountExceedsRefundable, param: "items[line-1]"},
		{name: "ItemQtyAfterReserve",
			order: []func(*refund.Order){withItemsAndVendors},
			before: func(o *refund.Order) []refund.Balances {
				return []refund.Balances{{OrderID: o.ID, Amount: 15000, Items: []refund.RefundItem{{ItemID: "line-2", Qty: 3, Amount: 15000}}}}
			},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 1000, Items: []refund.RefundItem{{ItemID: "line-2", Qty: 2, Amount: 1000}}}
			},
			code: refund.EAmountExceedsRefundable, param: "items[line-2]"},
		{name: "OrderCheckedFirst",
			order: []func(*refund.Order){withItemsAndVendors},
			try: func(o *refund.Order) refund.Balances {
				b := fullBalances(o)
				b.Amount, b.Vendors[0].Amount, b.Items[0].Qty = 30001, 20001, 3
				return b
			},
			code: refund.EAmountExceedsRefundable, param: "amount"},
		{name: "CaptureBeforeVendors",
			order: []func(*refund.Order){withItemsAndVendors, twoCaptures},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, CaptureID: o.ID + "-c2", Amount: 15000,
					Vendors: []refund.RefundVendor{{VendorID: "v2", Amount: 15000}}}
			},
			code: refund.EAmountExceedsRefundable, param: "transaction_id"},
		{name: "VendorsBeforeItems",
			order: []func(*refund.Order){withItemsAndVendors},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 10001,
					Vendors: []refund.RefundVendor{{VendorID: "v2", Amount: 10001}},
					Items:   []refund.RefundItem{{ItemID: "line-1", Qty: 3, Amount: 10001}}}
			},
			code: refund.EAmountExceedsRefundable, param: "vendors[v2]"},
		{name: "ErrUnknownCapture",
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, CaptureID: "txn_missing", Amount: 1000}
			},
			code: refund.EInvalidRequest, param: "transaction_id"},
		{name: "ErrUnknownVendor",
			order: []func(*refund.Order){withItemsAndVendors},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 1000, Vendors: []refund.RefundVendor{{VendorID: "nope", Amount: 1000}}}
			},
			code: refund.EInvalidRequest, param: "vendors[nope]"},
		{name: "ErrUnknownItem",
			order: []func(*refund.Order){withItemsAndVendors},
			try: func(o *refund.Order) refund.Balances {
				return refund.Balances{OrderID: o.ID, Amount: 1000, Items: []refund.RefundItem{{ItemID: "nope", Qty: 1, Amount: 1000}}}
			},
			code: refund.EInvalidRequest, param: "items[nope]"},
		{name: "ErrZeroAmount",
			try:  func(o *refund.Order) refund.Balances { return refund.Balances{OrderID: o.ID, Amount: 0} },
			code: refund.EInvalidAmount, param: "amount"},
		{name: "ErrNegativeAmount",
			try:  func(o *refund.Order) refund.Balances { return refund.Balances{OrderID: o.ID, Amount: -1000} },
			code: refund.EInvalidAmount, param: "amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.sub(t)
			o := f.mustCreateOrder(m.ID, tc.order...)
			if tc.before != nil {
				for _, b := range tc.before(o) {
					f.mustAdjust(b, refund.Reserve)
				}
			}
			before := f.mustGetOrder(o.ID)
			err := f.adjust(tc.try(o), refund.Reserve)
			wantCodeParam(t, err, tc.code, tc.param)
			wantSame(t, "order after the refused reserve", f.mustGetOrder(o.ID), before)
		})
	}
	t.Run("ErrOrderNotFound", func(t *testing.T) {
		f := f.sub(t)
		err := f.adjust(refund.Balances{OrderID: "ord_missing", Amount: 1000}, refund.Reserve)
		wantCode(t, err, refund.EOrderNotFound)
	})
}

func testBalanceArithmetic(t *testing.T, f *fixture) {
	m := f.mustCreateMerchant()
	o := f.mustCreateOrder(m.ID, withItemsAndVendors)
	c := captureID(o)
	a := refund.Balances{OrderID: o.ID, CaptureID: c, Amount: 10000,
		Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 10000}},
		Items:   []refund.RefundItem{{ItemID: "line-1", Qty: 2, Amount: 10000}}}
	b := refund.Balances{OrderID: o.ID, CaptureID: c, Amount: 6000,
		Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 1000}, {VendorID: "v2", Amount: 5000}},
		Items:   []refund.RefundItem{{ItemID: "line-2", Qty: 1, Amount: 6000}}}
	zero := countersOf(o)
	for _, step := range []struct {
		name string
		b    refund.Balances
		op   refund.BalanceOp
		want map[string][2]int64 // [pending, refunded] of the counters that are not zero
	}{
		{"ReserveA", a, refund.Reserve, map[string][2]int64{
			"order": {10000, 0}, c: {10000, 0}, "vendor:v1": {10000, 0}, "item:line-1:qty": {2, 0}, "item:line-1:amount": {10000, 0}}},
		{"ReserveB", b, refund.Reserve, map[string][2]int64{
			"order": {16000, 0}, c: {16000, 0}, "vendor:v1": {11000, 0}, "vendor:v2": {5000, 0},
			"item:line-1:qty": {2, 0}, "item:line-1:amount": {10000, 0}, "item:line-2:qty": {1, 0}, "item:line-2:amount": {6000, 0}}},
		{"CommitA", a, refund.Commit, map[string][2]int64{
			"order": {6000, 10000}, c: {6000, 10000}, "vendor:v1": {1000, 10000}, "vendor:v2": {5000, 0},
			"item:line-1:qty": {0, 2}, "item:line-1:amount": {0, 10000}, "item:line-2:qty": {1, 0}, "item:line-2:amount": {6000, 0}}},
		{"ReleaseB", b, refund.Release, map[string][2]int64{
			"order": {0, 10000}, c: {0, 10000}, "vendor:v1": {0, 10000}, "item:line-1:qty": {0, 2}, "item:line-1:amount": {0, 10000}}},
		{"ReverseA", a, refund.Reverse, nil},
		{"ReserveAll", fullBalances(o), refund.Reserve, map[string][2]int64{
			"order": {30000, 0}, c: {30000, 0}, "vendor:v1": {20000, 0}, "vendor:v2": {10000, 0},
			"item:line-1:qty": {2, 0}, "item:line-1:amount": {10000, 0}, "item:line-2:qty": {4, 0}, "item:line-2:amount": {20000, 0}}},
		{"CommitAll", fullBalances(o), refund.Commit, map[string][2]int64{
			"order": {0, 30000}, c: {0, 30000}, "vendor:v1": {0, 20000}, "vendor:v2": {0, 10000},
			"item:line-1:qty": {0, 2}, "item:line-1:amount": {0, 10000}, "item:line-2:qty": {0, 4}, "item:line-2:amount": {0, 20000}}},
	} {
		f.mustAdjust(step.b, step.op)
		wantSame(t, "counters after "+step.name, countersOf(f.mustGetOrder(o.ID)), zero.with(step.want))
	}
	if got := f.mustGetOrder(o.ID).Refundable(); got != 0 {
		t.Fatalf("Refundable = %d after refunding everything, want 0", got)
	}
	err := f.adjust(refund.Balances{OrderID: o.ID, Amount: 1}, refund.Reserve)
	wantCodeParam(t, err, refund.EAmountExceedsRefundable, "amount")
}

func testNeverNegative(t *testing.T, f *fixture) {
	m := f.mustCreateMerchant()
	o := f.mustCreateOrder(m.ID, withItemsAndVendors)
	c := captureID(o)
	// 50.00 pending and 50.00 refunded on the order, the capture, v1 and
	// line-1 (one unit each).
	half := refund.Balances{OrderID: o.ID, CaptureID: c, Amount: 5000,
		Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 5000}},
		Items:   []refund.RefundItem{{ItemID: "line-1", Qty: 1, Amount: 5000}}}
	f.mustAdjust(half, refund.Reserve)
	f.mustAdjust(half, refund.Commit)
	f.mustAdjust(half, refund.Reserve)
	before := f.mustGetOrder(o.ID)
	more := func(mod func(b *refund.Balances)) refund.Balances {
		b := half
		b.Vendors = []refund.RefundVendor{half.Vendors[0]}
		b.Items = []refund.RefundItem{half.Items[0]}
		mod(&b)
		return b
	}
	for _, tc := range []struct {
		name string
		op   refund.BalanceOp
		b    refund.Balances
	}{
		{"CommitMoreThanPending", refund.Commit, more(func(b *refund.Balances) { b.Amount = 5001 })},
		{"ReleaseMoreThanPending", refund.Release, more(func(b *refund.Balances) { b.Amount = 5001 })},
		{"ReverseMoreThanRefunded", refund.Reverse, more(func(b *refund.Balances) { b.Amount = 5001 })},
		{"ReleaseVendorMoreThanPending", refund.Release, more(func(b *refund.Balances) { b.Vendors[0].Amount = 5001 })},
		{"ReverseItemQtyMoreThanRefunded", refund.Reverse, more(func(b *refund.Balances) { b.Items[0].Qty = 2 })},
		{"CommitOtherVendor", refund.Commit, more(func(b *refund.Balances) { b.Vendors[0].VendorID = "v2" })},
		{"ReleaseOtherItem", refund.Release, more(func(b *refund.Balances) { b.Items[0].ItemID = "line-2" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.sub(t)
			if err := f.adjust(tc.b, tc.op); err == nil {
				t.Fatalf("%v of %+v succeeded, want an error", tc.op, tc.b)
			}
			wantSame(t, "order after the refused "+tc.op.String(), f.mustGetOrder(o.ID), before)
		})
	}
}

// testAllOrNothing: an AdjustBalances that fails leaves every counter as it
// was, whichever counter failed, first or last, and whether the ones after
// it would have passed. A refused Reserve is an answer: its caller may
// carry on and commit (the late approval of a refund recorded failed
// does: it lists a discrepancy instead). A refund's final move (Commit,
// Release, Reverse) that does not fit fails the whole Update even when fn
// carries on, and nothing fn wrote commits.
func testAllOrNothing(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		name      string
		voidFirst int64 // voided on the order before: its limit falls below its lines'
		reserved  bool  // 100 of line-1 reserved before
		b         func(o *refund.Order) refund.Balances
		op        refund.BalanceOp
		code      string // "" for an internal error
		param     string
	}{
		{"OrderOverTheRestWouldPass", 100, false, fullBalances, refund.Reserve, refund.EAmountExceedsRefundable, "amount"},
		{"VendorOver", 0, false, func(o *refund.Order) refund.Balances {
			return refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 12000, At: o.UpdatedAt.Add(time.Hour),
				Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 1000}, {VendorID: "v2", Amount: 11000}}}
		}, refund.Reserve, refund.EAmountExceedsRefundable, "vendors[v2]"},
		{"LastItemOver", 0, false, func(o *refund.Order) refund.Balances {
			b := fullBalances(o)
			b.Items[1].Qty = 5
			return b
		}, refund.Reserve, refund.EAmountExceedsRefundable, "items[line-2]"},
		{"NoSuchItem", 0, false, func(o *refund.Order) refund.Balances {
			b := fullBalances(o)
			b.Items = append(b.Items, refund.RefundItem{ItemID: "line-9", Qty: 1, Amount: 1})
			return b
		}, refund.Reserve, refund.EInvalidRequest, "items[line-9]"},
		{"NoSuchCapture", 0, false, func(o *refund.Order) refund.Balances {
			return refund.Balances{OrderID: o.ID, CaptureID: "txn_missing", Amount: 100,
				Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 100}}}
		}, refund.Reserve, refund.EInvalidRequest, "transaction_id"},
		{"CommitMoreThanPending", 0, false, func(o *refund.Order) refund.Balances {
			return refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 100}
		}, refund.Commit, "", ""},
		{"ReleaseLastItemMoreThanPending", 0, true, func(o *refund.Order) refund.Balances {
			// The order and capture have 100 pending, line-2 nothing.
			return refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 100,
				Items: []refund.RefundItem{{ItemID: "line-2", Qty: 1, Amount: 100}}}
		}, refund.Release, "", ""},
		{"ReverseOfNoSuchOrder", 0, false, func(o *refund.Order) refund.Balances {
			return refund.Balances{OrderID: "ord_missing", Amount: 100}
		}, refund.Reverse, refund.EOrderNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := f.mustCreateMerchant()
			o := f.mustCreateOrder(m.ID, withItemsAndVendors)
			if tc.voidFirst > 0 {
				f.mustUpdate(func(tx refund.Tx) error {
					return tx.AdjustOrder(f.ctx, o.ID, refund.AdjustmentVoid, tc.voidFirst, o.UpdatedAt)
				})
			}
			if tc.reserved {
				f.mustAdjust(refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 100,
					Items: []refund.RefundItem{{ItemID: "line-1", Qty: 1, Amount: 100}}}, refund.Reserve)
			}
			was := f.mustGetOrder(o.ID)
			before := countersOf(was)
			var adjErr error
			err := f.update(func(tx refund.Tx) error {
				adjErr = tx.AdjustBalances(f.ctx, tc.b(o), tc.op)
				// Carry on: a write after it, then commit.
				return tx.AdjustOrder(f.ctx, o.ID, refund.AdjustmentVoid, 1, o.UpdatedAt)
			})
			if tc.op == refund.Reserve {
				if err != nil {
					t.Fatalf("Update after a refused Reserve: %v, want it committed", err)
				}
				if adjErr == nil {
					t.Fatal("AdjustBalances succeeded")
				}
				was.VoidedAmount++
			} else {
				// A store that pipelines may answer nil and fail the Update.
				if err == nil {
					t.Fatalf("Update carried on after a failed %v and committed (AdjustBalances said %v)", tc.op, adjErr)
				}
				if adjErr != nil && refund.ErrorCode(adjErr) != refund.ErrorCode(err) {
					t.Fatalf("AdjustBalances said %v, Update %v: want the same failure", adjErr, err)
				}
				adjErr = err
			}
			switch {
			case tc.code == "" && refund.ErrorCode(adjErr) != refund.EInternal:
				t.Fatalf("error %v, want an internal error", adjErr)
			case tc.code != "":
				wantCodeParam(t, adjErr, tc.code, tc.param)
			}
			now := f.mustGetOrder(o.ID)
			wantSame(t, "counters after a failed adjustment", countersOf(now), before)
			if now.VoidedAmount != was.VoidedAmount {
				t.Fatalf("voided %d after the write that carried on, want %d", now.VoidedAmount, was.VoidedAmount)
			}
		})
	}
}

// testFinalMoveFailsItsUpdate: a Commit that does not fit fails its Update
// even when fn carries on, also after fn read an invoiced refund (a store
// that reads invoices with the refund's counters may answer that move
// instead of holding it).
func testFinalMoveFailsItsUpdate(t *testing.T, f *fixture) {
	for _, tc := range []struct {
		name  string
		setup func() (*refund.Order, *refund.Refund)
	}{
		{"Plain", func() (*refund.Order, *refund.Refund) {
			o := f.mustCreateOrder(f.mustCreateMerchant().ID)
			return o, f.mustCreateRefund(o)
		}},
		{"AfterReadingAnInvoicedRefund", func() (*refund.Order, *refund.Refund) {
			_, o, r, _, _ := f.mustCreateCreditedOrder()
			return o, r
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, r := tc.setup()
			before := f.mustGetOrder(o.ID)
			var adjErr error
			err := f.update(func(tx refund.Tx) error {
				if _, err := tx.GetRefund(f.ctx, "", r.ID); err != nil {
					return err
				}
				adjErr = tx.AdjustBalances(f.ctx, refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: o.CapturedAmount + 1}, refund.Commit)
				return tx.AdjustOrder(f.ctx, o.ID, refund.AdjustmentVoid, 1, o.UpdatedAt) // carry on
			})
			if err == nil {
				t.Fatalf("Update committed after a Commit that did not fit (AdjustBalances said %v)", adjErr)
			}
			if code := refund.ErrorCode(err); code != refund.EInternal {
				t.Fatalf("Update: %v (code %q), want an internal error", err, code)
			}
			after := f.mustGetOrder(o.ID)
			wantSame(t, "counters after the failed Update", countersOf(after), countersOf(before))
			if after.VoidedAmount != before.VoidedAmount {
				t.Fatalf("voided %d after the failed Update, want %d", after.VoidedAmount, before.VoidedAmount)
			}
		})
	}
}
