package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
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
