package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// reportLine is a settlement report row for refund r, as the processor
// would write it.
func reportLine(r reply) string {
	cur, _ := money.LookupCurrency(r.str("currency"))
	return fmt.Sprintf("%s,%s,%s,%s,%s,approved,2026-03-01", r.str("id"), r.str("arn"), r.str("rrn"),
		money.Format(r.num("amount"), cur), r.str("currency"))
}

func (s *testServer) reconcile(csv string) reply {
	s.t.Helper()
	return s.do("POST", "/v1/reconciliations", s.key, csv, "Content-Type", "text/csv")
}

// Reconciling a clean report flags nothing; a report with one amount
// changed, one row deleted and one unknown row added flags exactly those
// three, by their kind names; reconciling it again records nothing new.
func TestReconcile(t *testing.T) {
	s := mustStart(t)
	order := s.mustOrder(cardOrder("4444", 100_000))
	var refunds []reply
	for _, amount := range []int{1000, 2500, 3333} {
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": amount})
		if r.status != http.StatusCreated || r.str("status") != "succeeded" {
			t.Fatalf("refund: %d %s", r.status, r.raw)
		}
		refunds = append(refunds, r)
	}
	header := "refund_id,arn,rrn,amount,currency,status,date\n"
	var clean []string
	for _, r := range refunds {
		clean = append(clean, reportLine(r))
	}
	got := s.reconcile(header + strings.Join(clean, "\n") + "\n")
	if got.status != 200 || got.num("flagged") != 0 {
		t.Fatalf("clean report: %d %s", got.status, got.raw)
	}
	for _, x := range got.get("results").([]any) {
		if k := x.(map[string]any)["kind"]; k != "matched" {
			t.Fatalf("clean report: a row is %v: %s", k, got.raw)
		}
	}

	changed := strings.Replace(clean[0], ",10.00,", ",10.01,", 1)
	unknown := "re_not_ours,74000000000000000000999,606099999999,7.50,SAR,approved,2026-03-01"
	bad := header + changed + "\n" + clean[2] + "\n" + unknown + "\n" // clean[1] deleted
	// A report declared in another charset is refused, not misread (an
	// Arabic merchant name in windows-1256 is not UTF-8), and flags nothing.
	if r := s.do("POST", "/v1/reconciliations", s.key, bad, "Content-Type", "text/csv; charset=windows-1256"); r.status != 415 ||
		r.str("error", "code") != "unsupported_media_type" {
		t.Fatalf("a windows-1256 report: %d %s; want 415", r.status, r.raw)
	}
	if n := len(s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)); n != 0 {
		t.Fatalf("a refused report flagged %d discrepancies", n)
	}
	for run := range 2 {
		got = s.reconcile(bad)
		if got.status != 200 || got.num("flagged") != 3 {
			t.Fatalf("run %d of the altered report: %d %s", run, got.status, got.raw)
		}
		kinds := map[string]string{}
		for _, x := range got.get("results").([]any) {
			m := x.(map[string]any)
			if m["flagged"] == true {
				id, _ := m["refund_id"].(string)
				if id == "" {
					id, _ = m["reference"].(string)
				}
				kinds[id] = m["kind"].(string)
			}
		}
		want := map[string]string{refunds[0].str("id"): "amount_mismatch", refunds[1].str("id"): "missing_at_processor", "re_not_ours": "unknown_to_refundd"}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Fatalf("run %d flagged %v, want %v", run, kinds, want)
		}
		list := s.do("GET", "/v1/discrepancies", s.key, nil)
		if n := len(list.get("data").([]any)); n != 3 {
			t.Fatalf("run %d: %d discrepancies listed, want 3", run, n)
		}
	}
	if sum := got.get("summary").([]any); len(sum) != 1 {
		t.Fatalf("summary %v", sum)
	}
}

// A refund waiting for review that the report shows paid is a safe
// correction: it becomes succeeded, and nothing is flagged.
func TestReconcile_SettlesARefundWaitingForReview(t *testing.T) {
	s := mustStart(t)
	order := s.mustOrder(cardOrder("4444", 10_000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000, "queue": true})
	id := r.str("id")
	err := s.Store.Update(context.Background(), func(tx refund.Tx) error {
		rf, err := tx.GetRefund(context.Background(), "", id)
		if err != nil {
			return err
		}
		rf.Status, rf.Attempts = refund.StatusRequiresReview, 12
		return tx.UpdateRefund(context.Background(), rf)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := s.reconcile("refund_id,amount,currency,status,date\n" + id + ",40.00,SAR,settled,2026-03-01\n")
	if got.status != 200 || got.num("flagged") != 0 {
		t.Fatalf("reconcile: %d %s", got.status, got.raw)
	}
	if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != "succeeded" {
		t.Fatalf("refund is %s, want succeeded", st)
	}
	if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("refunded_amount") != 4000 || o.num("pending_refund_amount") != 0 {
		t.Fatalf("order after the correction: %s", o.raw)
	}
	// Bad reports are refused whole.
	for _, bad := range []string{"", "amount,currency\n1.00,SAR\n", "refund_id,amount,currency,status\nx,1.005,SAR,approved\n",
		"refund_id,amount,currency,status\nx,1.00,SAR,teleported\n"} {
		if r := s.reconcile(bad); r.status != 400 {
			t.Fatalf("report %q: %d %s", bad, r.status, r.raw)
		}
	}
}

// A processor that reports by another day than refundd's (its time zone,
// its cut-off, a day's delay) lists some refunds in a later day's report.
// With the settlement lag, a report answers only for the refunds whose
// last day to be listed it covers; a refund another day's report listed
// is not missing, a corrected report replaces the first, and refunds made
// before the first report reconciled are left alone; a refund no report
// lists is still found.
func TestReconcile_SettlementLag(t *testing.T) {
	refundAt := func(s *testServer, order string, amount int) reply {
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": amount})
		if r.status != http.StatusCreated || r.str("status") != "succeeded" {
			t.Fatalf("refund: %d %s", r.status, r.raw)
		}
		return r
	}
	lineOn := func(r reply, day string) string {
		return strings.Replace(reportLine(r), ",2026-03-01", ","+day, 1)
	}
	header := "refund_id,arn,rrn,amount,currency,status,date\n"
	// reconciled reconciles a report with the lag and returns what it
	// flagged (refund id -> kind) and the unchecked days it returned.
	reconciled := func(s *testServer, lag string, lines ...string) (map[string]string, string) {
		t.Helper()
		path := "/v1/reconciliations"
		if lag != "" {
			path += "?settlement_lag=" + lag
		}
		got := s.do("POST", path, s.key, header+strings.Join(lines, "\n")+"\n", "Content-Type", "text/csv")
		if got.status != 200 {
			t.Fatalf("reconcile: %d %s", got.status, got.raw)
		}
		out := map[string]string{}
		for _, x := range got.get("results").([]any) {
			if m := x.(map[string]any); m["flagged"] == true {
				out[m["refund_id"].(string)] = m["kind"].(string)
			}
		}
		var unchecked []string
		for _, x := range got.get("unchecked").([]any) {
			u := x.(map[string]any)
			var from, to int
			fmt.Sscanf(u["from"].(string), "2026-03-%d", &from)
			fmt.Sscanf(u["to"].(string), "2026-03-%d", &to)
			span := fmt.Sprintf("%d-%d:%v", from, to, u["refunds"])
			totals := u["totals"].(map[string]any)
			for _, c := range slices.Sorted(maps.Keys(totals)) {
				span += fmt.Sprintf(":%s=%v", c, totals[c])
			}
			unchecked = append(unchecked, span)
		}
		return out, strings.Join(unchecked, " ")
	}
	flagged := func(s *testServer, lag string, lines ...string) map[string]string {
		t.Helper()
		out, _ := reconciled(s, lag, lines...)
		return out
	}
	// Refunds at 09:00 and 22:30 UTC on 1 March, and 10:00 and 11:00 on
	// the 2nd. A processor reporting by Riyadh's day (UTC+3) lists the
	// 22:30 refund on the 2nd.
	day := func(t *testing.T) (s *testServer, a, b, c, d reply) {
		s = mustStart(t)
		order := s.mustOrder(cardOrder("4444", 100_000))
		a = refundAt(s, order, 1000)
		s.clock.Advance(13*time.Hour + 30*time.Minute)
		b = refundAt(s, order, 2000)
		s.clock.Advance(11*time.Hour + 30*time.Minute)
		c = refundAt(s, order, 3000)
		s.clock.Advance(time.Hour)
		d = refundAt(s, order, 4000)
		return
	}
	fourRefunds := func(t *testing.T) (*testServer, map[string]reply) {
		s, a, b, c, d := day(t)
		return s, map[string]reply{"a": a, "b": b, "c": c, "d": d}
	}
	// Refunds at 09:00 on 1 March: a, and e, which waits for approval
	// until 10:00 on the 3rd, when it succeeds with c. The processor ran
	// e on the 3rd and lists it then.
	approvedLate := func(t *testing.T) (*testServer, map[string]reply) {
		s := mustStart(t)
		_, approver, err := s.Service.CreateKey(context.Background(), s.mer.ID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
		if err != nil {
			t.Fatal(err)
		}
		if r := s.do("PUT", "/v1/refund_policy", s.key, map[string]any{"approval_threshold": map[string]any{"SAR": 5000}}); r.status != 200 {
			t.Fatalf("policy: %d %s", r.status, r.raw)
		}
		order := s.mustOrder(cardOrder("4444", 100_000))
		a := refundAt(s, order, 1000)
		e := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 6000})
		if e.status != http.StatusCreated || e.str("status") != "requires_approval" {
			t.Fatalf("refund to approve: %d %s", e.status, e.raw)
		}
		s.clock.Advance(49 * time.Hour)
		if r := s.do("POST", "/v1/refunds/"+e.str("id")+"/approve", approver, nil); r.status != 200 || r.str("status") != "succeeded" {
			t.Fatalf("approve: %d %s", r.status, r.raw)
		}
		// c on an order of its own: an order's refunds count together
		// against the approval threshold.
		return s, map[string]reply{"a": a, "e": e, "c": refundAt(s, s.mustOrder(cardOrder("4444", 100_000)), 3000)}
	}
	// A case reconciles its reports in turn, each listing refunds (a, b,
	// c, d or a, e, c above) on days of March, and wants the refunds each
	// flags.
	type listed struct {
		refund string
		day    int
	}
	type report struct {
		lag   string
		lists []listed
		flags string // the refunds flagged missing, "" for none
		// unchecked lists the days no report covers that it returns, as
		// FIRST-LAST:REFUNDS[:CURRENCY=TOTAL...] with days of March.
		unchecked string
	}
	for _, tc := range []struct {
		name    string
		fixture func(*testing.T) (*testServer, map[string]reply) // nil: fourRefunds
		reports []report
	}{
		{"no lag calls the next day's refund missing", nil, []report{{"", []listed{{"a", 1}}, "b", ""}}},
		{"a time zone's lag", nil, []report{
			{"3h", []listed{{"a", 1}}, "", ""}, // the 22:30 refund is Riyadh's 2 March
			{"3h", []listed{{"b", 2}, {"c", 2}}, "d", ""}}},
		{"a day late, remembered", nil, []report{ // each report answers for the day before it
			{"27h", []listed{{"a", 1}}, "", ""},
			{"27h", []listed{{"b", 2}}, "", ""}, // the 1 March report listed a
			{"27h", []listed{{"c", 3}}, "d", ""}}},
		{"a corrected report replaces the first", nil, []report{
			{"27h", []listed{{"a", 1}}, "", ""},
			{"27h", []listed{{"b", 2}, {"d", 2}}, "", ""},
			{"27h", []listed{{"b", 2}}, "", ""},
			{"27h", []listed{{"c", 3}}, "d", ""}}}, // only the first 2 March report listed d
		{"a row dated the day before", nil, []report{ // the 3rd's report, not the 2nd's
			{"27h", []listed{{"a", 1}}, "", ""},
			{"27h", []listed{{"b", 2}}, "", ""},
			{"27h", []listed{{"c", 3}, {"d", 2}}, "", ""}}},
		{"two days' report, then the last day's own", nil, []report{ // two reports
			{"27h", []listed{{"a", 1}, {"b", 2}}, "", ""},
			{"27h", []listed{{"b", 2}}, "", ""}}},
		{"the first report reconciled", nil, []report{ // 1 March's, which may have listed a, never seen
			{"27h", []listed{{"b", 2}}, "", ""},
			{"27h", []listed{{"c", 3}}, "d", ""}}},
		// By when it succeeded, not when it was made: the 1st's report
		// does not answer for e, the 3rd's does (the 4th's, a day late).
		{"approved two days later", approvedLate, []report{
			{"", []listed{{"a", 1}}, "", ""},
			{"", []listed{{"c", 3}}, "e", "2-2:0"}}}, // nothing succeeded on the 2nd
		{"approved two days later, listed", approvedLate, []report{
			{"", []listed{{"a", 1}}, "", ""},
			{"", []listed{{"e", 3}, {"c", 3}}, "", "2-2:0"}}},
		{"approved two days later, a day late", approvedLate, []report{
			{"27h", []listed{{"a", 2}}, "", ""},
			{"27h", []listed{{"c", 4}}, "e", "3-3:0"}}},
		// A day skipped is not checked by the next day's report: its
		// refunds come back unchecked, and are checked when its own
		// report is reconciled, in whatever order.
		{"a day skipped", nil, []report{
			{"", []listed{{"a", 1}, {"b", 1}}, "", ""},
			{"", []listed{{"c", 3}}, "", "2-2:1:SAR=4000"}, // c listed a day late, d not yet
			{"", []listed{{"c", 2}}, "d", ""}}},
		{"days reconciled out of order", nil, []report{
			{"", []listed{{"a", 1}, {"b", 1}}, "", ""},
			{"", []listed{{"c", 4}}, "", "2-3:1:SAR=4000"},
			{"", []listed{{"c", 2}, {"d", 2}}, "", "3-3:0"}, // the 3rd still lies between the 2nd and the 4th
			{"", []listed{{"c", 3}}, "", ""}}},
		// The 2nd's report, the first, answers for no refund before the
		// 2nd (an earlier report may have listed b), nor does the span
		// after it.
		{"a day late, two days skipped after the first", nil, []report{
			{"27h", []listed{{"a", 2}}, "", ""},
			{"27h", []listed{{"a", 5}}, "", "3-4:2:SAR=7000"}}}, // c and d, not b
		{"a day late, a day skipped", nil, []report{
			{"27h", []listed{{"a", 2}, {"b", 2}}, "", ""},
			{"27h", []listed{{"c", 4}}, "", "3-3:1:SAR=4000"}, // the 3rd's report answers for the 2nd's refunds
			{"27h", []listed{{"c", 3}}, "d", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fixture := tc.fixture
			if fixture == nil {
				fixture = fourRefunds
			}
			s, refunds := fixture(t)
			for i, rep := range tc.reports {
				var lines []string
				for _, l := range rep.lists {
					lines = append(lines, lineOn(refunds[l.refund], fmt.Sprintf("2026-03-%02d", l.day)))
				}
				want := map[string]string{}
				for _, name := range strings.Fields(rep.flags) {
					want[refunds[name].str("id")] = "missing_at_processor"
				}
				got, unchecked := reconciled(s, rep.lag, lines...)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("report %d (%v) flagged %v, want %v", i+1, rep.lists, got, want)
				}
				if unchecked != rep.unchecked {
					t.Fatalf("report %d (%v) returned unchecked days %q, want %q", i+1, rep.lists, unchecked, rep.unchecked)
				}
			}
		})
	}
	// A day on which the processor executed nothing has an empty report:
	// with the days it covers given, it answers for them, and every refund
	// that succeeded then is missing from it.
	t.Run("an empty report", func(t *testing.T) {
		s, a, b, c, d := day(t)
		post := func(query, body string) reply {
			return s.do("POST", "/v1/reconciliations"+query, s.key, body, "Content-Type", "text/csv")
		}
		for _, tc := range []struct{ query, body, param string }{
			{"", header, ""},                                 // no rows, no days
			{"", "", ""},                                     // nothing at all
			{"?from=2026-03-02", header, "from"},             // from without to
			{"?to=2026-03-02", "", "from"},                   // to without from
			{"?from=2026-03-03&to=2026-03-02", header, "to"}, // to before from
			{"?from=2026-03-01&to=2026-04-01", header, "to"}, // 32 days
			{"?from=2026-3-2&to=2026-03-02", header, "from"},
			{"?from=2026-03-02&to=2026-03-02T00:00:00Z", header, "to"},
			{"?from=2026-03-02&to=2026-03-02", "nothing,useful\n", ""}, // still a report to read
			{"?from=2026-03-02&to=2026-03-02&map=bogus=X", "", "map"},
			{"?from=2026-03-03&to=2026-03-03", header + lineOn(a, "2026-03-01") + "\n", "date"}, // another day's row
			{"?from=2026-03-01&to=2026-03-01", header + lineOn(a, "2026-03-03") + "\n", "date"},
			{"?from=1999-12-31&to=1999-12-31", header, "from"},
			{"?from=0001-01-01&to=2026-03-02", header + lineOn(a, "2026-03-01") + "\n", "from"}, // year 1 is Go's zero time
			{"?from=2026-03-01&to=2200-01-01", header, "to"},
			{"", header + lineOn(a, "1000-01-01") + "\n", "date"}, // a typo's year
		} {
			r := post(tc.query, tc.body)
			if r.status != 400 || r.str("error", "code") != "invalid_request" || (tc.param != "" && r.str("error", "param") != tc.param) {
				t.Fatalf("%s %q: %d %s, want a 400 on %q", tc.query, tc.body, r.status, r.raw, tc.param)
			}
		}
		if n := len(s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)); n != 0 {
			t.Fatalf("%d discrepancies after refused reconciliations", n)
		}
		// The 1st's report, then the 2nd's, empty: c and d are missing
		// from it, as they are from a file without even a header.
		if got := flagged(s, "", lineOn(a, "2026-03-01"), lineOn(b, "2026-03-01")); len(got) != 0 {
			t.Fatalf("1 March flagged %v", got)
		}
		want := fmt.Sprint(map[string]string{c.str("id"): "missing_at_processor", d.str("id"): "missing_at_processor"})
		for _, body := range []string{header, "", "\ufeff\r\n"} {
			r := post("?from=2026-03-02&to=2026-03-02", body)
			if r.status != 200 || r.str("from") != "2026-03-02" || r.str("to") != "2026-03-02" || r.num("flagged") != 2 {
				t.Fatalf("the 2nd's empty report %q: %d %s", body, r.status, r.raw)
			}
			got := map[string]string{}
			for _, x := range r.get("results").([]any) {
				m := x.(map[string]any)
				got[m["refund_id"].(string)] = m["kind"].(string)
			}
			if fmt.Sprint(got) != want {
				t.Fatalf("the 2nd's empty report %q: %v, want %v", body, got, want)
			}
		}
		if n := len(s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)); n != 2 {
			t.Fatalf("%d discrepancies, want 2 (kept once)", n)
		}
		// Given days rule over the rows' own: a report of the 3rd whose
		// row is dated the 2nd (listed a day late) covers the 3rd alone.
		r := post("?from=2026-03-03&to=2026-03-03", header+lineOn(c, "2026-03-02")+"\n")
		if r.status != 200 || r.str("from") != "2026-03-03" || r.num("flagged") != 0 || len(r.get("unchecked").([]any)) != 0 {
			t.Fatalf("the 3rd's report: %d %s", r.status, r.raw)
		}
	})
	// A report's rows may be dated a day either side of its days, and the
	// lag's days before; without given days, they span as much at most.
	t.Run("rows around the days", func(t *testing.T) {
		s, a, _, _, _ := day(t)
		for _, tc := range []struct {
			query string
			dates []string
			ok    bool
		}{
			{"?from=2026-03-03&to=2026-03-03", []string{"2026-03-02"}, true},
			{"?from=2026-03-03&to=2026-03-03", []string{"2026-03-04"}, true},
			{"?from=2026-03-03&to=2026-03-03", []string{"2026-03-01"}, false},
			{"?from=2026-03-03&to=2026-03-03", []string{"2026-03-05"}, false},
			{"?from=2026-03-04&to=2026-03-04&settlement_lag=27h", []string{"2026-03-01"}, true}, // T+1: two days and the hours before the 1st's end
			{"?from=2026-03-04&to=2026-03-04&settlement_lag=27h", []string{"2026-02-28"}, false},
			{"?from=2026-03-04&to=2026-03-04&settlement_lag=27h", []string{"2026-03-05T23:59:59Z"}, true},
			{"?from=2026-03-04&to=2026-03-04&settlement_lag=27h", []string{"2026-03-06"}, false},
			{"", []string{"2026-03-01", "2026-04-01"}, true}, // 31 days apart
			{"", []string{"2026-03-01", "2026-04-02"}, false},
			{"?settlement_lag=27h", []string{"2026-03-01", "2026-04-03"}, true}, // and the lag's day
			{"", []string{"2026-03-11", "2062-03-11"}, false},                   // a typo's year
		} {
			body := header
			for _, d := range tc.dates {
				body += lineOn(a, d) + "\n"
			}
			r := s.do("POST", "/v1/reconciliations"+tc.query, s.key, body, "Content-Type", "text/csv")
			if tc.ok && r.status != 200 || !tc.ok && (r.status != 400 || r.str("error", "param") != "date") {
				t.Errorf("%s rows %v: %d %s, want ok %v", tc.query, tc.dates, r.status, r.raw, tc.ok)
			}
		}
	})
	// Days enough to hold months of refunds are named, not counted.
	t.Run("a long gap", func(t *testing.T) {
		s, a, _, _, _ := day(t)
		for i, tc := range []struct{ day, unchecked string }{
			{"2026-03-01", "[]"},
			{"2026-04-03", `[{"from":"2026-03-02","refunds":null,"to":"2026-04-02","totals":null}]`}, // 32 days
			{"2026-04-04", "[]"},
			{"2026-05-06", `[{"from":"2026-04-05","refunds":0,"to":"2026-05-05","totals":{}}]`}, // 31 days
		} {
			r := s.do("POST", "/v1/reconciliations", s.key, header+lineOn(a, tc.day)+"\n", "Content-Type", "text/csv")
			if r.status != 200 {
				t.Fatalf("report %d: %d %s", i+1, r.status, r.raw)
			}
			if got, _ := json.Marshal(r.get("unchecked")); string(got) != tc.unchecked { // keys sorted
				t.Fatalf("report %d of %s: unchecked %s, want %s", i+1, tc.day, got, tc.unchecked)
			}
		}
	})
	t.Run("bad lags change nothing", func(t *testing.T) {
		s, a, _, c, d := day(t)
		for _, lag := range []string{"-1h", "169h", "8d", "soon", "1h&settlement_lag=2h", "00000000000000000000000000000000001h"} {
			r := s.do("POST", "/v1/reconciliations?settlement_lag="+lag, s.key, header+lineOn(a, "2026-03-01")+"\n", "Content-Type", "text/csv")
			if r.status != 400 || r.str("error", "param") != "settlement_lag" {
				t.Fatalf("settlement_lag=%s: %d %s", lag, r.status, r.raw)
			}
		}
		if n := len(s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)); n != 0 {
			t.Fatalf("%d discrepancies after refused reconciliations", n)
		}
		// Nor did they record a 1 March report: the first reconciled is the
		// 2nd's, which leaves the refunds made before it alone.
		if got, want := flagged(s, "3h", lineOn(c, "2026-03-02")),
			map[string]string{d.str("id"): "missing_at_processor"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("2 March flagged %v, want %v", got, want)
		}
	})
}

// A merchant with two processors reconciles each one's report on its own
// (processor=NAME): the other processor's refunds are not missing from
// it, and the two reports of one day do not replace each other.
func TestReconcile_ByProcessor(t *testing.T) {
	s := withTwoAcquirers(t)
	refundVia := func(name string) reply {
		o := cardOrder("4444", 10_000)
		o["processor"], o["processor_order_id"] = name, "PAY-"+name
		order := s.mustOrder(o)
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 1500})
		if r.status != http.StatusCreated || r.str("status") != "succeeded" {
			t.Fatalf("refund via %s: %d %s", name, r.status, r.raw)
		}
		return r
	}
	a1, a2, b1 := refundVia("acq-a"), refundVia("acq-a"), refundVia("acq-b")
	// reconcile sends a report of the refunds, each on its day.
	reconcile := func(query string, lines ...string) map[string]string {
		t.Helper()
		got := s.do("POST", "/v1/reconciliations?"+query, s.key, "refund_id,arn,rrn,amount,currency,status,date\n"+
			strings.Join(lines, "\n")+"\n", "Content-Type", "text/csv")
		if got.status != 200 {
			t.Fatalf("reconcile ?%s: %d %s", query, got.status, got.raw)
		}
		out := map[string]string{}
		for _, x := range got.get("results").([]any) {
			if m := x.(map[string]any); m["flagged"] == true {
				out[m["refund_id"].(string)] = m["kind"].(string)
			}
		}
		return out
	}
	on := func(r reply, day string) string { return strings.Replace(reportLine(r), ",2026-03-01", ","+day, 1) }
	if got := reconcile("processor=acq-a", on(a1, "2026-03-01"), on(a2, "2026-03-01")); len(got) != 0 {
		t.Fatalf("acq-a's report flagged %v: acq-b's refund is not acq-a's to list", got)
	}
	if got := reconcile("processor=acq-b", on(b1, "2026-03-01")); len(got) != 0 {
		t.Fatalf("acq-b's report flagged %v", got)
	}
	// acq-a's report of the 2nd, read a day late, answers for the 1st: its
	// report of the 1st, not replaced by acq-b's, listed a2.
	if got := reconcile("processor=acq-a&settlement_lag=24h", on(a1, "2026-03-02")); len(got) != 0 {
		t.Fatalf("acq-a's report of the 2nd flagged %v", got)
	}
	// acq-a's corrected report of the 1st drops a2: it is found.
	if got, want := reconcile("processor=acq-a", on(a1, "2026-03-01")),
		map[string]string{a2.str("id"): "missing_at_processor"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("acq-a's corrected report flagged %v, want %v", got, want)
	}
	// Without processor=, a report answers for all the merchant's refunds:
	// a second acq-b refund, which no report listed, is missing from it,
	// as a2 still is (b1 was listed by acq-b's report).
	b2 := refundVia("acq-b")
	if got, want := reconcile("", on(a1, "2026-03-01")), map[string]string{a2.str("id"): "missing_at_processor",
		b2.str("id"): "missing_at_processor"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("a report of all refunds flagged %v, want %v", got, want)
	}
	// An unknown account is refused whole: its report's wrong amount and
	// unknown row are not recorded.
	discrepancies := func() int { return len(s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)) }
	before := discrepancies()
	if r := s.do("POST", "/v1/reconciliations?processor=acq-z", s.key, "refund_id,amount,currency,status,date\n"+
		a1.str("id")+",15.01,SAR,approved,2026-03-01\nre_not_ours,1.00,SAR,approved,2026-03-01\n", "Content-Type", "text/csv"); r.status != 400 ||
		r.str("error", "code") != "processor_account_not_found" || r.str("error", "param") != "processor" {
		t.Fatalf("an unknown processor: %d %s", r.status, r.raw)
	}
	if after := discrepancies(); after != before {
		t.Fatalf("%d discrepancies after a refused report, %d before", after, before)
	}
}

// TestReconcile_AmbiguousColumnsAreRefused sends reports in which two
// headers name the same column: refundd's id under merchant_refund_id
// beside the processor's own refund_id, an execution and a settlement
// date, an amount twice. Which one was read depended on their order (the
// last won), and a wrong pick records discrepancies for refunds that
// settled. Each must be refused, naming the column, and record nothing.
func TestReconcile_AmbiguousColumnsAreRefused(t *testing.T) {
	s := mustStart(t)
	order := s.mustOrder(cardOrder("4444", 100_000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 1000})
	if r.status != http.StatusCreated || r.str("status") != "succeeded" {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	id := r.str("id")
	for _, tc := range []struct{ report, param string }{
		{"merchant_refund_id,refund_id,amount,currency,status\n" + id + ",psp_9f2c,10.00,SAR,approved\n", "refund_id"},
		{"refund_id,amount,currency,status,executed_at,settlement_date\n" + id + ",10.00,SAR,approved,2026-03-01,2026-03-03\n", "date"},
		{"refund_id,amount,currency,status,Amount\n" + id + ",10.00,SAR,approved,9.00\n", "amount"},
	} {
		got := s.reconcile(tc.report)
		if got.status != 400 || got.str("error", "code") != "invalid_request" || got.str("error", "param") != tc.param {
			t.Errorf("report %q: %d %s, want 400 invalid_request on %s", tc.report, got.status, got.raw, tc.param)
		}
	}
	if n := len(s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)); n != 0 {
		t.Fatalf("%d discrepancies after refused reports", n)
	}
	// A map names the one to read.
	got := s.do("POST", "/v1/reconciliations?map=refund_id=merchant_refund_id", s.key,
		"merchant_refund_id,refund_id,amount,currency,status\n"+id+",psp_9f2c,10.00,SAR,approved\n", "Content-Type", "text/csv")
	if got.status != 200 || got.num("flagged") != 0 {
		t.Fatalf("mapped report: %d %s", got.status, got.raw)
	}
	// Named twice, it is refused: the last was read.
	got = s.do("POST", "/v1/reconciliations?map=refund_id=merchant_refund_id&map=refund_id=refund_id", s.key,
		"merchant_refund_id,refund_id,amount,currency,status\n"+id+",psp_9f2c,10.00,SAR,approved\n", "Content-Type", "text/csv")
	if got.status != 400 || got.str("error", "param") != "map" {
		t.Fatalf("a column mapped twice: %d %s", got.status, got.raw)
	}
	// Two headers in different case: the map names either by its spelling.
	for _, tc := range []struct {
		header  string
		flagged int64
	}{{"amount", 0}, {"Amount", 1}} {
		got = s.do("POST", "/v1/reconciliations?map=amount="+tc.header, s.key,
			"refund_id,amount,currency,status,Amount\n"+id+",10.00,SAR,approved,9.00\n", "Content-Type", "text/csv")
		if got.status != 200 || got.num("flagged") != tc.flagged {
			t.Fatalf("map=amount=%s: %d %s, want %d flagged", tc.header, got.status, got.raw, tc.flagged)
		}
	}
}

// A refund recorded failed that the processor's report shows paid has
// left the merchant's money: as when a sync or a notification says so,
// it becomes succeeded when the order still has room for it, so that room
// is not refunded a second time, and is otherwise kept failed and listed
// as executed_not_recorded (the customer was paid twice).
func TestReconcile_FailedRefundTheReportShowsPaid(t *testing.T) {
	for _, tc := range []struct {
		name        string
		void        int64 // voided after the refund failed, taking its room
		status      string
		refunded    int64
		corrected   bool
		discrepancy bool
	}{
		{"RoomLeft", 0, "succeeded", 4000, true, false},
		{"NoRoomLeft", 10_000, "failed", 0, false, true},
	} {
		for _, b := range backends {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				s := b.start(t)
				order := s.mustOrder(cardOrder("0051", 10_000)) // declined by the sandbox
				r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
				if r.status != http.StatusCreated || r.str("status") != "failed" {
					t.Fatalf("refund: %d %s", r.status, r.raw)
				}
				id := r.str("id")
				if tc.void > 0 {
					if v := s.do("POST", "/v1/orders/"+order+"/voids", s.key, map[string]any{"amount": tc.void}); v.status != http.StatusCreated {
						t.Fatalf("void: %d %s", v.status, v.raw)
					}
				}
				for run := range 2 {
					got := s.reconcile("refund_id,amount,currency,status,date\n" + id + ",40.00,SAR,approved,2026-03-01\n")
					if got.status != 200 {
						t.Fatalf("run %d: reconcile: %d %s", run, got.status, got.raw)
					}
					// Reconciled again, a revived refund matches.
					kind, corrected := "executed_not_recorded", tc.corrected && run == 0
					if tc.corrected && run == 1 {
						kind = "matched"
					}
					res := got.get("results").([]any)[0].(map[string]any)
					if res["kind"] != kind || res["corrected"] != corrected || res["flagged"] != tc.discrepancy {
						t.Fatalf("run %d: the row came to %v; want %s, corrected %v, flagged %v", run, res, kind, corrected, tc.discrepancy)
					}
					if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != tc.status {
						t.Fatalf("run %d: refund is %s, want %s", run, st, tc.status)
					}
					o := s.do("GET", "/v1/orders/"+order, s.key, nil)
					if o.num("refunded_amount") != tc.refunded || o.num("pending_refund_amount") != 0 || o.num("refundable_amount") != 10_000-tc.void-tc.refunded {
						t.Fatalf("run %d: order after the report: %s", run, o.raw)
					}
					d := s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)
					if tc.discrepancy != (len(d) == 1) || len(d) > 1 {
						t.Fatalf("run %d: discrepancies %v, want one: %v", run, d, tc.discrepancy)
					}
				}
				// One refund.succeeded event when it was revived, one
				// refund.discrepancy when it was listed.
				for typ, want := range map[string]bool{"refund.succeeded": tc.corrected, "refund.discrepancy": tc.discrepancy} {
					ev := s.do("GET", "/v1/events?type="+typ, s.key, nil).get("data").([]any)
					if n := map[bool]int{true: 1, false: 0}[want]; len(ev) != n {
						t.Fatalf("%d %s events, want %d", len(ev), typ, n)
					}
				}
			})
		}
	}
}

// A report that lists one refund paid on two rows says the processor
// paid it twice (or repeated a row): refundd recorded one payment. Every
// row read matched, the second payment hidden in the matched total. The
// second row paid is executed_not_recorded, listed once with one event,
// however the row names the refund, and reconciling the report again adds
// nothing; the refund and its order are left as they are. A refund
// declined on two rows moved no money and matches twice.
func TestReconcile_PaidTwiceInOneReport(t *testing.T) {
	header := "refund_id,arn,rrn,amount,currency,status,date\n"
	for _, tc := range []struct {
		name    string
		last4   string // the sandbox's answer by card
		status  string // the refund's
		second  func(r reply) string
		kinds   string // of the two rows
		flagged int
	}{
		{"SameRowTwice", "4444", "succeeded", reportLine, "[matched executed_not_recorded]", 1},
		{"ThenByARN", "4444", "succeeded", func(r reply) string {
			return "," + r.str("arn") + ",,40.00,SAR,settled,2026-03-01"
		}, "[matched executed_not_recorded]", 1},
		{"ThenAnotherAmount", "4444", "succeeded", func(r reply) string {
			return strings.Replace(reportLine(r), ",40.00,", ",15.00,", 1)
		}, "[matched executed_not_recorded]", 1},
		{"DeclinedTwice", "0051", "failed", func(r reply) string {
			return strings.Replace(reportLine(r), ",approved,", ",declined,", 1)
		}, "[matched matched]", 0},
	} {
		for _, b := range backends {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				s := b.start(t)
				order := s.mustOrder(cardOrder(tc.last4, 10_000))
				r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
				if r.status != http.StatusCreated || r.str("status") != tc.status {
					t.Fatalf("refund: %d %s", r.status, r.raw)
				}
				first := reportLine(r)
				if tc.status == "failed" {
					first = strings.Replace(first, ",approved,", ",declined,", 1)
				}
				report := header + first + "\n" + tc.second(r) + "\n"
				for run := range 2 {
					got := s.reconcile(report)
					if got.status != 200 {
						t.Fatalf("run %d: %d %s", run, got.status, got.raw)
					}
					var kinds []any
					for _, x := range got.get("results").([]any) {
						kinds = append(kinds, x.(map[string]any)["kind"])
					}
					if fmt.Sprint(kinds) != tc.kinds || got.num("flagged") != int64(tc.flagged) {
						t.Fatalf("run %d: rows came to %v, %d flagged; want %s, %d: %s", run, kinds, got.num("flagged"), tc.kinds, tc.flagged, got.raw)
					}
					d := s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)
					if len(d) != tc.flagged {
						t.Fatalf("run %d: %d discrepancies, want %d: %v", run, len(d), tc.flagged, d)
					}
					if tc.flagged == 1 {
						dm := d[0].(map[string]any)
						if dm["kind"] != "executed_not_recorded" || dm["refund_id"] != r.str("id") {
							t.Fatalf("run %d: discrepancy %v", run, dm)
						}
					}
					if ev := s.do("GET", "/v1/events?type=refund.discrepancy", s.key, nil).get("data").([]any); len(ev) != tc.flagged {
						t.Fatalf("run %d: %d refund.discrepancy events, want %d", run, len(ev), tc.flagged)
					}
					if st := s.do("GET", "/v1/refunds/"+r.str("id"), s.key, nil).str("status"); st != tc.status {
						t.Fatalf("run %d: refund is %s, want %s", run, st, tc.status)
					}
					refunded := map[string]int64{"succeeded": 4000, "failed": 0}[tc.status]
					if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("refunded_amount") != refunded || o.num("pending_refund_amount") != 0 {
						t.Fatalf("run %d: order %s", run, o.raw)
					}
				}
			})
		}
	}
}

// A payment a report lists again was kept, as every discrepancy of a
// refund, once per refund and kind: when the refund had an
// executed_not_recorded discrepancy already (an earlier report's second
// payment, or its own row paid while refundd has it failed with no room
// left), the new payment was answered flagged and listed nowhere, with no
// event. Each is listed on its own, under the reference refund id/the
// report's days/n, with its event; the same report reconciled again adds
// nothing.
func TestReconcile_PaidAgainListedOnItsOwn(t *testing.T) {
	header := "refund_id,arn,rrn,amount,currency,status,date\n"
	on := func(r reply, day string) string { return strings.Replace(reportLine(r), ",2026-03-01", ","+day, 1) }
	for _, tc := range []struct {
		name    string
		last4   string
		void    int64 // voided after the refund failed, taking its room
		status  string
		reports []func(r reply) string
		want    []string // the refund's discrepancies' references after each report ("-" for none)
	}{
		{"AfterAnEarlierReport", "4444", 0, "succeeded", []func(r reply) string{
			func(r reply) string { return on(r, "2026-03-01") + "\n" + on(r, "2026-03-01") },
			func(r reply) string { return on(r, "2026-03-02") + "\n" + on(r, "2026-03-02") },
		}, []string{"/2026-03-01/2", "/2026-03-01/2 /2026-03-02/2"}},
		{"ThreeTimes", "4444", 0, "succeeded", []func(r reply) string{
			func(r reply) string { return reportLine(r) + "\n" + reportLine(r) + "\n" + reportLine(r) },
		}, []string{"/2026-03-01/2 /2026-03-01/3"}},
		{"FailedWithNoRoomLeft", "0051", 10_000, "failed", []func(r reply) string{
			func(r reply) string {
				paid := strings.Replace(reportLine(r), ",failed,", ",approved,", 1)
				return paid + "\n" + paid
			},
		}, []string{"- /2026-03-01/2"}},
	} {
		for _, b := range backends {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				s := b.start(t)
				order := s.mustOrder(cardOrder(tc.last4, 10_000))
				r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
				if r.status != http.StatusCreated || r.str("status") != tc.status {
					t.Fatalf("refund: %d %s", r.status, r.raw)
				}
				if tc.void > 0 {
					if v := s.do("POST", "/v1/orders/"+order+"/voids", s.key, map[string]any{"amount": tc.void}); v.status != http.StatusCreated {
						t.Fatalf("void: %d %s", v.status, v.raw)
					}
				}
				for i, report := range tc.reports {
					for run := range 2 {
						if got := s.reconcile(header + report(r) + "\n"); got.status != 200 {
							t.Fatalf("report %d, run %d: %d %s", i, run, got.status, got.raw)
						}
						var refs []string
						for _, x := range s.do("GET", "/v1/discrepancies?limit=100", s.key, nil).get("data").([]any) {
							d := x.(map[string]any)
							if d["refund_id"] != r.str("id") || d["kind"] != "executed_not_recorded" {
								t.Fatalf("report %d, run %d: discrepancy %v", i, run, d)
							}
							ref, _ := d["reference"].(string)
							if ref == "" {
								ref = "-"
							}
							refs = append(refs, strings.TrimPrefix(ref, r.str("id")))
						}
						slices.Sort(refs)
						if got := strings.Join(refs, " "); got != tc.want[i] {
							t.Fatalf("report %d, run %d: the refund's discrepancies %q, want %q", i, run, got, tc.want[i])
						}
						if ev := s.do("GET", "/v1/events?type=refund.discrepancy&limit=100", s.key, nil).get("data").([]any); len(ev) != len(refs) {
							t.Fatalf("report %d, run %d: %d refund.discrepancy events, want %d", i, run, len(ev), len(refs))
						}
					}
				}
				if st := s.do("GET", "/v1/refunds/"+r.str("id"), s.key, nil).str("status"); st != tc.status {
					t.Fatalf("refund is %s, want %s", st, tc.status)
				}
			})
		}
	}
}

// Two processors number their refunds on their own, so one's RRN (and
// ARN) can be another's: here acq-a declined a refund and acq-b paid one
// under the same RRN. acq-b's report naming its refund by RRN alone is
// about acq-b's refund, not the merchant's oldest refund with that RRN:
// acq-a's declined refund stays failed, its 15.00 released, nothing is
// flagged. A report for all the merchant's refunds cannot tell the two
// apart: the row matches neither and is listed as unknown, and nothing
// is changed.
func TestReconcile_ReferenceSharedByTwoProcessors(t *testing.T) {
	s := withTwoAcquirers(t)
	refundVia := func(name, last4, status string) (reply, string) {
		o := cardOrder(last4, 10_000)
		o["processor"], o["processor_order_id"] = name, "PAY-"+name
		order := s.mustOrder(o)
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 1500})
		if r.status != http.StatusCreated || r.str("status") != status {
			t.Fatalf("refund via %s: %d %s", name, r.status, r.raw)
		}
		return r, order
	}
	a, aOrder := refundVia("acq-a", "0051", "failed")
	b, _ := refundVia("acq-b", "4444", "succeeded")
	if a.str("rrn") == "" || a.str("rrn") != b.str("rrn") {
		t.Fatalf("the two refunds' RRNs are %q and %q; the test needs them equal", a.str("rrn"), b.str("rrn"))
	}
	row := "rrn,amount,currency,status,date\n" + b.str("rrn") + ",15.00,SAR,approved,2026-03-01\n"
	for _, tc := range []struct {
		name, query string
		flagged     map[string]string // refund id or reference -> kind
	}{
		{"ItsProcessor", "?processor=acq-b", map[string]string{}},
		// (acq-b's refund is not missing: acq-b's own report listed it.)
		{"AllProcessors", "", map[string]string{b.str("rrn"): "unknown_to_refundd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.do("POST", "/v1/reconciliations"+tc.query, s.key, row, "Content-Type", "text/csv")
			if got.status != 200 {
				t.Fatalf("reconcile: %d %s", got.status, got.raw)
			}
			flagged := map[string]string{}
			for _, x := range got.get("results").([]any) {
				m := x.(map[string]any)
				if m["corrected"] == true {
					t.Fatalf("the report corrected %v", m)
				}
				if m["flagged"] == true {
					id, _ := m["refund_id"].(string)
					if id == "" {
						id, _ = m["reference"].(string)
					}
					flagged[id] = m["kind"].(string)
				}
			}
			if fmt.Sprint(flagged) != fmt.Sprint(tc.flagged) {
				t.Fatalf("flagged %v, want %v: %s", flagged, tc.flagged, got.raw)
			}
			if st := s.do("GET", "/v1/refunds/"+a.str("id"), s.key, nil).str("status"); st != "failed" {
				t.Fatalf("acq-a's declined refund is %s after acq-b's report", st)
			}
			if o := s.do("GET", "/v1/orders/"+aOrder, s.key, nil); o.num("refunded_amount") != 0 || o.num("refundable_amount") != 10_000 {
				t.Fatalf("acq-a's order after acq-b's report: %s", o.raw)
			}
		})
	}
}

// A reconciliation retried after a lost answer applied nothing new and
// answered the refund its first run corrected as matched, so the operator
// never saw the correction. With an Idempotency-Key the retry replays the
// first answer byte for byte, the correction in it; the same key with
// another report, or the same report under other settings, is refused as
// reused and records nothing; a new key reconciles again.
func TestReconcile_IdempotencyKeyReplaysTheCorrections(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			order := s.mustOrder(cardOrder("0051", 10_000)) // declined by the sandbox
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
			if r.status != http.StatusCreated || r.str("status") != "failed" {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			id := r.str("id")
			report := "refund_id,amount,currency,status,date\n" + id + ",40.00,SAR,approved,2026-03-01\n"
			send := func(query, body, key string) reply {
				t.Helper()
				return s.do("POST", "/v1/reconciliations"+query, s.key, body, "Content-Type", "text/csv", "Idempotency-Key", key)
			}
			row := func(got reply) map[string]any {
				t.Helper()
				results, _ := got.get("results").([]any)
				if got.status != 200 || len(results) != 1 {
					t.Fatalf("reconcile: %d %s", got.status, got.raw)
				}
				return results[0].(map[string]any)
			}
			first := send("", report, "recon-1")
			if m := row(first); m["kind"] != "executed_not_recorded" || m["corrected"] != true {
				t.Fatalf("first run: the row came to %v", m)
			}
			retry := send("", report, "recon-1")
			if retry.status != first.status || retry.raw != first.raw || retry.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("retry: %d %s (replayed %q); want the first answer %s", retry.status, retry.raw,
					retry.header.Get("Idempotent-Replayed"), first.raw)
			}
			discrepancies := func() int { return len(s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)) }
			for _, tc := range []struct{ name, query, body string }{
				{"AnotherReport", "", report + "re_not_ours,7.50,SAR,approved,2026-03-01\n"},
				{"AnotherAmount", "", strings.Replace(report, ",40.00,", ",40.01,", 1)},
				{"OtherSettings", "?settlement_lag=3h", report},
			} {
				got := send(tc.query, tc.body, "recon-1")
				if got.status != http.StatusUnprocessableEntity || got.str("error", "code") != "idempotency_key_reused" {
					t.Fatalf("%s under the same key: %d %s; want 422 idempotency_key_reused", tc.name, got.status, got.raw)
				}
				if n := discrepancies(); n != 0 {
					t.Fatalf("%s under the same key: %d discrepancies recorded", tc.name, n)
				}
			}
			if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("refunded_amount") != 4000 || o.num("pending_refund_amount") != 0 {
				t.Fatalf("order after the reconciliations: %s", o.raw)
			}
			if ev := s.do("GET", "/v1/events?type=refund.succeeded", s.key, nil).get("data").([]any); len(ev) != 1 {
				t.Fatalf("%d refund.succeeded events, want 1", len(ev))
			}
			// A new key is a new reconciliation: the refund now matches.
			if m := row(send("", report, "recon-2")); m["kind"] != "matched" || m["corrected"] != false {
				t.Fatalf("under a new key: the row came to %v", m)
			}
		})
	}
}

// Reconciliations of one report under one key sent at once run once: each
// is answered the first run's answer, its correction in it, or, while that
// run is still going, 409 idempotency_key_in_use; none reconciles again
// and answers the refund as matched.
func TestReconcile_IdempotencyKeyConcurrent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			order := s.mustOrder(cardOrder("0051", 10_000)) // declined by the sandbox
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
			if r.status != http.StatusCreated || r.str("status") != "failed" {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			report := "refund_id,amount,currency,status,date\n" + r.str("id") + ",40.00,SAR,approved,2026-03-01\n"
			const clients = 8
			replies := make([]reply, clients)
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() {
					replies[i] = s.do("POST", "/v1/reconciliations", s.key, report, "Content-Type", "text/csv", "Idempotency-Key", "recon-race")
				})
			}
			wg.Wait()
			answer := ""
			for i, got := range replies {
				switch {
				case got.status == http.StatusConflict && got.str("error", "code") == "idempotency_key_in_use":
				case got.status == 200 && (answer == "" || got.raw == answer):
					answer = got.raw
				default:
					t.Fatalf("reply %d: %d %s; want the one answer %s, or in use", i, got.status, got.raw, answer)
				}
			}
			if answer == "" || !strings.Contains(answer, `"kind":"executed_not_recorded"`) || !strings.Contains(answer, `"corrected":true`) {
				t.Fatalf("the answer %q; want the row corrected", answer)
			}
			if ev := s.do("GET", "/v1/events?type=refund.succeeded", s.key, nil).get("data").([]any); len(ev) != 1 {
				t.Fatalf("%d refund.succeeded events, want 1", len(ev))
			}
		})
	}
}

// A processor's report speaks for the refunds refundd sent it: a row of
// acq-a's report naming by its id a refund refundd sent to acq-b, or to
// its own processor, was matched as acq-a's, so acq-a's word that it paid
// revived acq-b's declined refund (its 15.00 booked refunded) and
// acq-a's report listed the other as matched. Each row is listed as
// unknown_to_refundd under the id, its detail naming both processors;
// the refunds and orders are left as they were, with no event, acq-a's
// own refund matches, and reconciling the report again adds nothing.
func TestReconcile_RowOfAnotherProcessorsRefund(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
			for _, name := range []string{"acq-a", "acq-b"} {
				addAcquirer(t, s, name)
			}
			refundVia := func(name, last4, status string) (reply, string) {
				o := cardOrder(last4, 10_000)
				if name != "" {
					o["processor"], o["processor_order_id"] = name, "PAY-"+name
				}
				order := s.mustOrder(o)
				r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 1500})
				if r.status != http.StatusCreated || r.str("status") != status {
					t.Fatalf("refund via %q: %d %s", name, r.status, r.raw)
				}
				return r, order
			}
			a, _ := refundVia("acq-a", "4444", "succeeded")
			b, bOrder := refundVia("acq-b", "0051", "failed")
			n, _ := refundVia("", "4444", "succeeded") // the node's own processor
			paid := func(r reply) string {
				return r.str("id") + ",,,15.00,SAR,approved,2026-03-01"
			}
			report := "refund_id,arn,rrn,amount,currency,status,date\n" + paid(a) + "\n" + paid(b) + "\n" + paid(n) + "\n"
			for run := range 2 {
				got := s.do("POST", "/v1/reconciliations?processor=acq-a", s.key, report, "Content-Type", "text/csv")
				if got.status != 200 || got.num("flagged") != 2 {
					t.Fatalf("run %d: %d %s, want 2 flagged", run, got.status, got.raw)
				}
				results := got.get("results").([]any)
				if len(results) != 3 {
					t.Fatalf("run %d: %d results: %s", run, len(results), got.raw)
				}
				if m := results[0].(map[string]any); m["kind"] != "matched" || m["refund_id"] != a.str("id") {
					t.Fatalf("run %d: acq-a's own row came to %v", run, m)
				}
				for i, tc := range []struct {
					r     reply
					where string
				}{{b, `processor account "acq-b"`}, {n, "this node's own processor"}} {
					m := results[i+1].(map[string]any)
					detail, _ := m["detail"].(string)
					if m["kind"] != "unknown_to_refundd" || m["refund_id"] != nil || m["reference"] != tc.r.str("id") ||
						m["corrected"] != false || m["flagged"] != true ||
						!strings.Contains(detail, `processor account "acq-a"`) || !strings.Contains(detail, tc.where) {
						t.Fatalf("run %d: the row of %s's refund came to %v", run, tc.where, m)
					}
				}
				if r := s.do("GET", "/v1/refunds/"+b.str("id"), s.key, nil); r.str("status") != "failed" {
					t.Fatalf("run %d: acq-b's declined refund after acq-a's report: %s", run, r.raw)
				}
				if o := s.do("GET", "/v1/orders/"+bOrder, s.key, nil); o.num("refunded_amount") != 0 || o.num("refundable_amount") != 10_000 {
					t.Fatalf("run %d: acq-b's order after acq-a's report: %s", run, o.raw)
				}
				d := s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any)
				refs := map[string]string{}
				for _, x := range d {
					m := x.(map[string]any)
					if m["refund_id"] != nil && m["refund_id"] != "" {
						t.Fatalf("run %d: a discrepancy names a refund: %v", run, m)
					}
					refs[m["reference"].(string)] = m["kind"].(string)
				}
				if want := map[string]string{b.str("id"): "unknown_to_refundd", n.str("id"): "unknown_to_refundd"}; fmt.Sprint(refs) != fmt.Sprint(want) {
					t.Fatalf("run %d: discrepancies %v, want %v", run, refs, want)
				}
				for _, typ := range []string{"refund.discrepancy", "refund.succeeded"} {
					ev := s.do("GET", "/v1/events?type="+typ, s.key, nil).get("data").([]any)
					if want := map[string]int{"refund.discrepancy": 0, "refund.succeeded": 2}[typ]; len(ev) != want {
						t.Fatalf("run %d: %d %s events, want %d", run, len(ev), typ, want)
					}
				}
			}
		})
	}
}

// A refund declined with an RRN, which the report names by that RRN alone
// as paid, is revived; it keeps its RRN (the report gives no other), so
// the same report reconciled again matches it rather than listing the
// row as a refund refundd does not know.
func TestReconcile_RevivedByReferenceKeepsIt(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			order := s.mustOrder(cardOrder("0051", 10_000)) // declined by the sandbox
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
			if r.status != http.StatusCreated || r.str("status") != "failed" || r.str("rrn") == "" {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			id, rrn := r.str("id"), r.str("rrn")
			for run := range 2 {
				got := s.reconcile("rrn,amount,currency,status,date\n" + rrn + ",40.00,SAR,approved,2026-03-01\n")
				if got.status != 200 {
					t.Fatalf("run %d: reconcile: %d %s", run, got.status, got.raw)
				}
				res := got.get("results").([]any)[0].(map[string]any)
				if want := map[int]string{0: "executed_not_recorded", 1: "matched"}[run]; res["kind"] != want || res["refund_id"] != id {
					t.Fatalf("run %d: the row came to %v; want %s of %s", run, res, want, id)
				}
				if got := s.do("GET", "/v1/refunds/"+id, s.key, nil); got.str("status") != "succeeded" || got.str("rrn") != rrn {
					t.Fatalf("run %d: refund after the report: %s", run, got.raw)
				}
				if d := s.do("GET", "/v1/discrepancies", s.key, nil).get("data").([]any); len(d) != 0 {
					t.Fatalf("run %d: discrepancies %v, want none", run, d)
				}
			}
		})
	}
}

// withTwoAcquirers starts a server whose merchant has two processor
// accounts, acq-a and acq-b, each an acquirer sandbox of its own.
func withTwoAcquirers(t *testing.T) *testServer {
	t.Helper()
	s := mustStart(t, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	for _, name := range []string{"acq-a", "acq-b"} {
		addAcquirer(t, s, name)
	}
	return s
}

// addAcquirer gives s's merchant a processor account name, an acquirer
// sandbox service of its own (s must have a secret key).
func addAcquirer(t *testing.T, s *testServer, name string) {
	t.Helper()
	svc, err := service.New(sandbox.New(sandbox.Config{}), service.Faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc.Handler())
	t.Cleanup(ts.Close)
	if _, err := s.Service.AddProcessorAccount(context.Background(), s.mer.ID,
		refund.ProcessorAccountInput{Name: name, Kind: "acquirer", URL: ts.URL}); err != nil {
		t.Fatal(err)
	}
}

// TestProcessors_ListPages: GET /v1/processors takes limit and cursor like
// every list (DESIGN.md section 7), oldest first; it answered every
// account in one page and refused limit and cursor as unknown parameters.
func TestProcessors_ListPages(t *testing.T) {
	t.Parallel()
	s := mustStart(t, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	names := []string{"z-acquirer", "m-acquirer", "a-acquirer"} // made in this order, not sorted by name
	for _, n := range names {
		addAcquirer(t, s, n)
	}
	all := s.do("GET", "/v1/processors", s.key, nil)
	var ids, got []string
	for _, a := range all.get("data").([]any) {
		ids = append(ids, a.(map[string]any)["id"].(string))
		got = append(got, a.(map[string]any)["name"].(string))
	}
	if all.status != 200 || !slices.Equal(got, names) || !slices.IsSorted(ids) || all.get("has_more") != false {
		t.Fatalf("all accounts: %d %v %v; want %v oldest first\n%s", all.status, got, ids, names, all.raw)
	}
	checkListPages(t, s, "/v1/processors", ids)
}

// TestReconcile_TotalsBeyondInt64: a report whose rows are each of the
// largest amount (an account number read as the amount column, say) adds
// up past an int64; its summary's total is capped at the largest int64,
// never wrapped to a negative amount.
func TestReconcile_TotalsBeyondInt64(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	got := s.reconcile("refund_id,amount,currency,status,date\n" +
		"re_not_ours_1,92233720368547758.07,SAR,approved,2026-03-01\n" +
		"re_not_ours_2,92233720368547758.07,SAR,approved,2026-03-01\n")
	if got.status != 200 {
		t.Fatalf("reconcile: %d %s", got.status, got.raw)
	}
	sum := got.get("summary").([]any)
	if len(sum) != 1 {
		t.Fatalf("summary %v", sum)
	}
	total := sum[0].(map[string]any)["totals"].(map[string]any)["unknown_to_refundd"].(json.Number).String()
	if total != "9223372036854775807" {
		t.Fatalf("unknown_to_refundd total %s, want 9223372036854775807 (capped): %s", total, got.raw)
	}
}

// A report sent for a processor account not added yet was refused 400
// processor_account_not_found, and the refusal kept as its key's answer:
// the account added, the same command run again (refundd reconcile sends
// the same key for the same file and options) was answered that the
// account does not exist, for 24 hours, and reconciled nothing. The
// refusal is of a condition that passes: not kept, the run after the
// account is added reconciles.
func TestReconcile_IdempotencyKeyUnknownProcessorNotKept(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
			report := "refund_id,amount,currency,status,date\nre_not_ours,1.00,SAR,approved,2026-03-01\n"
			send := func() reply {
				return s.do("POST", "/v1/reconciliations?processor=acq-a", s.key, report, "Content-Type", "text/csv", "Idempotency-Key", "recon-acct")
			}
			if got := send(); got.status != http.StatusBadRequest || got.str("error", "code") != "processor_account_not_found" {
				t.Fatalf("before the account: %d %s; want 400 processor_account_not_found", got.status, got.raw)
			}
			addAcquirer(t, s, "acq-a")
			got := send()
			if got.status != 200 || got.header.Get("Idempotent-Replayed") == "true" || got.num("flagged") != 1 {
				t.Fatalf("after the account was added: %d %s (replayed %q); want it reconciled", got.status, got.raw, got.header.Get("Idempotent-Replayed"))
			}
			if again := send(); again.raw != got.raw || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("once more: %d %s; want the reconciliation's answer replayed", again.status, again.raw)
			}
		})
	}
}

// A payment listed again by a report without dates was kept under the
// reference refund id/undated/n, the same for every undated report: a
// second undated report listing the refund paid twice (another payment)
// was answered flagged and listed nowhere, with no event, as before
// migration 0037. An undated report's payments are told apart by its
// rows: the same report reconciled again adds nothing, another adds its
// own.
func TestReconcile_PaidAgainInUndatedReports(t *testing.T) {
	header := "refund_id,arn,rrn,amount,currency,status,date\n"
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t)
			order := s.mustOrder(cardOrder("4444", 10_000))
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
			if r.status != http.StatusCreated || r.str("status") != "succeeded" {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			undated := strings.TrimSuffix(reportLine(r), "2026-03-01")
			byID := r.str("id") + ",,,40.00,SAR,approved,"
			for i, report := range []string{undated + "\n" + undated, undated + "\n" + byID} {
				for run := range 2 {
					got := s.reconcile(header + report + "\n")
					if got.status != 200 || got.num("flagged") != 1 {
						t.Fatalf("report %d, run %d: %d %s; want one flagged", i, run, got.status, got.raw)
					}
					refs := map[string]bool{}
					for _, x := range s.do("GET", "/v1/discrepancies?limit=100", s.key, nil).get("data").([]any) {
						d := x.(map[string]any)
						if d["refund_id"] != r.str("id") || d["kind"] != "executed_not_recorded" {
							t.Fatalf("report %d, run %d: discrepancy %v", i, run, d)
						}
						refs[d["reference"].(string)] = true
					}
					if len(refs) != i+1 {
						t.Fatalf("report %d, run %d: the refund's payments listed again %v; want %d", i, run, refs, i+1)
					}
					if ev := s.do("GET", "/v1/events?type=refund.discrepancy&limit=100", s.key, nil).get("data").([]any); len(ev) != i+1 {
						t.Fatalf("report %d, run %d: %d refund.discrepancy events, want %d", i, run, len(ev), i+1)
					}
				}
			}
		})
	}
}
