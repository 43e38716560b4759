package refund_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// reconciler is a Service on a store whose clock reads *now, with a
// merchant allowed to reconcile (p) and one order (o).
type reconciler struct {
	cfg refund.Config
	svc *refund.Service
	p   refund.Principal
	o   *refund.Order
}

func newReconciler(t *testing.T, st refund.Store, now *time.Time, currency string, amount int64) reconciler {
	t.Helper()
	ctx := context.Background()
	ids := 0
	m := reconciler{cfg: refund.Config{Store: st, Processor: reversingProcessor{}, Now: func() time.Time { return *now },
		NewID: func(p string) string { ids++; return fmt.Sprintf("%s_%04d", p, ids) }}}
	var err error
	if m.svc, err = refund.NewService(m.cfg); err != nil {
		t.Fatal(err)
	}
	_, key, err := m.svc.CreateMerchant(ctx, refund.MerchantInput{Name: "M"})
	if err != nil {
		t.Fatal(err)
	}
	if m.p, err = m.svc.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	m.p.Scopes = append(m.p.Scopes, refund.ScopeRefundsReview)
	if m.o, err = m.svc.CreateOrder(ctx, m.p, refund.OrderInput{Currency: currency, Amount: amount}); err != nil {
		t.Fatal(err)
	}
	return m
}

// day is a day of March 2026, midnight UTC.
func day(n int) time.Time { return time.Date(2026, 3, n, 0, 0, 0, 0, time.UTC) }

// TestReconcile_RefundsAnOlderNodeFinished: during a rolling upgrade a
// node older than migration 0022 finishes refunds without recording when
// they succeeded. Reconciliation fills that in from their transitions
// before it asks which refunds succeeded in the report's days, so such a
// refund missing from its report is still found.
func TestReconcile_RefundsAnOlderNodeFinished(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		m := newReconciler(t, st, &now, "SAR", 10_000)
		svc, p, o := m.svc, m.p, m.o
		var made []*refund.Refund
		for range 2 {
			one := int64(100)
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &one})
			if err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("refund: %v %v", r, err)
			}
			made = append(made, r)
			now = now.Add(time.Hour)
		}
		// The second as an older node leaves it: succeeded, no time.
		err := st.Update(ctx, func(tx refund.Tx) error {
			r, err := tx.GetRefund(ctx, p.MerchantID, made[1].ID)
			if err != nil {
				return err
			}
			r.SucceededAt = time.Time{}
			return tx.UpdateRefund(ctx, r)
		})
		if err != nil {
			t.Fatal(err)
		}
		rows := []refund.ReportRow{{Line: 2, RefundID: made[0].ID, Amount: 100, Currency: "SAR", Status: "approved", Date: now}}
		rec, err := svc.Reconcile(ctx, p, rows, refund.ReconcileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, res := range rec.Results {
			if res.Kind == refund.ReconMissingAtProcessor {
				missing = append(missing, res.RefundID)
			}
		}
		if fmt.Sprint(missing) != fmt.Sprint([]string{made[1].ID}) {
			t.Fatalf("missing at the processor: %v, want the refund the older node finished (%s)", missing, made[1].ID)
		}
		var got *refund.Refund
		err = st.View(ctx, func(tx refund.Tx) (err error) {
			got, err = tx.GetRefund(ctx, p.MerchantID, made[1].ID)
			return err
		})
		if err != nil || !got.SucceededAt.Equal(made[1].CreatedAt) {
			t.Fatalf("recovered succeeded time %v (%v), want %v, when its transition says it succeeded", got.SucceededAt, err, made[1].CreatedAt)
		}
	})
}

// TestReconcile_UncheckedDays: a day skipped comes back unchecked with the
// refunds no report listed, and is checked when its report, empty here,
// is reconciled with the days it covers.
func TestReconcile_UncheckedDays(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		m := newReconciler(t, st, &now, "KWD", 100_000)
		svc, p, o := m.svc, m.p, m.o
		made := map[int]*refund.Refund{} // by day of March
		for n, amount := range map[int]int64{1: 1_250, 2: 2_500, 3: 5_125} {
			now = day(n).Add(10 * time.Hour)
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
			if err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("refund: %v %v", r, err)
			}
			made[n] = r
		}
		now = day(6)
		listing := func(n, on int) refund.ReportRow {
			return refund.ReportRow{Line: 2, RefundID: made[n].ID, Amount: made[n].Amount, Currency: "KWD", Status: "settled", Date: day(on)}
		}
		for _, tc := range []struct {
			name      string
			rows      []refund.ReportRow
			opt       refund.ReconcileOptions
			missing   string // refunds flagged missing, by day
			unchecked string
		}{
			{"the 1st", []refund.ReportRow{listing(1, 1)}, refund.ReconcileOptions{}, "[]", "[]"},
			{"the 4th", []refund.ReportRow{listing(3, 4)}, refund.ReconcileOptions{}, "[]", "[2-3 true 1 map[KWD:2500]]"},
			{"the 2nd, empty", nil, refund.ReconcileOptions{From: day(2), To: day(2)}, "[2]", "[3-3 true 0 map[]]"},
			{"the 3rd, empty", nil, refund.ReconcileOptions{From: day(3), To: day(3)}, "[]", "[]"}, // the 4th's listed it
		} {
			rec, err := svc.Reconcile(ctx, p, tc.rows, tc.opt)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			missing := []int{}
			for _, res := range rec.Results {
				for n, r := range made {
					if res.RefundID == r.ID && res.Kind == refund.ReconMissingAtProcessor {
						missing = append(missing, n)
					}
				}
			}
			unchecked := []string{}
			for _, u := range rec.Unchecked {
				unchecked = append(unchecked, fmt.Sprintf("%d-%d %v %d %v", u.From.Day(), u.To.Day(), u.Counted, u.Refunds, u.Totals))
			}
			if fmt.Sprint(missing) != tc.missing || fmt.Sprint(unchecked) != tc.unchecked {
				t.Errorf("%s: missing %v, unchecked %v; want %s, %s", tc.name, missing, unchecked, tc.missing, tc.unchecked)
			}
		}
		for _, opt := range []refund.ReconcileOptions{{From: day(2)}, {From: day(3), To: day(2)}, {From: day(2).Add(time.Hour), To: day(2).Add(time.Hour)},
			{From: day(1), To: day(1).AddDate(0, 0, refund.MaxReportDays)}, {}} {
			if _, err := svc.Reconcile(ctx, p, nil, opt); refund.ErrorCode(err) != refund.EInvalidRequest {
				t.Errorf("an empty report with %v to %v: %v, want invalid_request", opt.From, opt.To, err)
			}
		}
		if _, err := svc.Reconcile(ctx, p, nil, refund.ReconcileOptions{From: day(1), To: day(1).AddDate(0, 0, refund.MaxReportDays-1)}); err != nil {
			t.Errorf("an empty report of %d days: %v", refund.MaxReportDays, err)
		}
		// Midnight UTC written in another zone is that UTC day.
		ast := time.FixedZone("AST", 3*60*60)
		rec, err := svc.Reconcile(ctx, p, nil, refund.ReconcileOptions{From: day(2).In(ast), To: day(2).In(ast)})
		if err != nil || rec.From != day(2) || rec.To != day(2) {
			t.Errorf("the 2nd, written in Riyadh's time: %v to %v, %v", rec.From, rec.To, err)
		}
	})
}

// readsFail is a store whose read transactions fail: a reconciliation's
// count of unchecked refunds runs in one after the commit.
type readsFail struct{ refund.Store }

func (readsFail) View(context.Context, func(refund.Tx) error) error {
	return errors.New("the read failed")
}

// A count that fails after the reconciliation committed answers the
// committed reconciliation, its unchecked days uncounted, not an error
// that would have the caller send it again.
func TestReconcile_UncountedWhenTheCountFails(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	m := newReconciler(t, st, &now, "SAR", 10_000)
	svc, p, o := m.svc, m.p, m.o
	one := int64(100)
	r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &one})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reconcile(ctx, p, nil, refund.ReconcileOptions{From: day(1), To: day(1)}); err != nil {
		t.Fatal(err)
	}
	cfg := m.cfg
	cfg.Store = readsFail{st}
	failing, err := refund.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := failing.Reconcile(ctx, p, nil, refund.ReconcileOptions{From: day(3), To: day(3)})
	if err != nil || len(rec.Unchecked) != 1 || rec.Unchecked[0].Counted || rec.Unchecked[0].Totals != nil || !rec.Unchecked[0].From.Equal(day(2)) {
		t.Fatalf("reconciled with the count failing: %+v, %v; want the 2nd unchecked, uncounted", rec, err)
	}
	// It was committed: the 3rd's report is remembered, so the 2nd's,
	// reconciled now, lies between two reports and names no gap, and
	// finds the refund missing.
	rec, err = svc.Reconcile(ctx, p, nil, refund.ReconcileOptions{From: day(2), To: day(2)})
	if err != nil || len(rec.Unchecked) != 0 || rec.Flagged != 1 || rec.Results[0].RefundID != r.ID {
		t.Fatalf("the 2nd's report after: %+v, %v", rec, err)
	}
}

// scrambled is n characters that no compression shrinks, as a processor's
// garbled column would be.
func scrambled(n int) string {
	b := make([]byte, n)
	x := uint64(88172645463325252)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[x%36]
	}
	return string(b)
}

// A row's refund id, ARN or RRN longer than any refund's names none, and
// the row would be kept as an unknown_to_refundd discrepancy under it:
// PostgreSQL's index on the reference refused a long one (an internal
// error, 500) where SQLite kept it. Refused on both, naming the line and
// the field, with nothing recorded; one at the bound is listed as any
// unknown row is.
func TestReconcile_LongReferenceIsRefused(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		m := newReconciler(t, st, &now, "SAR", 10_000)
		svc, p := m.svc, m.p
		long := scrambled(9000)
		for _, tc := range []struct {
			param string
			row   refund.ReportRow
		}{
			{"refund_id", refund.ReportRow{RefundID: long}},
			{"arn", refund.ReportRow{ARN: long}},
			{"rrn", refund.ReportRow{RRN: long}},
			{"refund_id", refund.ReportRow{RefundID: scrambled(refund.MaxReportReference + 1), ARN: "74000000000000000000001"}},
		} {
			row := tc.row
			row.Line, row.Amount, row.Currency, row.Status, row.Date = 2, 100, "SAR", "approved", now
			_, err := svc.Reconcile(ctx, p, []refund.ReportRow{row}, refund.ReconcileOptions{})
			var e *refund.Error
			if !errors.As(err, &e) || e.Code != refund.EInvalidRequest || e.Param != tc.param || !strings.Contains(e.Message, "line 2") {
				t.Errorf("a %s of %d characters: %v, want invalid_request naming %s and line 2", tc.param,
					len(row.RefundID+row.ARN+row.RRN), err, tc.param)
			}
		}
		page, err := svc.ListDiscrepancies(ctx, p, refund.DiscrepancyFilter{})
		if err != nil || len(page.Data) != 0 {
			t.Fatalf("refused reports listed %d discrepancies (%v), want none", len(page.Data), err)
		}
		atBound := scrambled(refund.MaxReportReference)
		rec, err := svc.Reconcile(ctx, p, []refund.ReportRow{{Line: 2, ARN: atBound, Amount: 100, Currency: "SAR", Status: "approved", Date: now}},
			refund.ReconcileOptions{})
		if err != nil || len(rec.Results) != 1 || rec.Results[0].Kind != refund.ReconUnknownToRefundd || rec.Results[0].Reference != atBound {
			t.Fatalf("an ARN of %d characters: %+v, %v; want it unknown_to_refundd", refund.MaxReportReference, rec, err)
		}
	})
}

// A report's row paid of a refund refundd has reversed since is a
// difference of status (paid, says the report; reversed, says refundd),
// not a payment refundd never recorded: it was flagged
// executed_not_recorded, telling of a second payment, which has the
// person looking at it chase money that never left twice. It is
// status_mismatch, listed once with its event; the reversal's own row
// matches, and the refund stays reversed.
func TestReconcile_PaidRowOfARefundReversedSince(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			name     string
			statuses []string // the report's rows for the refund
			kinds    string
			flagged  int
		}{
			{"Paid", []string{"settled"}, "[status_mismatch]", 1},
			// A report that lists both tells what refundd has.
			{"PaidThenReversed", []string{"approved", "reversed"}, "[matched matched]", 0},
			{"ReversedThenPaid", []string{"reversed", "settled"}, "[matched matched]", 0},
			{"Reversed", []string{"reversed"}, "[matched]", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := newReconciler(t, open(t), &now, "KWD", 10_000)
				svc, p := m.svc, m.p
				amount := int64(2_500)
				r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: m.o.ID, Amount: &amount})
				if err != nil || r.Status != refund.StatusSucceeded {
					t.Fatalf("refund: %v %v", r, err)
				}
				if r, err = svc.SyncRefund(ctx, p, r.ID); err != nil || r.Status != refund.StatusReversed {
					t.Fatalf("sync: %v %v; want it reversed", r, err)
				}
				var rows []refund.ReportRow
				for i, st := range tc.statuses {
					rows = append(rows, refund.ReportRow{Line: 2 + i, RefundID: r.ID, Amount: amount, Currency: "KWD", Status: st, Date: day(1)})
				}
				for run := range 2 {
					rec, err := svc.Reconcile(ctx, p, rows, refund.ReconcileOptions{})
					if err != nil {
						t.Fatal(err)
					}
					var kinds []string
					for _, res := range rec.Results {
						kinds = append(kinds, res.Kind)
					}
					if fmt.Sprint(kinds) != tc.kinds || rec.Flagged != tc.flagged {
						t.Fatalf("run %d: rows came to %v, %d flagged; want %s, %d: %+v", run, kinds, rec.Flagged, tc.kinds, tc.flagged, rec.Results)
					}
					page, err := svc.ListDiscrepancies(ctx, p, refund.DiscrepancyFilter{})
					if err != nil || len(page.Data) != tc.flagged || tc.flagged == 1 && page.Data[0].Kind != refund.ReconStatusMismatch {
						t.Fatalf("run %d: discrepancies %+v (%v), want %d of status_mismatch", run, page.Data, err, tc.flagged)
					}
					evs, err := svc.ListEvents(ctx, p, refund.EventFilter{Type: refund.EventRefundDiscrepancy})
					if err != nil || len(evs.Data) != tc.flagged {
						t.Fatalf("run %d: %d refund.discrepancy events (%v), want %d", run, len(evs.Data), err, tc.flagged)
					}
				}
				got, err := svc.GetRefund(ctx, p, r.ID)
				if err != nil || got.Status != refund.StatusReversed {
					t.Fatalf("refund after the report: %v %v; want it reversed", got, err)
				}
			})
		}
	})
}

// TestReconcile_MissingThenListedIsResolved: a refund one day's report
// lacks is missing_at_processor; a later report that lists it paid (the
// processor settled it a day late) resolves that discrepancy as refundd's,
// its row matched, so the open list keeps only what needs a person.
// Reconciling the later report again changes nothing, and a report that
// lists it with another amount resolves nothing.
func TestReconcile_MissingThenListedIsResolved(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		for _, tc := range []struct {
			name     string
			amount   int64 // the later report's
			kind     string
			resolved bool
		}{
			{"ListedPaid", 2_500, refund.ReconMatched, true},
			{"ListedWithAnotherAmount", 2_400, refund.ReconAmountMismatch, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
				m := newReconciler(t, open(t), &now, "KWD", 10_000)
				svc, p := m.svc, m.p
				amount := int64(2_500)
				var refunds []*refund.Refund
				for range 2 {
					r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: m.o.ID, Amount: &amount})
					if err != nil || r.Status != refund.StatusSucceeded {
						t.Fatalf("refund: %v %v", r, err)
					}
					refunds = append(refunds, r)
				}
				late := refunds[1]
				now = now.Add(48 * time.Hour)
				first := []refund.ReportRow{{Line: 2, RefundID: refunds[0].ID, Amount: amount, Currency: "KWD", Status: "settled", Date: day(1)}}
				rec, err := svc.Reconcile(ctx, p, first, refund.ReconcileOptions{})
				if err != nil || rec.Flagged != 1 {
					t.Fatalf("first report: %+v %v; want the second refund missing", rec, err)
				}
				openOnes := func() []*refund.Discrepancy {
					t.Helper()
					page, err := svc.ListDiscrepancies(ctx, p, refund.DiscrepancyFilter{Status: refund.DiscrepancyOpen})
					if err != nil {
						t.Fatal(err)
					}
					return page.Data
				}
				if d := openOnes(); len(d) != 1 || d[0].Kind != refund.ReconMissingAtProcessor || d[0].RefundID != late.ID {
					t.Fatalf("open discrepancies %+v; want the late refund's missing_at_processor", d)
				}
				later := []refund.ReportRow{{Line: 2, RefundID: late.ID, Amount: tc.amount, Currency: "KWD", Status: "settled", Date: day(2)}}
				for run := range 2 {
					rec, err := svc.Reconcile(ctx, p, later, refund.ReconcileOptions{})
					if err != nil || len(rec.Results) != 1 || rec.Results[0].Kind != tc.kind {
						t.Fatalf("run %d of the later report: %+v %v; want its row %s", run, rec, err, tc.kind)
					}
					missing := 0
					for _, d := range openOnes() {
						if d.Kind == refund.ReconMissingAtProcessor {
							missing++
						}
					}
					if tc.resolved != (missing == 0) {
						t.Fatalf("run %d: %d open missing_at_processor; resolved: want %v", run, missing, tc.resolved)
					}
				}
				if !tc.resolved {
					return
				}
				page, err := svc.ListDiscrepancies(ctx, p, refund.DiscrepancyFilter{Status: refund.DiscrepancyResolved})
				if err != nil || len(page.Data) != 1 || page.Data[0].ResolvedBy != refund.ResolvedByRefundd ||
					!strings.Contains(page.Data[0].Resolution, "line 2") {
					t.Fatalf("resolved discrepancies %+v (%v); want the missing one, by refundd, naming the line", page.Data, err)
				}
			})
		}
	})
}

// TestReconcile_PaidBeforeSent: a report showing paid a refund refundd
// holds unsent (pending, or waiting for approval) was flagged only, the
// refund left to be sent again (paying twice where the processor does not
// deduplicate) or released by a rejection or expiry. It is recorded as
// succeeded, as a notification's word is; one that waited for approval is
// listed as well. Reconciling the report again changes nothing.
func TestReconcile_PaidBeforeSent(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		for _, tc := range []struct {
			name     string
			approval bool
			flagged  int
		}{
			{"Pending", false, 1},
			{"RequiresApproval", true, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
				m := newReconciler(t, open(t), &now, "KWD", 10_000)
				svc, p := m.svc, m.p
				amount := int64(2_500)
				in := refund.RefundInput{OrderID: m.o.ID, Amount: &amount, Queue: !tc.approval}
				if tc.approval {
					if _, err := svc.PutRefundPolicy(ctx, p, refund.RefundPolicyInput{ApprovalThreshold: &map[string]int64{"KWD": 1_000}}); err != nil {
						t.Fatal(err)
					}
				}
				r, err := svc.CreateRefund(ctx, p, in)
				if err != nil || r.Status == refund.StatusSucceeded {
					t.Fatalf("refund: %v %v", r, err)
				}
				rows := []refund.ReportRow{{Line: 2, RefundID: r.ID, Amount: amount, Currency: "KWD", Status: "settled", Date: day(1)}}
				for run := range 2 {
					rec, err := svc.Reconcile(ctx, p, rows, refund.ReconcileOptions{})
					if err != nil || len(rec.Results) != 1 {
						t.Fatalf("run %d: %+v %v", run, rec, err)
					}
					want := refund.ReconExecutedNotRecorded
					if run == 1 {
						want = refund.ReconMatched
					}
					if res := rec.Results[0]; res.Kind != want || res.Corrected != (run == 0) || res.BookStatus != string(refund.StatusSucceeded) {
						t.Fatalf("run %d: %+v; want %s, corrected on the first run, succeeded", run, res, want)
					}
				}
				got, err := svc.GetRefund(ctx, p, r.ID)
				if err != nil || got.Status != refund.StatusSucceeded {
					t.Fatalf("refund after the report: %v %v; want it succeeded", got, err)
				}
				o, err := svc.GetOrder(ctx, p, m.o.ID)
				if err != nil || o.RefundedAmount != amount || o.PendingRefundAmount != 0 {
					t.Fatalf("order after the report: %+v %v; want %d refunded, nothing pending", o, err, amount)
				}
				page, err := svc.ListDiscrepancies(ctx, p, refund.DiscrepancyFilter{})
				if err != nil || len(page.Data) != tc.flagged {
					t.Fatalf("discrepancies %+v (%v); want %d", page.Data, err, tc.flagged)
				}
			})
		}
	})
}
