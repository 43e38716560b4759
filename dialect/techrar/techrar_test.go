package techrar_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

const base = "/order/v1/merchant/invoices/"

func refundPath(invoiceID int64) string { return fmt.Sprintf("%s%d/refund/", base, invoiceID) }

// appID is the merchant's app-id header.
func appID(s *dialecttest.Server) string { return strconv.FormatInt(s.Merchant.AppID, 10) }

// post sends a Techrar request with the merchant's key and app-id.
func post(s *dialecttest.Server, path, body string, headers ...string) dialecttest.Reply {
	s.TB.Helper()
	return s.Do("POST", path, s.Key, body, append([]string{"app-id", appID(s)}, headers...)...)
}

func get(s *dialecttest.Server, path string) dialecttest.Reply {
	s.TB.Helper()
	return s.Do("GET", path, s.Key, "", "app-id", appID(s))
}

// seedOrder is the order behind the seed's example: the "Refundable" line
// of 10.33 SAR at 15% on a tax invoice of 327.32 SAR, paid by card.
func seedOrder(ref string) refund.OrderInput {
	return refund.OrderInput{Reference: ref, Currency: "SAR", Amount: 32732, PaymentMethod: "card",
		Source:   refund.Card{Scheme: "visa", FirstDigits: "411111", LastDigits: "1111", Month: 12, Year: 2027},
		Customer: refund.Customer{Name: "Ozel", Email: "ozel@example.com", Mobile: "+966535501059"},
		Items: []refund.ItemInput{
			{ID: "491", SKU: "17556771634411092", NameEN: "Refundable", NameAR: "Refundable", Qty: 1, UnitAmount: 1033, TaxRate: "15"},
			{ID: "492", SKU: "SKU-2", NameEN: "Espresso machine", NameAR: "آلة إسبريسو", Qty: 1, UnitAmount: 31699, TaxRate: "15"},
		}}
}

// taxInvoice returns the tax invoice of an order.
func taxInvoice(t *testing.T, s *dialecttest.Server, orderID string) *refund.InvoiceView {
	t.Helper()
	page, err := s.Service.ListInvoices(context.Background(), s.Principal, refund.InvoiceFilter{OrderID: orderID, Type: refund.InvoiceSale})
	if err != nil || len(page.Data) != 1 {
		t.Fatalf("tax invoice of %s: %v %v", orderID, page.Data, err)
	}
	return page.Data[0]
}

// nullable are the fields this dialect sends as null where the seed's
// example (a refund invoice with an error) has a value, or the other way
// round, as its package documentation says.
var nullable = map[string]bool{"$.invoice_error": true, "$.refund_reason": true, "$.refunds": true,
	"$.refunded_invoice": true, "refund_reason": true}

// contract compares a reply with the seed's example: every field present,
// the same JSON type, recursively; the nullable fields may differ only
// between null and a value.
func contract(t *testing.T, got any) {
	t.Helper()
	seed := dialecttest.Decode(t, dialecttest.Testdata(t, "reply_200.json"))
	var diffs []string
	for _, d := range dialecttest.ShapeDiff(seed, got) {
		path, _, _ := strings.Cut(d, ": ")
		last := path[strings.LastIndex(path, ".")+1:]
		if (nullable[path] || nullable[last]) && (strings.Contains(d, "want null") || strings.HasSuffix(d, "got null")) {
			continue
		}
		diffs = append(diffs, d)
	}
	if len(diffs) > 0 {
		t.Fatalf("reply differs from the seed's example:\n  %s", strings.Join(diffs, "\n  "))
	}
}

func wantFields(t *testing.T, r dialecttest.Reply, want map[string]string) {
	t.Helper()
	for path, v := range want {
		if got := r.Str(strings.Split(path, ".")...); got != v {
			t.Errorf("%s = %q, want %q", path, got, v)
		}
	}
}

// TestRefundInvoice_SeedExample reproduces the seed's example: the 10.33
// line at 15% refunded, a refund invoice of 8.98 + 1.35, paid, aborted at
// ZATCA because the tax invoice was never reported (this merchant has no
// VAT number, so the sandbox rejected it).
func TestRefundInvoice_SeedExample(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(seedOrder("ORD-410"))
	tax := taxInvoice(t, s, o.ID)
	if tax.ID != 1 || tax.Lines[0].ID != 1 || tax.Serial != "INV-202600001" || tax.ZATCAStatus != refund.ZATCAFailed {
		t.Fatalf("tax invoice %d line %d serial %s zatca %s", tax.ID, tax.Lines[0].ID, tax.Serial, tax.ZATCAStatus)
	}
	r := post(s, refundPath(tax.ID), dialecttest.Testdata(t, "request.json"))
	if r.Status != 200 {
		t.Fatalf("want 200, got %d %s", r.Status, r.Raw)
	}
	// The seed's exact shape: ShapeDiff is strict here, null for null.
	seed := dialecttest.Decode(t, dialecttest.Testdata(t, "reply_200.json"))
	if d := dialecttest.ShapeDiff(seed, r.Body); len(d) > 0 {
		t.Fatalf("reply differs from the seed's example:\n  %s", strings.Join(d, "\n  "))
	}
	wantFields(t, r, map[string]string{
		"type": "refund", "status": "paid", "serial": "INV-202600002", "refund_reason": "first refund",
		"currency": "SAR", "payment_method": "visa_master", "zatca_status": "aborted",
		"invoice_error": invoice.ErrParentNotReported, "order_id": "1", "app_id": appID(s),
		"refunded_invoice.id": "1", "refunded_invoice.serial": "INV-202600001", "refunded_invoice.status": "paid",
		"issued_at": "2026-03-01T12:00:00+03:00", "created_at": "2026-03-01T12:00:00.123000+03:00",
		"customer.mobile_number": "966535501059", "customer.country_code": "966", "customer.username": "0535501059",
	})
	for _, want := range []string{`"sub_total_amount":10.33,`, `"net_amount":10.33,`, `"total_amount_excluding_tax":8.98,`,
		`"tax_percentage":15.0,`, `"tax_amount":1.35,`, `"total_amount":10.33,`, `"total_amount":327.32,`,
		`"shipping_amount":0.00,`, `"received_amount":10.33,`} {
		if !strings.Contains(r.Raw, want) {
			t.Errorf("reply lacks %s: %s", want, r.Raw)
		}
	}
	items := r.Get("items").([]any)
	item := dialecttest.Reply{Body: items[0]}
	wantFields(t, item, map[string]string{"name_en": "Refundable", "qty": "1", "refunded_qty": "0", "amount": "10.33",
		"net_amount": "10.33", "total_amount_excluding_tax": "8.98", "tax_amount": "1.35", "tax_percentage": "15.0",
		"total_amount": "10.33", "order_item": "1", "item_id": "1", "item.sku": "17556771634411092", "item.price": "10.33",
		"refund_reason": "first refund"})
	txn := dialecttest.Reply{Body: r.Get("transactions").([]any)[0]}
	wantFields(t, txn, map[string]string{"type": "refund", "status": "captured", "reason": "first refund",
		"provider_status": "REFUNDED", "method": "visa_master", "provider_method": "VISA/MASTER", "received_amount": "10.33",
		"provider_details.RefundStatus": "REFUNDED", "provider_details.Amount": "10.33", "invoice_id": r.Str("id")})
	if snap := s.Snap(o.ID); snap.Refunded != 1033 || snap.Refunds != 1 {
		t.Fatalf("order after the refund: %+v", snap)
	}

	t.Run("TaxInvoiceShowsTheRefund", func(t *testing.T) {
		got := get(s, fmt.Sprintf("%s%d/", base, tax.ID))
		if got.Status != 200 {
			t.Fatalf("%d %s", got.Status, got.Raw)
		}
		contract(t, got.Body)
		wantFields(t, got, map[string]string{"type": "invoice", "status": "paid", "serial": "INV-202600001",
			"zatca_status": "failed", "total_amount": "327.32", "tax_amount": "42.70", "total_amount_excluding_tax": "284.62"})
		refunds := got.Get("refunds").([]any)
		if len(refunds) != 1 || (dialecttest.Reply{Body: refunds[0]}).Str("serial") != "INV-202600002" {
			t.Fatalf("refunds = %v", refunds)
		}
		line := dialecttest.Reply{Body: got.Get("items").([]any)[0]}
		if line.Str("refunded_qty") != "1" || line.Str("qty") != "1" {
			t.Fatalf("line after the refund: %s", got.Raw)
		}
	})
	t.Run("SeedRequestExampleIsRefused", func(t *testing.T) {
		// The seed's request example names line 0, which no invoice has.
		before := s.Snap(o.ID)
		got := post(s, refundPath(tax.ID), dialecttest.Testdata(t, "request_seed.json"))
		if got.Status != 400 || got.Str("code") != refund.EInvalidRequest || got.Str("field") != "refunded_items[0].id" {
			t.Fatalf("want 400 on refunded_items[0].id, got %d %s", got.Status, got.Raw)
		}
		if after := s.Snap(o.ID); after != before {
			t.Fatalf("a refused request changed the order: %+v, was %+v", after, before)
		}
	})
}

// TestRoutes_AnswerInTheShape: a path below the invoices prefix that is
// no route, or a method its route does not take, is answered in Techrar's
// error shape, not in the mux's text; a route's path without its trailing
// slash is still redirected to the route, as Django does.
func TestRoutes_AnswerInTheShape(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(seedOrder("ORD-RT"))
	tax := taxInvoice(t, s, o.ID)
	body := `{"refunded_items":[{"id":1,"qty":1}]}`
	for _, tc := range []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"RefundByGet", "GET", refundPath(tax.ID), 405, "POST"},
		{"RefundByPut", "PUT", refundPath(tax.ID), 405, "POST"},
		{"InvoiceByPost", "POST", fmt.Sprintf("%s%d/", base, tax.ID), 405, "GET"},
		{"ListByDelete", "DELETE", base, 405, "GET"},
		{"ConfigByPatch", "PATCH", base + "config/", 405, "GET, POST"},
		{"BelowTheRefund", "POST", refundPath(tax.ID) + "x/", 404, ""},
		{"UnknownVerb", "POST", fmt.Sprintf("%s%d/void/", base, tax.ID), 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snap(o.ID)
			r := s.Do(tc.method, tc.path, s.Key, body, "app-id", appID(s))
			want := map[int]string{404: "route_not_found", 405: "method_not_allowed"}[tc.status]
			if r.Status != tc.status || r.Str("code") != want || r.Str("detail") == "" {
				t.Fatalf("want %d %s, got %d %s", tc.status, want, r.Status, r.Raw)
			}
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow: %q, want %q", got, tc.allow)
			}
			if after := s.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}
	// The catch-all is no exact match, so the mux still redirects.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct{ method, path string }{
		{"POST", strings.TrimSuffix(refundPath(tax.ID), "/")},
		{"GET", strings.TrimSuffix(base, "/")},
		{"GET", base + "config"},
	} {
		resp, err := noFollow.Do(dialecttest.Request(tc.method, s.URL()+tc.path, s.Key, body, "app-id", appID(s)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != tc.path+"/" {
			t.Fatalf("%s %s: %d Location %q, want 307 to %s/", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.path)
		}
	}
}
