package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var discrepancyTests = []test{
	// A refund's discrepancy that names a reference (a payment a report
	// lists again) is kept once per refund, kind and reference, beside the
	// refund's one of that kind without a reference.
	{"InsertOncePerRefundKindAndReference", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		r := f.mustCreateRefund(o)
		insert := func(reference string) bool {
			d := &refund.Discrepancy{ID: f.id("dsc"), MerchantID: m.ID, Kind: refund.DiscrepancyExecutedNotRecorded,
				RefundID: r.ID, OrderID: o.ID, Amount: 1000, Currency: "SAR", Detail: "paid again", Reference: reference, CreatedAt: t0}
			var ok bool
			f.mustUpdate(func(tx refund.Tx) (err error) {
				ok, err = tx.InsertDiscrepancy(f.ctx, d)
				return err
			})
			return ok
		}
		for i, tc := range []struct {
			reference string
			inserted  bool
		}{{"", true}, {r.ID + "/2026-03-01/2", true}, {"", false}, {r.ID + "/2026-03-01/2", false}, {r.ID + "/2026-03-01/3", true}} {
			if got := insert(tc.reference); got != tc.inserted {
				t.Fatalf("insert %d (reference %q): inserted %v, want %v", i, tc.reference, got, tc.inserted)
			}
		}
		var got []*refund.Discrepancy
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m.ID, RefundID: r.ID, Limit: 10})
			return err
		})
		if len(got) != 3 {
			t.Fatalf("the refund has %d discrepancies, want 3", len(got))
		}
	}},
	{"InsertOncePerRefundAndKind", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m1.ID)
		r := f.mustCreateRefund(o)
		newD := func(merchantID, refundID string, at time.Duration) *refund.Discrepancy {
			return &refund.Discrepancy{ID: f.id("dsc"), MerchantID: merchantID, Kind: refund.DiscrepancyExecutedNotRecorded,
				RefundID: refundID, OrderID: o.ID, Amount: 1000, Currency: "SAR", Detail: "executed after failed",
				CreatedAt: t0.Add(at)}
		}
		first := newD(m1.ID, r.ID, 0)
		insert := func(d *refund.Discrepancy) bool {
			var ok bool
			f.mustUpdate(func(tx refund.Tx) (err error) {
				ok, err = tx.InsertDiscrepancy(f.ctx, d)
				return err
			})
			return ok
		}
		if !insert(first) {
			t.Fatal("first InsertDiscrepancy reported nothing inserted")
		}
		if insert(newD(m1.ID, r.ID, time.Second)) {
			t.Fatal("a second discrepancy of the same kind for the same refund was inserted")
		}
		other := newD(m1.ID, f.mustCreateRefund(o).ID, 2*time.Second)
		if !insert(other) {
			t.Fatal("a discrepancy of another refund was not inserted")
		}
		var got []*refund.Discrepancy
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m1.ID, Limit: 10})
			return err
		})
		if len(got) != 2 {
			t.Fatalf("listed %d discrepancies, want 2", len(got))
		}
		wantSame(t, "newest discrepancy", got[0], other)
		wantSame(t, "oldest discrepancy", got[1], first)
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m1.ID, Cursor: other.ID, Limit: 10})
			return err
		})
		if len(got) != 1 || got[0].ID != first.ID {
			t.Fatalf("page after the cursor = %v, want only %s", got, first.ID)
		}
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m1.ID, RefundID: r.ID,
				Kind: refund.DiscrepancyExecutedNotRecorded, Status: refund.DiscrepancyOpen, Limit: 10})
			return err
		})
		if len(got) != 1 || got[0].ID != first.ID {
			t.Fatalf("the refund's discrepancies = %v, want only %s", got, first.ID)
		}
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m2.ID, Limit: 10})
			return err
		})
		if len(got) != 0 {
			t.Fatalf("another merchant sees %d discrepancies", len(got))
		}
		var n int64
		f.mustView(func(tx refund.Tx) (err error) {
			n, err = tx.CountDiscrepancies(f.ctx)
			return err
		})
		if n != 2 {
			t.Fatalf("CountDiscrepancies = %d, want 2", n)
		}
	}},
	{"ReduceByReference", func(t *testing.T, f *fixture) {
		// A chargeback's discrepancy goes down as its owed part is
		// applied, to zero and never below; another merchant's, another
		// kind's and another reference's stay.
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		add := func(merchantID, kind, ref string) *refund.Discrepancy {
			d := &refund.Discrepancy{ID: f.id("dsc"), MerchantID: merchantID, Kind: kind, OrderID: o.ID, Amount: 3000,
				Currency: "SAR", Detail: "paid twice", Reference: ref, CreatedAt: t0}
			f.mustUpdate(func(tx refund.Tx) error { _, err := tx.InsertDiscrepancy(f.ctx, d); return err })
			return d
		}
		cb := refund.DiscrepancyChargebackAfterRefund
		d := add(m.ID, cb, "cb_1")
		add(m.ID, cb, "cb_2")
		add(other.ID, cb, "cb_1")
		add(m.ID, refund.DiscrepancyExecutedNotRecorded, "cb_1")
		reduce := func(ref string, by int64) error {
			return f.update(func(tx refund.Tx) error {
				d, err := tx.ReduceDiscrepancy(f.ctx, m.ID, cb, ref, by, "came back")
				if err == nil && (d.Reference != ref || d.Kind != cb || d.MerchantID != m.ID || d.Detail != "came back") {
					t.Errorf("reduced %+v; want the %s discrepancy about %s as it is now", d, cb, ref)
				}
				return err
			})
		}
		if err := reduce("cb_1", 1000); err != nil {
			t.Fatal(err)
		}
		// Not down to zero: still open, for a person.
		var part *refund.Discrepancy
		f.mustView(func(tx refund.Tx) (err error) { part, err = tx.GetDiscrepancy(f.ctx, m.ID, d.ID); return err })
		if part.Amount != 2000 || part.ResolvedAt != nil {
			t.Fatalf("after 1000 of 3000 came back: %d, resolved %v; want 2000 open", part.Amount, part.ResolvedAt)
		}
		wantCode(t, reduce("cb_1", 2001), refund.ENotFound)
		wantCode(t, reduce("cb_1", 0), refund.ENotFound)
		wantCode(t, reduce("cb_9", 1), refund.ENotFound)
		if err := reduce("cb_1", 2000); err != nil {
			t.Fatal(err)
		}
		var all []*refund.Discrepancy
		for _, mid := range []string{m.ID, other.ID} {
			f.mustView(func(tx refund.Tx) error {
				page, err := tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: mid, Limit: 10})
				all = append(all, page...)
				return err
			})
		}
		for _, got := range all {
			want, detail := int64(3000), "paid twice"
			if got.ID == d.ID {
				want, detail = 0, "came back"
			}
			if got.ResolvedAt != nil {
				// Whether one at zero is settled is the core's call
				// (refund's applyOwed resolves it), not the store's.
				t.Errorf("discrepancy %s resolved by a reduction", got.ID)
			}
			if got.Amount != want || got.Detail != detail {
				t.Errorf("discrepancy %s (%s %s): %d %q, want %d %q", got.ID, got.Kind, got.Reference, got.Amount, got.Detail, want, detail)
			}
		}
		if len(all) != 4 {
			t.Fatalf("%d discrepancies, want 4", len(all))
		}
	}},
	{"Resolve", func(t *testing.T, f *fixture) {
		// A discrepancy is open until resolved, once: who, when and the
		// note are kept and read back; the status filter lists one state,
		// no filter both; another merchant's is not found, nor changed.
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m1.ID)
		add := func(merchantID string, at time.Duration) *refund.Discrepancy {
			d := &refund.Discrepancy{ID: f.id("dsc"), MerchantID: merchantID, Kind: refund.DiscrepancyChargebackAfterRefund,
				OrderID: o.ID, Amount: 2500, Currency: "SAR", Detail: "paid twice", Reference: f.id("cb"), CreatedAt: t0.Add(at)}
			f.mustUpdate(func(tx refund.Tx) error { _, err := tx.InsertDiscrepancy(f.ctx, d); return err })
			return d
		}
		settled, open, others := add(m1.ID, 0), add(m1.ID, time.Second), add(m2.ID, 0)
		get := func(merchantID, id string) (*refund.Discrepancy, error) {
			var d *refund.Discrepancy
			err := f.view(func(tx refund.Tx) (err error) {
				d, err = tx.GetDiscrepancy(f.ctx, merchantID, id)
				return err
			})
			return d, err
		}
		got, err := get(m1.ID, settled.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSame(t, "open discrepancy", got, settled)
		if got.Status() != refund.DiscrepancyOpen {
			t.Fatalf("a new discrepancy is %s", got.Status())
		}
		resolve := func(d refund.Discrepancy) error {
			return f.update(func(tx refund.Tx) error { return tx.ResolveDiscrepancy(f.ctx, &d) })
		}
		at := t0.Add(time.Hour + 123456*time.Microsecond)
		done := *settled
		done.ResolvedAt, done.ResolvedBy, done.Resolution = &at, "user:usr_1", "refunded by bank transfer, ticket 4411"
		if err := resolve(done); err != nil {
			t.Fatal(err)
		}
		if got, err = get(m1.ID, settled.ID); err != nil {
			t.Fatal(err)
		}
		wantSame(t, "resolved discrepancy", got, &done)
		again := done
		later := at.Add(time.Hour)
		again.ResolvedAt, again.ResolvedBy, again.Resolution = &later, "key:key_2", "second"
		wantCode(t, resolve(again), refund.EConflict)
		foreign := *others
		foreign.MerchantID, foreign.ResolvedAt, foreign.ResolvedBy, foreign.Resolution = m1.ID, &at, "user:usr_1", "not mine"
		wantCode(t, resolve(foreign), refund.EDiscrepancyNotFound)
		_, err = get(m1.ID, others.ID)
		wantCode(t, err, refund.EDiscrepancyNotFound)
		_, err = get(m1.ID, "dsc_unknown")
		wantCode(t, err, refund.EDiscrepancyNotFound)
		if got, err = get(m1.ID, settled.ID); err != nil {
			t.Fatal(err)
		}
		wantSame(t, "after refused resolutions", got, &done)
		if got, err = get(m2.ID, others.ID); err != nil {
			t.Fatal(err)
		}
		wantSame(t, "another merchant's", got, others)
		for _, tc := range []struct {
			name, status string
			want         []string
		}{
			{"All", "", []string{open.ID, settled.ID}},
			{"Open", refund.DiscrepancyOpen, []string{open.ID}},
			{"Resolved", refund.DiscrepancyResolved, []string{settled.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var list []*refund.Discrepancy
				f.mustView(func(tx refund.Tx) (err error) {
					list, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m1.ID, Status: tc.status, Limit: 10})
					return err
				})
				var ids []string
				for _, d := range list {
					ids = append(ids, d.ID)
				}
				if strings.Join(ids, " ") != strings.Join(tc.want, " ") {
					t.Fatalf("listed %v, want %v", ids, tc.want)
				}
				for _, d := range list {
					if d.ID == settled.ID {
						wantSame(t, "listed resolved discrepancy", d, &done)
					}
				}
			})
		}
		// The gauge counts what needs a person: the open ones, of every
		// merchant.
		var n int64
		f.mustView(func(tx refund.Tx) (err error) {
			n, err = tx.CountDiscrepancies(f.ctx)
			return err
		})
		if n != 2 {
			t.Fatalf("CountDiscrepancies = %d, want the 2 open (%s, %s)", n, open.ID, others.ID)
		}
	}},
	{"ResolveRace", func(t *testing.T, f *fixture) {
		// Two resolutions at once, each reading the discrepancy open
		// first: one is recorded, the other refused as a conflict, never
		// overwriting it.
		m := f.mustCreateMerchant()
		d := &refund.Discrepancy{ID: f.id("dsc"), MerchantID: m.ID, Kind: refund.DiscrepancyExecutedNotRecorded,
			Amount: 100, Currency: "SAR", Reference: f.id("ref"), CreatedAt: t0}
		f.mustUpdate(func(tx refund.Tx) error { _, err := tx.InsertDiscrepancy(f.ctx, d); return err })
		errs := make(chan error, 2)
		for _, by := range []string{"key:a", "key:b"} {
			go func() {
				errs <- f.update(func(tx refund.Tx) error {
					cur, err := tx.GetDiscrepancy(f.ctx, m.ID, d.ID)
					if err != nil {
						return err
					}
					now := t0.Add(time.Minute)
					cur.ResolvedAt, cur.ResolvedBy, cur.Resolution = &now, by, "by "+by
					return tx.ResolveDiscrepancy(f.ctx, cur)
				})
			}()
		}
		codes := map[string]int{}
		for range 2 {
			codes[refund.ErrorCode(<-errs)]++
		}
		if codes[""] != 1 || codes[refund.EConflict] != 1 {
			t.Fatalf("outcomes %v, want one resolution and one conflict", codes)
		}
		var got *refund.Discrepancy
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.GetDiscrepancy(f.ctx, m.ID, d.ID)
			return err
		})
		if got.Resolution != "by "+got.ResolvedBy {
			t.Fatalf("resolution %q by %q: one resolution overwrote part of the other", got.Resolution, got.ResolvedBy)
		}
	}},
	{"FindRefundsByReference", func(t *testing.T, f *fixture) {
		// A report's ARN or RRN: the merchant's refunds that carry it,
		// oldest first, up to the limit; one processor account's when
		// named (two processors can number refunds alike); never another
		// merchant's.
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		oa := f.mustCreateOrder(m1.ID)
		ob := f.mustCreateOrder(m1.ID, func(o *refund.Order) { o.ProcessorAccountID, o.ProcessorOrderID = "pa_b", "PAY-B" })
		oc := f.mustCreateOrder(m2.ID)
		mk := func(o *refund.Order, seq int, rrn, arn string) string {
			r := f.mustCreateRefund(o, func(r *refund.Refund) { r.Seq = seq })
			r.RRN, r.ARN = rrn, arn
			f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, r) })
			return r.ID
		}
		a := mk(oa, 1, "634100000001", "")
		b := mk(ob, 1, "634100000001", "74000006341000000000016")
		mk(oc, 1, "634100000001", "74000006341000000000016") // m2's
		for _, tc := range []struct {
			name, account, field, value string
			limit                       int
			want                        []string
		}{
			{"RRN", "", "rrn", "634100000001", 5, []string{a, b}},
			{"Limit", "", "rrn", "634100000001", 1, []string{a}},
			{"ProcessorAccount", "pa_b", "rrn", "634100000001", 5, []string{b}},
			{"OtherProcessorAccount", "pa_c", "rrn", "634100000001", 5, nil},
			{"ARN", "", "arn", "74000006341000000000016", 5, []string{b}},
			{"Unknown", "", "rrn", "634100000002", 5, nil},
			{"Empty", "", "arn", "", 5, nil},
			{"OtherField", "", "id", a, 5, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var got []*refund.Refund
				f.mustView(func(tx refund.Tx) (err error) {
					got, err = tx.FindRefunds(f.ctx, m1.ID, tc.account, tc.field, tc.value, tc.limit)
					return err
				})
				wantIDs(t, "FindRefunds", got, tc.want...)
			})
		}
	}},
	{"SucceededRefunds", func(t *testing.T, f *fixture) {
		// Which refunds succeeded in [From, To), by when they succeeded,
		// not when they were made; succeeded still; a page at a time in
		// the order they succeeded, two at one instant across a page's
		// end included; one processor account's; the merchant's own.
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		oa := f.mustCreateOrder(m1.ID)
		ob := f.mustCreateOrder(m1.ID, func(o *refund.Order) { o.ProcessorAccountID, o.ProcessorOrderID = "pa_b", "PAY-B" })
		oc := f.mustCreateOrder(m2.ID)
		day := func(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC) }
		n := 0
		mk := func(o *refund.Order, s refund.Status, made, succeeded time.Time) string {
			n++
			r := f.mustCreateRefund(o, func(r *refund.Refund) { r.CreatedAt, r.UpdatedAt, r.Seq = made, made, n })
			r.Status, r.SucceededAt, r.UpdatedAt = s, succeeded, succeeded
			f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, r) })
			return r.ID
		}
		late := mk(oa, refund.StatusSucceeded, day(1), day(3).Add(10*time.Hour))      // made on the 1st, succeeded on the 3rd
		early := mk(ob, refund.StatusSucceeded, day(3), day(3).Add(9*time.Hour))      // account pa_b's
		same := mk(oa, refund.StatusSucceeded, day(3), day(3).Add(10*time.Hour))      // the same instant as late
		mk(oa, refund.StatusReversed, day(3), day(3).Add(time.Hour))                  // succeeded, since reversed
		mk(oa, refund.StatusSucceeded, day(2), day(2).Add(23*time.Hour))              // the day before
		edge := mk(ob, refund.StatusSucceeded, day(3), day(4).Add(-time.Microsecond)) // the day's last microsecond
		mk(oa, refund.StatusSucceeded, day(4), day(4))                                // the next day's first instant
		mk(oa, refund.StatusFailed, day(3), time.Time{})                              // never succeeded
		mk(oc, refund.StatusSucceeded, day(3), day(3).Add(time.Hour))                 // m2's
		list := func(filter refund.SucceededFilter) []*refund.Refund {
			var got []*refund.Refund
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.ListSucceededRefunds(f.ctx, filter)
				return err
			})
			return got
		}
		// late and same succeeded at one instant: by id after that.
		tied := []string{late, same}
		if same < late {
			tied = []string{same, late}
		}
		third := append(append([]string{early}, tied...), edge)
		for _, tc := range []struct {
			name    string
			account string
			limit   int
			want    []string
		}{
			{"OneDay", "", 0, third},
			{"Pages", "", 1, third},
			{"PagesOfTwo", "", 2, third},
			{"ProcessorAccount", "pa_b", 1, []string{early, edge}},
			{"OtherProcessorAccount", "pa_c", 0, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				filter := refund.SucceededFilter{MerchantID: m1.ID, ProcessorAccount: tc.account, From: day(3), To: day(4), Limit: tc.limit}
				var got []*refund.Refund
				for pages := 0; ; pages++ {
					page := list(filter)
					got = append(got, page...)
					if tc.limit == 0 || len(page) < tc.limit {
						break
					}
					if pages > 10 {
						t.Fatalf("paging does not end: %d refunds", len(got))
					}
					filter.After = page[len(page)-1]
				}
				wantIDs(t, "ListSucceededRefunds", got, tc.want...)
			})
		}
		if got := list(refund.SucceededFilter{MerchantID: m1.ID, From: day(3), To: day(4)}); len(got) == 0 ||
			!got[0].SucceededAt.Equal(day(3).Add(9*time.Hour)) || !got[0].CreatedAt.Equal(day(3)) {
			t.Fatalf("first refund of the 3rd: %+v", got)
		}
		if got := list(refund.SucceededFilter{MerchantID: m2.ID, From: day(1), To: day(9)}); len(got) != 1 {
			t.Fatalf("m2's refunds that succeeded: %d, want 1", len(got))
		}
	}},
	{"RecoverSucceededAt", func(t *testing.T, f *fixture) {
		// Refunds an older node finished (succeeded, or since reversed,
		// without a time) get their last move to succeeded, else their
		// updated time, and a new version; others are left as they are.
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o1, o2 := f.mustCreateOrder(m1.ID), f.mustCreateOrder(m2.ID)
		n := 0
		mk := func(o *refund.Order, s refund.Status, succeeded time.Time, moves ...time.Time) *refund.Refund {
			n++
			r := f.mustCreateRefund(o, func(r *refund.Refund) { r.Seq = n })
			r.Status, r.SucceededAt, r.UpdatedAt = s, succeeded, t0.Add(5*time.Hour)
			f.mustUpdate(func(tx refund.Tx) error {
				for _, at := range moves {
					if err := tx.InsertTransition(f.ctx, refund.Transition{RefundID: r.ID, From: refund.StatusPending, To: refund.StatusSucceeded, At: at}); err != nil {
						return err
					}
				}
				return tx.UpdateRefund(f.ctx, r)
			})
			return r
		}
		moved := mk(o1, refund.StatusSucceeded, time.Time{}, t0.Add(time.Hour), t0.Add(2*time.Hour)) // failed, then revived: the last
		reversed := mk(o1, refund.StatusReversed, time.Time{}, t0.Add(3*time.Hour))
		bare := mk(o1, refund.StatusSucceeded, time.Time{}) // no transition recorded: its updated time
		known := mk(o1, refund.StatusSucceeded, t0.Add(4*time.Hour), t0.Add(time.Hour))
		failed := mk(o1, refund.StatusFailed, time.Time{})
		other := mk(o2, refund.StatusSucceeded, time.Time{}, t0.Add(time.Hour))
		recoverFor := func(merchantID string) int64 {
			var n int64
			f.mustUpdate(func(tx refund.Tx) (err error) {
				n, err = tx.RecoverSucceededAt(f.ctx, merchantID)
				return err
			})
			return n
		}
		if got := recoverFor(m1.ID); got != 3 {
			t.Fatalf("RecoverSucceededAt = %d, want 3", got)
		}
		for _, tc := range []struct {
			name    string
			r       *refund.Refund
			want    time.Time
			version int64
		}{
			{"moved twice", moved, t0.Add(2 * time.Hour), moved.Version + 1},
			{"reversed", reversed, t0.Add(3 * time.Hour), reversed.Version + 1},
			{"no transition", bare, t0.Add(5 * time.Hour), bare.Version + 1},
			{"known", known, t0.Add(4 * time.Hour), known.Version},
			{"failed", failed, time.Time{}, failed.Version},
			{"another merchant's", other, time.Time{}, other.Version},
		} {
			got := f.mustGetRefund(tc.r.ID)
			if !got.SucceededAt.Equal(tc.want) || got.Version != tc.version {
				t.Errorf("%s: succeeded at %v, version %d; want %v, %d", tc.name, got.SucceededAt, got.Version, tc.want, tc.version)
			}
		}
		// A copy read before cannot write the time away.
		err := f.update(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, moved) })
		if refund.ErrorCode(err) != refund.EConflict {
			t.Fatalf("a copy read before recovery wrote: %v, want a conflict", err)
		}
		if got := recoverFor(m1.ID); got != 0 {
			t.Fatalf("RecoverSucceededAt again = %d, want 0", got)
		}
	}},
	{"SettlementReports", func(t *testing.T, f *fixture) {
		// A report is kept by its account and day with the refunds it
		// listed; one of the same account and day replaces it; other
		// reports' listings are asked about by merchant, many ids at once.
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m1.ID)
		a, b, c := f.mustCreateRefund(o), f.mustCreateRefund(o), f.mustCreateRefund(o)
		day := func(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC) }
		recordFor := func(merchantID, account string, from, on int, ids ...string) {
			f.mustUpdate(func(tx refund.Tx) error {
				return tx.RecordReport(f.ctx, &refund.SettlementReport{MerchantID: merchantID, ProcessorAccount: account,
					Day: day(on), From: day(from), ReconciledAt: t0, RefundIDs: ids})
			})
		}
		record := func(merchantID string, from, on int, ids ...string) { recordFor(merchantID, "", from, on, ids...) }
		elsewhereFor := func(merchantID, account string, from, on int, ids ...string) string {
			var got map[string]bool
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.ListedByOtherReports(f.ctx, &refund.SettlementReport{MerchantID: merchantID, ProcessorAccount: account,
					From: day(from), Day: day(on)}, ids)
				return err
			})
			var out []string
			for _, id := range ids {
				if got[id] {
					out = append(out, id)
				}
			}
			if len(got) != len(out) {
				t.Fatalf("ListedByOtherReports answered ids it was not asked about: %v", got)
			}
			return strings.Join(out, " ")
		}
		elsewhere := func(merchantID string, on int, ids ...string) string {
			return elsewhereFor(merchantID, "", on, on, ids...)
		}
		coverFromFor := func(merchantID, account string) time.Time {
			var from time.Time
			f.mustView(func(tx refund.Tx) (err error) {
				cov, err := tx.ReportCoverage(f.ctx, merchantID, account, day(20), day(20))
				from = cov.First
				return err
			})
			return from
		}
		coverFrom := func(merchantID string) time.Time { return coverFromFor(merchantID, "") }
		if got := coverFrom(m1.ID); !got.IsZero() {
			t.Fatalf("no report yet, but they cover from %v", got)
		}
		record(m1.ID, 2, 2, a.ID)
		record(m1.ID, 3, 3, b.ID, c.ID)
		record(m1.ID, 3, 3, b.ID) // the 3rd's corrected report: c is no longer listed
		record(m1.ID, 4, 4)       // a report that listed no refund of ours
		for _, tc := range []struct {
			day  int
			want string
		}{{2, b.ID}, {3, a.ID}, {4, a.ID + " " + b.ID}} {
			if got := elsewhere(m1.ID, tc.day, a.ID, b.ID, c.ID); got != tc.want {
				t.Errorf("listed by a report of another day than the %d: %q, want %q", tc.day, got, tc.want)
			}
		}
		if got := coverFrom(m1.ID); !got.Equal(day(2)) {
			t.Errorf("reports cover from %v, want %v", got, day(2))
		}
		if got := elsewhere(m2.ID, 9, a.ID, b.ID); got != "" {
			t.Errorf("another merchant sees %q listed", got)
		}
		if got := coverFrom(m2.ID); !got.IsZero() {
			t.Errorf("another merchant's reports cover from %v", got)
		}
		if got := elsewhere(m1.ID, 9); got != "" {
			t.Errorf("no ids: %q", got)
		}
		// A report of other days (the 2nd and 3rd together) is another
		// report: it replaces neither of the days' own.
		record(m1.ID, 2, 3, c.ID)
		if got := elsewhere(m1.ID, 3, a.ID, b.ID, c.ID); got != a.ID+" "+c.ID {
			t.Errorf("after a report of the 2nd and 3rd: %q listed elsewhere than the 3rd's, want a and c", got)
		}
		if got := elsewhereFor(m1.ID, "", 2, 3, a.ID, b.ID, c.ID); got != a.ID+" "+b.ID {
			t.Errorf("elsewhere than the report of the 2nd and 3rd: %q, want a and b", got)
		}
		record(m1.ID, 2, 3) // and corrected, it lists nothing
		// Another account's reports are apart: its report of the 3rd
		// replaces nothing of the one above, and counts as another report.
		const acct = "pa_other"
		recordFor(m1.ID, acct, 1, 3, c.ID)
		if got := elsewhere(m1.ID, 3, a.ID, b.ID, c.ID); got != a.ID+" "+c.ID {
			t.Errorf("after another account's report of the 3rd: %q listed elsewhere, want a and c", got)
		}
		if got := elsewhereFor(m1.ID, acct, 1, 3, a.ID, b.ID, c.ID); got != a.ID+" "+b.ID {
			t.Errorf("for the other account's report of the 3rd: %q listed elsewhere, want a and b", got)
		}
		if got, want := coverFromFor(m1.ID, acct), day(1); !got.Equal(want) {
			t.Errorf("the other account's reports cover from %v, want %v", got, want)
		}
		if got := coverFrom(m1.ID); !got.Equal(day(2)) {
			t.Errorf("after another account's report, the merchant's own cover from %v, want %v", got, day(2))
		}
		many := make([]string, 0, 1201)
		for i := range 1200 {
			many = append(many, fmt.Sprintf("re_absent_%04d", i))
		}
		many = append(many, b.ID)
		if got := elsewhere(m1.ID, 9, many...); got != b.ID {
			t.Errorf("among 1,201 ids: %q, want %q", got, b.ID)
		}
	}},
	{"ReportCoverage", func(t *testing.T, f *fixture) {
		// Around a report's days: the first day any report of the account
		// covers, the last day covered by those beginning before it, the
		// first covered by those ending after it.
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		day := func(n int) time.Time {
			if n == 0 {
				return time.Time{}
			}
			return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC)
		}
		record := func(merchantID, account string, from, to int) {
			f.mustUpdate(func(tx refund.Tx) error {
				return tx.RecordReport(f.ctx, &refund.SettlementReport{MerchantID: merchantID, ProcessorAccount: account,
					From: day(from), Day: day(to), ReconciledAt: day(28)})
			})
		}
		type around struct{ first, before, after int } // days of March, 0 for none
		check := func(name, merchantID, account string, from, to int, want around) {
			t.Helper()
			var got refund.ReportCoverage
			f.mustView(func(tx refund.Tx) (err error) {
				got, err = tx.ReportCoverage(f.ctx, merchantID, account, day(from), day(to))
				return err
			})
			if !got.First.Equal(day(want.first)) || !got.Before.Equal(day(want.before)) || !got.After.Equal(day(want.after)) {
				t.Errorf("%s: %+v, want first, before, after %v, %v, %v", name, got, day(want.first), day(want.before), day(want.after))
			}
		}
		check("no report", m1.ID, "", 5, 5, around{})
		record(m1.ID, "", 2, 2)
		record(m1.ID, "", 3, 3)
		record(m1.ID, "", 8, 9)
		record(m1.ID, "pa_other", 5, 5)
		record(m2.ID, "", 1, 1)
		for _, tc := range []struct {
			name     string
			from, to int
			want     around
		}{
			{"in a gap", 5, 6, around{2, 3, 8}},
			{"after all", 12, 12, around{2, 9, 0}},
			{"before all", 1, 1, around{2, 0, 2}},
			{"a recorded report's own days", 3, 3, around{2, 2, 8}},
			{"a day inside a two days' report", 9, 9, around{2, 9, 0}},
			{"overlapping a report's start and end", 2, 8, around{2, 0, 8}},
		} {
			check(tc.name, m1.ID, "", tc.from, tc.to, tc.want)
		}
		check("another account's", m1.ID, "pa_other", 7, 7, around{5, 5, 0})
		check("an unknown account's", m1.ID, "pa_none", 7, 7, around{})
		check("another merchant's", m2.ID, "", 7, 7, around{1, 1, 0})
	}},
	{"StoreClock", func(t *testing.T, f *fixture) {
		// The store's clock is a real clock: it moves forward and is near
		// this host's (both run on the test machine).
		a, err := f.store.Now(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.store.Now(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Before(a) {
			t.Fatalf("store clock went back: %v then %v", a, b)
		}
		if d := time.Since(a); d < -time.Minute || d > time.Minute {
			t.Fatalf("store clock is %v away from this host's", d)
		}
	}},
}
