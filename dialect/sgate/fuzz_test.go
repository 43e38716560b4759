package sgate_test

import (
	"context"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
)

// FuzzDecodeRefund sends arbitrary bodies to the create route of a real
// server, on a 2-decimal and a 3-decimal currency: nothing panics or
// answers 5xx, an accepted body answers a refund, and a refused one leaves
// the order as it was.
func FuzzDecodeRefund(f *testing.F) {
	f.Add(dialecttest.Testdata(f, "request.json"), false)
	for _, body := range []string{``, `null`, `{}`, `{"amount":"1.005","reason":"r"}`, `{"amount":"0.01","reason":"r"}`,
		`{"amount":1.35,"reason":"r"}`, `{"amount":"1.","reason":"r"}`, `{"amount":".5","reason":"r"}`,
		`{"amount":"١٢","reason":"r"}`, `{"amount":"1","reason":"r","merchantRefundId":""}`} {
		f.Add(body, true)
	}
	s := dialecttest.Start(f)
	orders := map[bool]*refund.Order{
		false: s.Order(refund.OrderInput{Reference: "ORD-SAR", Currency: "SAR", Amount: 1_000_000_000_000}),
		true:  s.Order(refund.OrderInput{Reference: "ORD-KWD", Currency: "KWD", Amount: 1_000_000_000_000}),
	}
	snap := func(t *testing.T, id string) [3]int64 {
		cur, err := s.Service.GetOrder(context.Background(), s.Principal, id)
		if err != nil {
			t.Fatal(err)
		}
		return [3]int64{cur.RefundedAmount, cur.PendingRefundAmount, int64(cur.RefundCount)}
	}
	f.Fuzz(func(t *testing.T, body string, kwd bool) {
		o := orders[kwd]
		before := snap(t, o.ID)
		r := s.Serve("POST", "/orders/"+o.Reference+"/refunds", s.Key, body)
		switch {
		case r.Status == 200:
			if r.Str("orderId") != o.Reference || r.Str("currency") != o.Currency {
				t.Fatalf("accepted body %q answered %s", body, r.Raw)
			}
		case r.Status >= 400 && r.Status < 500:
			if r.Str("code") == "" || r.Str("message") == "" {
				t.Fatalf("refusal without code or message: %d %s", r.Status, r.Raw)
			}
			if after := snap(t, o.ID); after != before {
				t.Fatalf("refused body %q changed the order: %v, was %v", body, after, before)
			}
		default:
			t.Fatalf("body %q answered %d %s", body, r.Status, r.Raw)
		}
	})
}
