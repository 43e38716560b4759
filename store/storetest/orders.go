package storetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var orderTests = []test{
	{"OK", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.newOrder(m.ID, withItemsAndVendors, func(o *refund.Order) {
			o.PaymentMethod, o.Description = "mada", "Two lines, two vendors"
			o.Source = refund.Card{Scheme: "mastercard", FirstDigits: "555555", LastDigits: "4444", Month: 12, Year: 2026, Name: "A CARDHOLDER"}
			o.Customer = refund.Customer{Name: "عميل", Email: "customer@example.com", Mobile: "+966500000009"}
			o.UpdatedAt = t0.Add(time.Minute)
		})
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateOrder(f.ctx, o) })
		for _, merchantID := range []string{m.ID, ""} {
			var got *refund.Order
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.GetOrder(f.ctx, merchantID, o.ID)
				return err
			})
			wantSame(t, "GetOrder(merchant "+merchantID+")", got, o)
		}
		var got *refund.Order
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.GetOrderByReference(f.ctx, m.ID, o.Reference)
			return err
		})
		wantSame(t, "GetOrderByReference", got, o)
	}},
	{"LineExemptionCodes", func(t *testing.T, f *fixture) {
		// A zero-rated or untaxed line's exemption reason code is kept as
		// given; a line without one reads back without one.
		m := f.mustCreateMerchant()
		o := f.newOrder(m.ID, func(o *refund.Order) {
			o.Items = []refund.Item{
				{ID: "med", Qty: 1, UnitAmount: 10000, TaxRate: "0", Taxable: true, Amount: 10000, ExemptionCode: "VATEX-SA-35"},
				{ID: "ins", Qty: 1, UnitAmount: 10000, TaxRate: "0", Taxable: false, Amount: 10000, ExemptionCode: "VATEX-SA-29-7"},
				{ID: "box", Qty: 1, UnitAmount: 10000, TaxRate: "0", Taxable: true, Amount: 10000},
			}
		})
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateOrder(f.ctx, o) })
		got := f.mustGetOrder(o.ID)
		wantSame(t, "GetOrder", got, o)
		if got.Items[0].ExemptionCode != "VATEX-SA-35" || got.Items[1].ExemptionCode != "VATEX-SA-29-7" || got.Items[2].ExemptionCode != "" {
			t.Fatalf("exemption codes read back as %q, %q, %q", got.Items[0].ExemptionCode, got.Items[1].ExemptionCode, got.Items[2].ExemptionCode)
		}
	}},
	{"ErrOrderNotFound", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		f.mustCreateOrder(m.ID)
		for name, get := range map[string]func(tx refund.Tx) error{
			"GetOrder": func(tx refund.Tx) error {
				_, err := tx.GetOrder(f.ctx, m.ID, "ord_missing")
				return err
			},
			"GetOrder(any merchant)": func(tx refund.Tx) error {
				_, err := tx.GetOrder(f.ctx, "", "ord_missing")
				return err
			},
			"GetOrderByReference": func(tx refund.Tx) error {
				_, err := tx.GetOrderByReference(f.ctx, m.ID, "REF-missing")
				return err
			},
		} {
			t.Run(name, func(t *testing.T) { wantCode(t, f.view(get), refund.EOrderNotFound) })
		}
		err := f.update(func(tx refund.Tx) error {
			_, err := tx.ReserveRefund(f.ctx, refund.Balances{OrderID: "ord_missing", CaptureID: "txn_missing", Amount: 1})
			return err
		})
		wantCode(t, err, refund.EOrderNotFound)
	}},
	{"OtherMerchant", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m1.ID)
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.GetOrder(f.ctx, m2.ID, o.ID)
			return err
		})
		wantCode(t, err, refund.EOrderNotFound)
		err = f.view(func(tx refund.Tx) error {
			_, err := tx.GetOrderByReference(f.ctx, m2.ID, o.Reference)
			return err
		})
		wantCode(t, err, refund.EOrderNotFound)
		// References are per merchant: the other merchant may use the same.
		f.mustCreateOrder(m2.ID, func(x *refund.Order) { x.Reference = o.Reference })
	}},
	{"ErrOrderReferenceExists", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, func(o *refund.Order) { o.Reference = "ORD-1001" })
		dup := f.newOrder(m.ID, withItemsAndVendors, func(o *refund.Order) { o.Reference = "ORD-1001" })
		err := f.update(func(tx refund.Tx) error { return tx.CreateOrder(f.ctx, dup) })
		wantCode(t, err, refund.EOrderReferenceExists)
		err = f.view(func(tx refund.Tx) error {
			_, err := tx.GetOrder(f.ctx, "", dup.ID)
			return err
		})
		wantCode(t, err, refund.EOrderNotFound)
		wantSame(t, "first order", f.mustGetOrder(o.ID), o)
	}},
	{"EmptyReferencesDoNotCollide", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		f.mustCreateOrder(m.ID, func(o *refund.Order) { o.Reference = "" })
		f.mustCreateOrder(m.ID, func(o *refund.Order) { o.Reference = "" })
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.GetOrderByReference(f.ctx, m.ID, "")
			return err
		})
		wantCode(t, err, refund.EOrderNotFound)
	}},
	{"Transactions", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		// Two captures: a capture's Seq is kept as given.
		o := f.mustCreateOrder(m.ID, func(o *refund.Order) {
			o.Transactions = []refund.Transaction{
				{ID: f.id("txn"), OrderID: o.ID, Seq: 1, Type: refund.TxCapture, Status: refund.TxSucceeded, Amount: 20000, CreatedAt: t0},
				{ID: f.id("txn"), OrderID: o.ID, Seq: 2, Type: refund.TxCapture, Status: refund.TxSucceeded, Amount: 10000, CreatedAt: t0.Add(time.Hour)},
			}
		})
		// A transaction inserted without a Seq gets the order's next one.
		r1 := &refund.Transaction{ID: f.id("txn"), OrderID: o.ID, Type: refund.TxRefund, Status: refund.TxSucceeded,
			Amount: 1000, RefundID: "re_1", ResponseCode: "00", Message: "Approved", RRN: "123456789012", STAN: "000123",
			AuthCode: "A1B2C3", CreatedAt: t0.Add(2 * time.Hour)}
		r2 := &refund.Transaction{ID: f.id("txn"), OrderID: o.ID, Type: refund.TxRefund, Status: refund.TxFailed,
			Amount: 500, RefundID: "re_2", ResponseCode: "51", Message: "Insufficient funds", CreatedAt: t0.Add(3 * time.Hour)}
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.InsertTransaction(f.ctx, r1); err != nil {
				return err
			}
			return tx.InsertTransaction(f.ctx, r2)
		})
		if r1.Seq != 3 || r2.Seq != 4 {
			t.Fatalf("assigned Seqs = %d, %d; want 3, 4", r1.Seq, r2.Seq)
		}
		captures := slices.Clone(o.Transactions)
		want := append(o.Transactions, *r1, *r2)
		wantSame(t, "transactions", f.mustGetOrder(o.ID).Transactions, want)

		// For a refund: the same order with its captures only.
		full := f.mustGetOrder(o.ID)
		f.mustView(func(tx refund.Tx) error {
			got, err := tx.GetOrderForRefund(f.ctx, m.ID, o.ID)
			if err != nil {
				return err
			}
			wantSame(t, "captures", got.Transactions, captures)
			got.Transactions, full.Transactions = nil, nil
			wantSame(t, "order for refund", got, full)
			if _, err := tx.GetOrderForRefund(f.ctx, f.mustCreateMerchant().ID, o.ID); refund.ErrorCode(err) != refund.EOrderNotFound {
				t.Errorf("another merchant's GetOrderForRefund = %v, want order_not_found", err)
			}
			return nil
		})
	}},
	{"ReserveRefund", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID) // 30000 captured
		other := f.mustCreateOrder(m.ID)
		b := refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 10000}
		for want := 1; want <= 3; want++ {
			var got int
			f.mustUpdate(func(tx refund.Tx) (err error) {
				got, err = tx.ReserveRefund(f.ctx, b)
				return err
			})
			if got != want {
				t.Fatalf("ReserveRefund = %d, want %d", got, want)
			}
		}
		after := f.mustGetOrder(o.ID)
		if after.RefundCount != 3 || after.PendingRefundAmount != 30000 || after.Transactions[0].PendingAmount != 30000 {
			t.Fatalf("after three reservations: count %d, pending %d, capture pending %d; want 3, 30000, 30000",
				after.RefundCount, after.PendingRefundAmount, after.Transactions[0].PendingAmount)
		}
		// A refusal moves neither the counters nor the sequence, and the
		// transaction carries on: a reservation that fits still numbers
		// after the last one that held.
		f.mustUpdate(func(tx refund.Tx) error {
			_, err := tx.ReserveRefund(f.ctx, refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 1})
			wantCode(t, err, refund.EAmountExceedsRefundable)
			return nil
		})
		if got := f.mustGetOrder(o.ID); got.RefundCount != 3 || got.PendingRefundAmount != 30000 {
			t.Fatalf("after a refusal: count %d, pending %d; want 3, 30000", got.RefundCount, got.PendingRefundAmount)
		}
		f.mustUpdate(func(tx refund.Tx) error {
			_, err := tx.ReserveRefund(f.ctx, refund.Balances{OrderID: other.ID, CaptureID: "txn_not_its", Amount: 1})
			wantCodeParam(t, err, refund.EInvalidRequest, "transaction_id")
			got, err := tx.ReserveRefund(f.ctx, refund.Balances{OrderID: other.ID, CaptureID: captureID(other), Amount: 1})
			if err != nil || got != 1 {
				t.Errorf("ReserveRefund after a refusal in the same transaction = %d, %v; want 1", got, err)
			}
			return nil
		})
		if got := f.mustGetOrder(other.ID); got.RefundCount != 1 || got.PendingRefundAmount != 1 {
			t.Fatalf("other order: count %d, pending %d; want 1, 1", got.RefundCount, got.PendingRefundAmount)
		}
	}},
	{"ReserveRefundAfterReadingTheOrder", func(t *testing.T, f *fixture) {
		// The Service's path: the order read for the refund, then the
		// reservation and the refund. A store that locks the order in the
		// read may answer a refusal from Update (Tx.ReserveRefund).
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors) // 30000 captured
		refundOn := func(tx refund.Tx, b refund.Balances, r *refund.Refund) error {
			got, err := tx.GetOrderForRefund(f.ctx, m.ID, o.ID)
			if err != nil {
				return err
			}
			if r.Seq, err = tx.ReserveRefund(f.ctx, b); err != nil {
				return err
			}
			if want := got.RefundCount + 1; r.Seq != want {
				t.Errorf("ReserveRefund after reading a count of %d = %d, want %d", got.RefundCount, r.Seq, want)
			}
			return tx.CreateRefund(f.ctx, r)
		}
		first := f.newRefund(o, func(r *refund.Refund) { r.Amount = 10000 })
		f.mustUpdate(func(tx refund.Tx) error {
			return refundOn(tx, refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 10000}, first)
		})
		if first.Seq != 1 || first.Number <= 0 {
			t.Fatalf("first refund: seq %d, number %d; want 1 and a number", first.Seq, first.Number)
		}
		if got := f.mustGetRefund(first.ID); got.Number != first.Number || got.Seq != 1 {
			t.Fatalf("stored: seq %d, number %d; want 1, %d", got.Seq, got.Number, first.Number)
		}
		// Refused on each kind of counter: the Update fails with the
		// counter's param and commits nothing, neither the count nor the
		// refund nor the other counters.
		for _, tc := range []struct {
			b     refund.Balances
			param string
		}{
			{refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 20001}, "amount"},
			{refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 10001,
				Vendors: []refund.RefundVendor{{VendorID: "v2", Amount: 10001}}}, "vendors[v2]"},
			{refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 15000,
				Items: []refund.RefundItem{{ItemID: "line-1", Qty: 3, Amount: 15000}}}, "items[line-1]"},
		} {
			r := f.newRefund(o)
			err := f.update(func(tx refund.Tx) error { return refundOn(tx, tc.b, r) })
			wantCodeParam(t, err, refund.EAmountExceedsRefundable, tc.param)
			if got := f.mustGetOrder(o.ID); got.RefundCount != 1 || got.PendingRefundAmount != 10000 ||
				got.Transactions[0].PendingAmount != 10000 || got.Vendors[1].PendingAmount != 0 || got.Items[0].PendingQty != 0 {
				t.Fatalf("after a refusal on %s: %+v; want only the first refund's count", tc.param, got)
			}
			err = f.view(func(tx refund.Tx) error { _, err := tx.GetRefund(f.ctx, "", r.ID); return err })
			wantCode(t, err, refund.ERefundNotFound)
		}
		// Many at once on one order: each gets its own sequence number,
		// and only what the order holds is reserved.
		const n = 24 // 20000 left, 1000 each: 20 fit
		rs := make([]*refund.Refund, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			rs[i] = f.newRefund(o)
			wg.Go(func() {
				<-start
				errs[i] = f.store.Update(f.ctx, func(tx refund.Tx) error {
					return refundOn(tx, refund.Balances{OrderID: o.ID, CaptureID: captureID(o), Amount: 1000}, rs[i])
				})
			})
		}
		close(start)
		wg.Wait()
		seqs := map[int]bool{1: true}
		for i, err := range errs {
			switch {
			case err == nil:
				if seqs[rs[i].Seq] {
					t.Fatalf("sequence number %d handed out twice", rs[i].Seq)
				}
				seqs[rs[i].Seq] = true
			case refund.ErrorCode(err) != refund.EAmountExceedsRefundable:
				t.Fatalf("concurrent refund: %v", err)
			}
		}
		got := f.mustGetOrder(o.ID)
		if len(seqs) != 21 || got.RefundCount != 21 || got.PendingRefundAmount != 30000 {
			t.Fatalf("after %d at once: %d refunds numbered, count %d, pending %d; want 21, 21, 30000",
				n, len(seqs), got.RefundCount, got.PendingRefundAmount)
		}
		for seq := 1; seq <= 21; seq++ {
			if !seqs[seq] {
				t.Fatalf("sequence numbers %v skip %d", seqs, seq)
			}
		}
	}},
	{"RollbackOnError", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.newOrder(m.ID)
		err := f.update(func(tx refund.Tx) error {
			if err := tx.CreateOrder(f.ctx, o); err != nil {
				return err
			}
			return refund.Errorf(refund.EInvalidRequest, "", "changed my mind")
		})
		wantCode(t, err, refund.EInvalidRequest)
		err = f.view(func(tx refund.Tx) error {
			_, err := tx.GetOrder(f.ctx, "", o.ID)
			return err
		})
		wantCode(t, err, refund.EOrderNotFound)
	}},
}
