package gateway_test

import (
	"context"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
)

// FuzzDecodeRefund sends arbitrary bodies to the refund route of a real
// server: nothing panics or answers 5xx, an accepted body answers the
// order, and a refused one leaves the order as it was.
func FuzzDecodeRefund(f *testing.F) {
	for _, name := range []string{"request.json", "request_transaction.json", "request_422.json"} {
		f.Add(dialecttest.Testdata(f, name))
	}
	for _, body := range []string{``, `null`, `{"amount":1e3}`, `{"amount":-0}`, `{"amount":"5"}`, `{"amount":1.0}`,
		`{"amount":99999999999999999999}`, `{"amount":1,"transaction_id":null}`, `{"amount":1,"amount":2}`, `{"amount":[1]}`} {
		f.Add(body)
	}
	s := dialecttest.Start(f)
	o := s.Order(refund.OrderInput{Reference: "ORD-FUZZ", Currency: "SAR", Amount: 1_000_000_000_000, Source: card("4444")})
	snap := func(t *testing.T) [3]int64 {
		cur, err := s.Service.GetOrder(context.Background(), s.Principal, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		return [3]int64{cur.RefundedAmount, cur.PendingRefundAmount, int64(cur.RefundCount)}
	}
	f.Fuzz(func(t *testing.T, body string) {
		before := snap(t)
		r := s.Serve("POST", refundPath("ORD-FUZZ"), s.Key, body)
		switch {
		case r.Status == 200:
			if r.Str("id") != "ORD-FUZZ" {
				t.Fatalf("accepted body %q answered %s", body, r.Raw)
			}
		case r.Status >= 400 && r.Status < 500:
			if r.Str("message") == "" {
				t.Fatalf("refusal without a message: %d %s", r.Status, r.Raw)
			}
			if after := snap(t); after != before {
				t.Fatalf("refused body %q changed the order: %v, was %v", body, after, before)
			}
		default:
			t.Fatalf("body %q answered %d %s", body, r.Status, r.Raw)
		}
	})
}
