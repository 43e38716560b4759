package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var refundTests = []test{
	{"OK", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		r := f.newRefund(o, func(r *refund.Refund) {
			r.Seq, r.Amount, r.Status, r.Reason = 2, 15000, refund.StatusProcessing, "damaged in transit"
			r.MerchantReference, r.NotifyURL, r.Surface = "RF-1001", "https://merchant.example/hooks/refunds", "gateway"
			r.Items = []refund.RefundItem{{ItemID: "line-1", Qty: 1, Amount: 5000}, {ItemID: "line-2", Qty: 2, Amount: 10000}}
			r.Vendors = []refund.RefundVendor{{VendorID: "v1", Amount: 10000}, {VendorID: "v2", Amount: 5000}}
			r.FailureCode, r.FailureMessage, r.ResponseCode = "91", "issuer unavailable", "91"
			r.RRN, r.STAN, r.AuthCode, r.ARN = "123456789012", "000042", "AB12CD", "74000000000000000000001"
			r.Attempts, r.NextAttemptAt, r.RequestHash = 2, t0.Add(30*time.Second), "9f86d081884c7d65"
			r.Version, r.UpdatedAt = 3, t0.Add(time.Second)
		})
		f.mustUpdate(func(tx refund.Tx) error { return tx.CreateRefund(f.ctx, r) })
		for _, merchantID := range []string{m.ID, ""} {
			var got *refund.Refund
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.GetRefund(f.ctx, merchantID, r.ID)
				return err
			})
			wantSame(t, "GetRefund(merchant "+merchantID+")", got, r)
		}
		var got *refund.Refund
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.GetRefundByMerchantReference(f.ctx, m.ID, "gateway", "RF-1001")
			return err
		})
		wantSame(t, "GetRefundByMerchantReference", got, r)
	}},
	{"ErrRefundNotFound", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		f.mustCreateRefund(f.mustCreateOrder(m.ID), func(r *refund.Refund) { r.MerchantReference = "RF-1" })
		for name, get := range map[string]func(tx refund.Tx) error{
			"GetRefund": func(tx refund.Tx) error {
				_, err := tx.GetRefund(f.ctx, m.ID, "re_missing")
				return err
			},
			"GetRefund(any merchant)": func(tx refund.Tx) error {
				_, err := tx.GetRefund(f.ctx, "", "re_missing")
				return err
			},
			"GetRefundByMerchantReference": func(tx refund.Tx) error {
				_, err := tx.GetRefundByMerchantReference(f.ctx, m.ID, "native", "RF-missing")
				return err
			},
			"GetRefundByMerchantReference(empty)": func(tx refund.Tx) error {
				_, err := tx.GetRefundByMerchantReference(f.ctx, m.ID, "native", "")
				return err
			},
		} {
			t.Run(name, func(t *testing.T) { wantCode(t, f.view(get), refund.ERefundNotFound) })
		}
	}},
	{"OtherMerchant", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		r := f.mustCreateRefund(f.mustCreateOrder(m1.ID), func(r *refund.Refund) { r.MerchantReference = "RF-1" })
		err := f.view(func(tx refund.Tx) error {
			_, err := tx.GetRefund(f.ctx, m2.ID, r.ID)
			return err
		})
		wantCode(t, err, refund.ERefundNotFound)
		err = f.view(func(tx refund.Tx) error {
			_, err := tx.GetRefundByMerchantReference(f.ctx, m2.ID, "native", "RF-1")
			return err
		})
		wantCode(t, err, refund.ERefundNotFound)
	}},
	{"MerchantReferenceUnique", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o1, o2 := f.mustCreateOrder(m1.ID), f.mustCreateOrder(m2.ID)
		first := f.mustCreateRefund(o1, func(r *refund.Refund) { r.MerchantReference = "RF-1" })
		dup := f.newRefund(o1, func(r *refund.Refund) { r.MerchantReference = "RF-1" })
		err := f.update(func(tx refund.Tx) error { return tx.CreateRefund(f.ctx, dup) })
		wantCode(t, err, refund.EMerchantReferenceReused)
		err = f.view(func(tx refund.Tx) error {
			_, err := tx.GetRefund(f.ctx, "", dup.ID)
			return err
		})
		wantCode(t, err, refund.ERefundNotFound)
		wantSame(t, "first refund", f.mustGetRefund(first.ID), first)
		// Another merchant may use the same reference, and refunds without
		// one never collide.
		f.mustCreateRefund(o2, func(r *refund.Refund) { r.MerchantReference = "RF-1" })
		f.mustCreateRefund(o1)
		f.mustCreateRefund(o1)
		// References are per surface: an SGate merchantRefundId and a
		// UPayments reference of the same text are different refunds.
		other := f.mustCreateRefund(o1, func(r *refund.Refund) { r.MerchantReference, r.Surface = "RF-1", "upayments" })
		for surface, want := range map[string]*refund.Refund{"native": first, "upayments": other} {
			var got *refund.Refund
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.GetRefundByMerchantReference(f.ctx, m1.ID, surface, "RF-1")
				return err
			})
			wantSame(t, "GetRefundByMerchantReference("+surface+")", got, want)
		}
	}},
	{"Update", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		r := f.mustCreateRefund(f.mustCreateOrder(m.ID))
		r.Status, r.Attempts, r.NextAttemptAt = refund.StatusProcessing, 1, t0.Add(time.Minute)
		r.ResponseCode, r.FailureCode, r.FailureMessage = "91", "91", "issuer unavailable"
		r.RRN, r.STAN, r.AuthCode, r.ARN, r.UpdatedAt = "123456789012", "000001", "XYZ123", "74000000000000000000002", t0.Add(time.Second)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, r) })
		if r.Version != 2 {
			t.Fatalf("Version = %d after one update, want 2", r.Version)
		}
		wantSame(t, "refund after update", f.mustGetRefund(r.ID), r)

		r.Status, r.FailureCode, r.FailureMessage, r.UpdatedAt = refund.StatusSucceeded, "", "", t0.Add(2*time.Second)
		r.SucceededAt = r.UpdatedAt
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, r) })
		if r.Version != 3 {
			t.Fatalf("Version = %d after two updates, want 3", r.Version)
		}
		wantSame(t, "refund after second update", f.mustGetRefund(r.ID), r)
	}},
	{"UpdateVersionConflict", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		r := f.mustCreateRefund(f.mustCreateOrder(m.ID))
		a, b := f.mustGetRefund(r.ID), f.mustGetRefund(r.ID)
		a.Status, a.UpdatedAt = refund.StatusProcessing, t0.Add(time.Second)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, a) })
		b.Status, b.UpdatedAt = refund.StatusCanceled, t0.Add(2*time.Second)
		err := f.update(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, b) })
		wantCode(t, err, refund.EConflict)
		if b.Version != 1 {
			t.Fatalf("losing writer's Version = %d, want it left at 1", b.Version)
		}
		wantSame(t, "stored refund", f.mustGetRefund(r.ID), a)
	}},
	{"Number", func(t *testing.T, f *fixture) {
		// Every refund gets its own positive integer, across orders and
		// merchants, that reads back the same and survives updates.
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o1, o2 := f.mustCreateOrder(m1.ID), f.mustCreateOrder(m2.ID)
		rs := []*refund.Refund{f.mustCreateRefund(o1), f.mustCreateRefund(o2), f.mustCreateRefund(o1)}
		seen := map[int64]bool{}
		for i, r := range rs {
			if r.Number <= 0 || seen[r.Number] || (i > 0 && r.Number <= rs[i-1].Number) {
				t.Fatalf("refund %d got Number %d; want positive, unique and increasing (%v)", i, r.Number, seen)
			}
			seen[r.Number] = true
		}
		r := rs[0]
		r.Status, r.UpdatedAt = refund.StatusProcessing, t0.Add(time.Second)
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, r) })
		wantSame(t, "refund after update", f.mustGetRefund(r.ID), r)
	}},
	{"Transitions", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		r, other := f.mustCreateRefund(o), f.mustCreateRefund(o)
		want := []refund.Transition{
			{RefundID: r.ID, From: "", To: refund.StatusPending, Cause: "created via native", At: t0},
			{RefundID: r.ID, From: refund.StatusPending, To: refund.StatusProcessing, Cause: "submitted to processor (attempt 1)", At: t0},
			{RefundID: r.ID, From: refund.StatusProcessing, To: refund.StatusSucceeded, Cause: "processor approved (00)", At: t0.Add(time.Second)},
			{RefundID: r.ID, From: refund.StatusSucceeded, To: refund.StatusReversed, Cause: "processor reported the refund reversed", At: t0.Add(time.Hour)},
		}
		f.mustUpdate(func(tx refund.Tx) error {
			for i, tr := range want {
				if err := tx.InsertTransition(f.ctx, tr); err != nil {
					return err
				}
				if i == 1 { // interleave another refund's history
					if err := tx.InsertTransition(f.ctx, refund.Transition{RefundID: other.ID, To: refund.StatusPending, At: t0}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		var got []refund.Transition
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListTransitions(f.ctx, r.ID)
			return err
		})
		wantSame(t, "transitions", got, want)
	}},
	{"TransitionsAtOnce", func(t *testing.T, f *fixture) {
		// Several in one call keep the order given, across refunds too,
		// and after those of an earlier call; none is no statement at all.
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		r, other := f.mustCreateRefund(o), f.mustCreateRefund(o)
		first := refund.Transition{RefundID: r.ID, To: refund.StatusRequiresApproval, Cause: "created via native; waits for approval", At: t0}
		at := []refund.Transition{
			{RefundID: r.ID, From: refund.StatusRequiresApproval, To: refund.StatusPending, Cause: "approved", At: t0.Add(time.Minute)},
			{RefundID: other.ID, To: refund.StatusPending, Cause: "created via native", At: t0},
			{RefundID: r.ID, From: refund.StatusPending, To: refund.StatusProcessing, Cause: "submitted to processor (attempt 1)", At: t0.Add(time.Minute)},
			{RefundID: other.ID, From: refund.StatusPending, To: refund.StatusProcessing, Cause: "submitted to processor (attempt 1)", At: t0},
		}
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.InsertTransition(f.ctx, first); err != nil {
				return err
			}
			if err := tx.InsertTransition(f.ctx); err != nil {
				return err
			}
			return tx.InsertTransition(f.ctx, at...)
		})
		for _, tc := range []struct {
			id   string
			want []refund.Transition
		}{
			{r.ID, []refund.Transition{first, at[0], at[2]}},
			{other.ID, []refund.Transition{at[1], at[3]}},
		} {
			var got []refund.Transition
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.ListTransitions(f.ctx, tc.id)
				return err
			})
			wantSame(t, "transitions of "+tc.id, got, tc.want)
		}
	}},
	{"TransitionsManyAtOnce", func(t *testing.T, f *fixture) {
		// A store may write a few rows one way and many another: a long
		// call keeps the order given too.
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		r, other := f.mustCreateRefund(o), f.mustCreateRefund(o)
		var all []refund.Transition
		for i := range 9 {
			// r, r, other, r, r, other...: a call of two (a refund's
			// usual count) puts both rows on one refund.
			id := r.ID
			if i%3 == 2 {
				id = other.ID
			}
			tr := refund.Transition{RefundID: id, From: refund.StatusPending, To: refund.StatusProcessing,
				Cause: fmt.Sprintf("submitted to processor (attempt %d)", i+1), At: t0.Add(time.Duration(9-i) * time.Minute)}
			all = append(all, tr)
		}
		for n := 1; n <= len(all); n++ {
			// Every count from 1 to 9, each call in the order given.
			before := map[string][]refund.Transition{}
			f.mustView(func(tx refund.Tx) (err error) {
				for _, id := range []string{r.ID, other.ID} {
					if before[id], err = tx.ListTransitions(f.ctx, id); err != nil {
						return err
					}
				}
				return nil
			})
			f.mustUpdate(func(tx refund.Tx) error { return tx.InsertTransition(f.ctx, all[:n]...) })
			for _, id := range []string{r.ID, other.ID} {
				var got []refund.Transition
				f.mustView(func(tx refund.Tx) (err error) {
					got, err = tx.ListTransitions(f.ctx, id)
					return err
				})
				var added []refund.Transition
				for _, tr := range all[:n] {
					if tr.RefundID == id {
						added = append(added, tr)
					}
				}
				wantSame(t, fmt.Sprintf("transitions of %s after a call of %d", id, n), got, append(before[id], added...))
			}
		}
	}},
	{"Events", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		r := f.mustCreateRefund(o)
		f.mustUpdate(func(tx refund.Tx) error {
			if err := tx.InsertEvent(f.ctx, &refund.Event{ID: f.id("evt"), MerchantID: m.ID, Type: "refund.created",
				RefundID: r.ID, OrderID: o.ID, Data: []byte(`{"id":"` + r.ID + `","status":"pending"}`), CreatedAt: t0}); err != nil {
				return err
			}
			return tx.InsertEvent(f.ctx, &refund.Event{ID: f.id("evt"), MerchantID: m.ID, Type: "order.created", OrderID: o.ID, CreatedAt: t0})
		})
	}},
	{"LockOrderRefunds", func(t *testing.T, f *fixture) {
		// The order's refunds in the statuses asked, oldest first; not
		// another order's, nor the order's for another merchant.
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		o, o2 := f.mustCreateOrder(m.ID), f.mustCreateOrder(m.ID)
		var want []*refund.Refund
		for i, st := range []refund.Status{refund.StatusPending, refund.StatusSucceeded, refund.StatusRequiresApproval,
			refund.StatusProcessing, refund.StatusPending, refund.StatusCanceled} {
			r := f.mustCreateRefund(o, func(r *refund.Refund) { r.Seq, r.Status = i+1, st })
			if st == refund.StatusPending || st == refund.StatusRequiresApproval {
				want = append(want, r)
			}
		}
		f.mustCreateRefund(o2)
		for _, name := range []string{"Update", "View"} {
			var got, none, foreign []*refund.Refund
			run := f.update
			if name == "View" {
				run = f.view
			}
			if err := run(func(tx refund.Tx) (err error) {
				if got, err = tx.LockOrderRefunds(f.ctx, m.ID, o.ID, refund.StatusRequiresApproval, refund.StatusPending); err != nil {
					return err
				}
				if none, err = tx.LockOrderRefunds(f.ctx, m.ID, o.ID); err != nil {
					return err
				}
				foreign, err = tx.LockOrderRefunds(f.ctx, other.ID, o.ID, refund.StatusPending)
				return err
			}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wantSame(t, name+": the order's refunds not sent", got, want)
			if len(none)+len(foreign) != 0 {
				t.Errorf("%s: %d refunds for no status and %d for another merchant, want none", name, len(none), len(foreign))
			}
		}
	}},
}

var claimTests = []test{
	{"DueOnly", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		at := func(s refund.Status, next time.Time) func(*refund.Refund) {
			return func(r *refund.Refund) { r.Status, r.NextAttemptAt = s, next }
		}
		late := f.mustCreateRefund(o, at(refund.StatusProcessing, t0))
		early := f.mustCreateRefund(o, at(refund.StatusPending, t0.Add(-time.Minute)))
		// Refunds waiting for review are polled too.
		review := f.mustCreateRefund(o, at(refund.StatusRequiresReview, t0.Add(-time.Second)))
		f.mustCreateRefund(o, at(refund.StatusPending, t0.Add(time.Microsecond))) // not due yet
		f.mustCreateRefund(o, at(refund.StatusProcessing, t0.Add(time.Minute)))   // not due yet
		const lease = 30 * time.Second
		got := f.mustClaim(t0, lease, 10)
		wantIDs(t, "claimed", got, early.ID, review.ID, late.ID) // earliest NextAttemptAt first
		for _, r := range got {
			wantTime(t, "claimed NextAttemptAt", r.NextAttemptAt, t0.Add(lease))
			if r.Version != 2 {
				t.Fatalf("claimed Version = %d, want 2", r.Version)
			}
			wantSame(t, "stored claimed refund", f.mustGetRefund(r.ID), r)
		}
	}},
	{"FinalNeverClaimed", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		for _, s := range []refund.Status{refund.StatusSucceeded, refund.StatusFailed, refund.StatusCanceled, refund.StatusReversed} {
			f.mustCreateRefund(o, func(r *refund.Refund) { r.Status, r.NextAttemptAt = s, t0.Add(-time.Hour) })
		}
		wantIDs(t, "claimed", f.mustClaim(t0, time.Minute, 10))
	}},
	{"Limit", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		var ids []string
		for i := range 5 {
			ids = append(ids, f.mustCreateRefund(o, func(r *refund.Refund) { r.NextAttemptAt = t0.Add(-time.Duration(5-i) * time.Second) }).ID)
		}
		wantIDs(t, "first claim", f.mustClaim(t0, time.Minute, 2), ids[0], ids[1])
		wantIDs(t, "second claim", f.mustClaim(t0, time.Minute, 2), ids[2], ids[3])
		wantIDs(t, "third claim", f.mustClaim(t0, time.Minute, 2), ids[4])
	}},
	{"LeaseHidesClaimed", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		a := f.mustCreateRefund(o, func(r *refund.Refund) { r.NextAttemptAt = t0.Add(-time.Second) })
		b := f.mustCreateRefund(o, func(r *refund.Refund) { r.Status = refund.StatusProcessing })
		const lease = time.Minute
		wantIDs(t, "first claim", f.mustClaim(t0, lease, 10), a.ID, b.ID)
		wantIDs(t, "claim again at the same time", f.mustClaim(t0, lease, 10))
		wantIDs(t, "claim just before the lease ends", f.mustClaim(t0.Add(lease-time.Microsecond), lease, 10))
		again := f.mustClaim(t0.Add(lease), lease, 10)
		slices.SortFunc(again, func(x, y *refund.Refund) int { return strings.Compare(x.ID, y.ID) }) // tied: any order
		wantIDs(t, "claim when the lease ends", again, a.ID, b.ID)
		for _, r := range again {
			wantTime(t, "reclaimed NextAttemptAt", r.NextAttemptAt, t0.Add(2*lease))
			if r.Version != 3 {
				t.Fatalf("reclaimed Version = %d, want 3", r.Version)
			}
		}
	}},
	{"KeepsApprovalDeadline", func(t *testing.T, f *fixture) {
		// A claim moves when the worker looks next, never when an
		// approval runs out: the core refuses an approver by the latter.
		m := f.mustCreateMerchant()
		r := f.mustCreateRefund(f.mustCreateOrder(m.ID), func(r *refund.Refund) {
			r.Status, r.NextAttemptAt, r.ApprovalExpiresAt = refund.StatusRequiresApproval, t0.Add(-time.Hour), t0.Add(-time.Hour)
		})
		wantTime(t, "stored ApprovalExpiresAt", f.mustGetRefund(r.ID).ApprovalExpiresAt, t0.Add(-time.Hour))
		got := f.mustClaim(t0, time.Minute, 10)
		wantIDs(t, "claimed", got, r.ID)
		wantTime(t, "claimed NextAttemptAt", got[0].NextAttemptAt, t0.Add(time.Minute))
		wantTime(t, "claimed ApprovalExpiresAt", got[0].ApprovalExpiresAt, t0.Add(-time.Hour))
		wantSame(t, "stored claimed refund", f.mustGetRefund(r.ID), got[0])
		never := f.mustCreateRefund(f.mustCreateOrder(m.ID))
		wantTime(t, "ApprovalExpiresAt of a refund that never waited", f.mustGetRefund(never.ID).ApprovalExpiresAt, time.Time{})
	}},
	{"FencesStaleWriters", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		r := f.mustCreateRefund(f.mustCreateOrder(m.ID))
		stale := f.mustGetRefund(r.ID)
		f.mustClaim(t0, time.Minute, 10)
		stale.Status = refund.StatusCanceled
		err := f.update(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, stale) })
		wantCode(t, err, refund.EConflict)
	}},
}

func (f *fixture) mustClaim(now time.Time, lease time.Duration, limit int) []*refund.Refund {
	f.t.Helper()
	var rs []*refund.Refund
	f.mustUpdate(func(tx refund.Tx) (err error) {
		rs, err = tx.ClaimDueRefunds(f.ctx, now, lease, limit)
		return err
	})
	return rs
}

// wantIDs fails t unless rs are the refunds ids, in that order.
func wantIDs(t testing.TB, what string, rs []*refund.Refund, ids ...string) {
	t.Helper()
	var got []string
	for _, r := range rs {
		got = append(got, r.ID)
	}
	wantSame(t, what+" ids", got, ids)
}
