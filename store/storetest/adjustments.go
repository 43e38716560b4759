package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var adjustmentTests = []test{
	{"GuardedWithRefunds", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID) // 300.00 captured
		r := f.mustCreateRefund(o, func(r *refund.Refund) { r.Amount = 10000 })
		f.mustAdjust(refund.BalancesOf(r), refund.Reserve)
		adjust := func(kind string, amount int64) error {
			return f.update(func(tx refund.Tx) error { return tx.AdjustOrder(f.ctx, o.ID, kind, amount, t0.Add(time.Hour)) })
		}
		if err := adjust(refund.AdjustmentChargeback, 15000); err != nil {
			t.Fatal(err)
		}
		// 300 - 100 pending - 150 charged back leaves 50.
		wantCode(t, adjust(refund.AdjustmentVoid, 5001), refund.EAmountExceedsRefundable)
		if err := adjust(refund.AdjustmentVoid, 5000); err != nil {
			t.Fatal(err)
		}
		got := f.mustGetOrder(o.ID)
		if got.VoidedAmount != 5000 || got.ChargedBackAmount != 15000 || got.Refundable() != 0 {
			t.Fatalf("order voided %d charged back %d refundable %d", got.VoidedAmount, got.ChargedBackAmount, got.Refundable())
		}
		// A refund can no longer reserve anything; releasing the pending
		// one frees its room again.
		other := f.newRefund(o, func(r *refund.Refund) { r.Amount = 1 })
		wantCode(t, f.adjust(refund.BalancesOf(other), refund.Reserve), refund.EAmountExceedsRefundable)
		f.mustAdjust(refund.BalancesOf(r), refund.Release)
		if err := adjust(refund.AdjustmentChargeback, 10000); err != nil {
			t.Fatal(err)
		}
	}},
	{"AdjustmentByReference", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		a := &refund.OrderAdjustment{ID: f.id("cb"), MerchantID: m.ID, OrderID: o.ID, Kind: refund.AdjustmentChargeback,
			Amount: 5000, Applied: 4000, Currency: "SAR", Reason: "fraud", ProcessorReference: "CB-1", CreatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, a) })
		var got *refund.OrderAdjustment
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.GetOrderAdjustment(f.ctx, o.ID, refund.AdjustmentChargeback, "CB-1")
			return err
		})
		wantSame(t, "adjustment", got, a)
		dup := *a
		dup.ID = f.id("cb")
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, &dup) }), refund.EConflict)
		// The same reference for a void, or no reference at all, is
		// another adjustment.
		void := dup
		void.ID, void.Kind = f.id("void"), refund.AdjustmentVoid
		f.mustUpdate(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, &void) })
		for range 2 {
			none := dup
			none.ID, none.ProcessorReference = f.id("cb"), ""
			f.mustUpdate(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, &none) })
		}
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.GetOrderAdjustment(f.ctx, o.ID, refund.AdjustmentChargeback, "")
			return err
		})
		wantCode(t, err, refund.ENotFound)
	}},
	{"AdjustmentByID", func(t *testing.T, f *fixture) {
		// What a retried void or chargeback finds through its key.
		m := f.mustCreateMerchant()
		other := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		a := &refund.OrderAdjustment{ID: f.id("void"), MerchantID: m.ID, OrderID: o.ID, Kind: refund.AdjustmentVoid,
			Amount: 700, Applied: 700, Currency: "SAR", Reason: "cancelled", CreatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, a) })
		var got *refund.OrderAdjustment
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.GetOrderAdjustmentByID(f.ctx, m.ID, a.ID)
			return err
		})
		wantSame(t, "adjustment", got, a)
		for _, q := range [][2]string{{other.ID, a.ID}, {m.ID, "void_missing"}} {
			err := f.view(func(tx refund.Tx) error {
				_, err := tx.GetOrderAdjustmentByID(f.ctx, q[0], q[1])
				return err
			})
			wantCode(t, err, refund.ENotFound)
		}
	}},
	{"ListByOrder", func(t *testing.T, f *fixture) {
		// An order's adjustments, newest first (ids by kind do not sort
		// by time), its merchant's only, at most limit.
		m := f.mustCreateMerchant()
		o, other := f.mustCreateOrder(m.ID), f.mustCreateOrder(m.ID)
		add := func(order *refund.Order, prefix, kind string, at time.Time) *refund.OrderAdjustment {
			a := &refund.OrderAdjustment{ID: f.id(prefix), MerchantID: m.ID, OrderID: order.ID, Kind: kind,
				Amount: 1000, Applied: 600, Currency: "SAR", Reason: "why", CreatedAt: at}
			f.mustUpdate(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, a) })
			return a
		}
		first := add(o, "void", refund.AdjustmentVoid, t0)
		second := add(o, "cb", refund.AdjustmentChargeback, t0.Add(time.Minute))
		add(other, "void", refund.AdjustmentVoid, t0.Add(2*time.Minute))
		third := add(o, "cb", refund.AdjustmentChargeback, t0.Add(2*time.Minute))
		list := func(merchantID, orderID string, limit int) []*refund.OrderAdjustment {
			var got []*refund.OrderAdjustment
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.ListOrderAdjustments(f.ctx, merchantID, orderID, limit)
				return err
			})
			return got
		}
		got := list(m.ID, o.ID, 10)
		if len(got) != 3 {
			t.Fatalf("%d adjustments, want 3", len(got))
		}
		for i, want := range []*refund.OrderAdjustment{third, second, first} {
			wantSame(t, fmt.Sprintf("adjustment %d", i), got[i], want)
		}
		if got := list(m.ID, o.ID, 2); len(got) != 2 || got[1].ID != second.ID {
			t.Fatalf("limit 2: %+v", got)
		}
		if got := list(f.mustCreateMerchant().ID, o.ID, 10); len(got) != 0 {
			t.Fatalf("another merchant lists %+v", got)
		}
	}},
	{"OwedAdjustments", func(t *testing.T, f *fixture) {
		// Voids and chargebacks applied in part, oldest first (by when
		// they were recorded: ids of different kinds have different
		// prefixes, void_ after cb_); one applied in full and another
		// order's are not owed.
		m := f.mustCreateMerchant()
		o, other := f.mustCreateOrder(m.ID), f.mustCreateOrder(m.ID)
		add := func(order *refund.Order, kind string, amount, applied int64, at time.Duration) *refund.OrderAdjustment {
			prefix := map[string]string{refund.AdjustmentVoid: "void", refund.AdjustmentChargeback: "cb"}[kind]
			a := &refund.OrderAdjustment{ID: f.id(prefix), MerchantID: m.ID, OrderID: order.ID, Kind: kind,
				Amount: amount, Applied: applied, Currency: "SAR", CreatedAt: t0.Add(at)}
			f.mustUpdate(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, a) })
			return a
		}
		first := add(o, refund.AdjustmentChargeback, 5000, 1000, 0)
		add(o, refund.AdjustmentChargeback, 3000, 3000, 0)
		void := add(o, refund.AdjustmentVoid, 2000, 0, time.Second)
		add(o, refund.AdjustmentVoid, 1000, 1000, time.Second)
		add(other, refund.AdjustmentChargeback, 4000, 0, 0)
		second := add(o, refund.AdjustmentChargeback, 2000, 0, 2*time.Second)
		owed := func() []*refund.OrderAdjustment {
			var got []*refund.OrderAdjustment
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.ListOwedAdjustments(f.ctx, o.ID)
				return err
			})
			return got
		}
		got := owed()
		if len(got) != 3 {
			t.Fatalf("%d owed adjustments, want 3", len(got))
		}
		wantSame(t, "first owed", got[0], first)
		wantSame(t, "owed void", got[1], void)
		wantSame(t, "second owed", got[2], second)
		// Applied never passes the amount: 4000 more is refused whole.
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.ApplyOwedAdjustment(f.ctx, first.ID, 4001) }), refund.ENotFound)
		wantCode(t, f.update(func(tx refund.Tx) error { return tx.ApplyOwedAdjustment(f.ctx, first.ID, 0) }), refund.ENotFound)
		f.mustUpdate(func(tx refund.Tx) error { return tx.ApplyOwedAdjustment(f.ctx, first.ID, 4000) })
		if got = owed(); len(got) != 2 || got[0].ID != void.ID || got[1].ID != second.ID {
			t.Fatalf("owed after the first was applied in full: %d, want the void and the second", len(got))
		}
		f.mustUpdate(func(tx refund.Tx) error { return tx.ApplyOwedAdjustment(f.ctx, void.ID, 2000) })
		f.mustUpdate(func(tx refund.Tx) error { return tx.ApplyOwedAdjustment(f.ctx, second.ID, 1500) })
		if got = owed(); len(got) != 1 || got[0].ID != second.ID || got[0].Applied != 1500 {
			t.Fatalf("owed after the void in full and 1500 of the second: %+v", got)
		}
	}},
}
