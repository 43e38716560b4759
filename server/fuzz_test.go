package server_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// fuzzNative posts fuzzed bodies to one native route of a real server. The
// properties: never a 5xx, and a rejected body changes nothing (no order,
// refund or audit entry appears).
func fuzzNative(f *testing.F, path string, seeds ...string) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{Addr: "127.0.0.1:0", DB: sqlitetest.URL(f), WorkerInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Stop(context.Background()) })
	_, key, err := srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	p, err := srv.Service.Authenticate(ctx, key)
	if err != nil {
		f.Fatal(err)
	}
	// A real order, so refunds aimed at it can get past the lookup.
	o, err := srv.Service.CreateOrder(ctx, p, refund.OrderInput{Reference: "FUZZ-1", Currency: "KWD", Amount: 50_000,
		PaymentMethod: "card", Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		f.Add(bytes.ReplaceAll([]byte(s), []byte("ORDER_ID"), []byte(o.ID)))
	}
	trail := func() string {
		page, err := srv.Service.ListAudit(ctx, p, refund.AuditFilter{Limit: 1})
		if err != nil || len(page.Data) == 0 {
			return ""
		}
		return page.Data[0].ID
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := trail()
		req, _ := http.NewRequest("POST", srv.URL()+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		switch {
		case res.StatusCode >= 500:
			t.Fatalf("POST %s %q: %d", path, body, res.StatusCode)
		case res.StatusCode >= 400 && trail() != before:
			t.Fatalf("POST %s %q was refused (%d) but changed something", path, body, res.StatusCode)
		}
	})
}

func FuzzCreateRefund(f *testing.F) {
	fuzzNative(f, "/v1/refunds",
		`{"order_id":"ORDER_ID","amount":1005,"reason":"damaged"}`,
		`{"order_id":"ORDER_ID"}`,
		`{"order_id":"ORDER_ID","amount":1.5}`,
		`{"order_id":"ORDER_ID","amount":-1}`,
		`{"order_id":"ORDER_ID","amount":1e3}`,
		`{"order_id":"ORDER_ID","amount":99999999999999999999}`,
		`{"order_id":"ORDER_ID","items":[{"item_id":"x","qty":1}]}`,
		`{"order_id":"ORDER_ID","vendors":[{"vendor_id":"v","amount":1}]}`,
		`{"order_id":"ORDER_ID","notify_url":"http://10.0.0.1/x"}`,
		`[]`, `null`, `{"order_id":1}`, `{"order_id":"ORDER_ID"}{}`)
}

func FuzzCreateOrder(f *testing.F) {
	fuzzNative(f, "/v1/orders",
		`{"currency":"SAR","amount":1000,"payment_method":"card","source":{"scheme":"visa","last_digits":"4444"}}`,
		`{"currency":"KWD","amount":75500,"vendors":[{"id":"a","name":"A","iban":"KW81CBKU0000000000001234560101","amount":50000},{"id":"b","name":"B","iban":"KW81CBKU0000000000001234560101","amount":25500}]}`,
		`{"currency":"SAR","amount":3099,"items":[{"id":"l1","name_en":"x","qty":3,"unit_amount":1033,"tax_rate":"15"}]}`,
		`{"currency":"XXX","amount":1}`,
		`{"currency":"SAR","amount":0}`,
		`{"currency":"SAR","amount":"10"}`)
}
