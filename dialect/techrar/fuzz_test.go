package techrar_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
)

// FuzzDecodeRefund sends arbitrary bodies to the refund route of a real
// server, for a tax invoice in a 2-decimal and one in a 3-decimal
// currency: nothing panics or answers 5xx, an accepted body answers a
// refund invoice, and a refused one leaves the order as it was.
func FuzzDecodeRefund(f *testing.F) {
	f.Add(dialecttest.Testdata(f, "request.json"), false)
	f.Add(dialecttest.Testdata(f, "request_seed.json"), true)
	for _, body := range []string{``, `null`, `{}`, `[]`, `{"refunded_items":null}`, `{"refunded_items":{}}`,
		`{"refunded_items":[1]}`, `{"refunded_items":[{"id":1}]}`, `{"refunded_items":[{"id":1,"qty":1,"amount":1.005}]}`,
		`{"refunded_items":[{"id":1,"qty":0,"amount":0.001}]}`, `{"refunded_items":[{"id":"1","qty":"1"}]}`,
		`{"refunded_items":[{"id":1,"qty":1.5}]}`, `{"refunded_items":[{"id":1e0,"qty":1}]}`,
		`{"refunded_items":[{"id":2,"qty":99999999999999999999}]}`, `{"comments":7,"refunded_items":[{"id":1,"qty":1}]}`,
		`{"refunded_items":[{"id":1,"qty":1},{"id":1,"qty":1}]}`, `{"refunded_items":[{"id":1,"amount":-1}]}`} {
		f.Add(body, true)
	}
	s := dialecttest.Start(f)
	big := func(ref, currency string) *refund.InvoiceView {
		o := s.Order(refund.OrderInput{Reference: ref, Currency: currency, Amount: 2_000_000_000_000,
			Items: []refund.ItemInput{{ID: "a", Qty: 1_000_000, UnitAmount: 1_000_000, TaxRate: "15"},
				{ID: "b", Qty: 1_000_000, UnitAmount: 1_000_000, TaxRate: "5.5"}}})
		page, err := s.Service.ListInvoices(context.Background(), s.Principal, refund.InvoiceFilter{OrderID: o.ID})
		if err != nil || len(page.Data) != 1 {
			f.Fatalf("tax invoice: %v", err)
		}
		return page.Data[0]
	}
	invoices := map[bool]*refund.InvoiceView{false: big("ORD-SAR", "SAR"), true: big("ORD-KWD", "KWD")}
	snap := func(t *testing.T, orderID string) [3]int64 {
		o, err := s.Service.GetOrder(context.Background(), s.Principal, orderID)
		if err != nil {
			t.Fatal(err)
		}
		return [3]int64{o.RefundedAmount, o.PendingRefundAmount, int64(o.RefundCount)}
	}
	f.Fuzz(func(t *testing.T, body string, kwd bool) {
		inv := invoices[kwd]
		before := snap(t, inv.OrderID)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, dialecttest.Request("POST", "http://refundd.test"+refundPath(inv.ID), s.Key, body,
			"app-id", fmt.Sprint(s.Merchant.AppID)))
		r := dialecttest.Reply{Status: rec.Code, Raw: rec.Body.String(), Body: dialecttest.Decode(t, rec.Body.String())}
		switch {
		case r.Status == 200:
			if r.Str("type") != "refund" || r.Str("currency") != inv.Currency || r.Str("refunded_invoice", "id") != fmt.Sprint(inv.ID) {
				t.Fatalf("accepted body %q answered %s", body, r.Raw)
			}
		case r.Status >= 400 && r.Status < 500:
			if r.Str("code") == "" || r.Str("detail") == "" {
				t.Fatalf("refusal without code or detail: %d %s", r.Status, r.Raw)
			}
			if after := snap(t, inv.OrderID); after != before {
				t.Fatalf("refused body %q changed the order: %v, was %v", body, after, before)
			}
		default:
			t.Fatalf("body %q answered %d %s", body, r.Status, r.Raw)
		}
	})
}
