package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

func invoicedOrder(ref string) map[string]any {
	o := cardOrder("4444", 3099)
	o["reference"] = ref
	o["items"] = []any{
		map[string]any{"id": "line-1", "sku": "COF-250", "name_en": "Arabic coffee", "qty": 2, "unit_amount": 1033, "tax_rate": "15"},
		map[string]any{"id": "line-2", "sku": "DAT-500", "name_en": "Dates", "qty": 1, "unit_amount": 1033},
	}
	return o
}

// invoiceOf returns the one invoice the native list finds for query.
func (s *testServer) invoiceOf(query string) reply {
	s.t.Helper()
	r := s.do("GET", "/v1/invoices?"+query, s.key, nil)
	data, _ := r.get("data").([]any)
	if r.status != 200 || len(data) != 1 {
		s.t.Fatalf("GET /v1/invoices?%s: %d %s", query, r.status, r.raw)
	}
	return reply{status: 200, body: data[0].(map[string]any)}
}

// TestInvoices_Native: an order with items gets its tax invoice when it is
// recorded, a refund of its lines a refund invoice; both read back as
// JSON, UBL XML and QR payload.
func TestInvoices_Native(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(invoicedOrder("ORD-INV-1"))
	tax := s.invoiceOf("order_id=" + orderID + "&type=invoice")
	if tax.str("serial") != "INV-202600001" || tax.str("status") != "paid" || tax.num("total_amount") != 3099 ||
		tax.num("tax_amount") != 269+135 || tax.str("zatca_status") != "failed" || tax.str("qr") == "" {
		t.Fatalf("tax invoice: %v", tax.body)
	}
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "reason": "damaged",
		"items": []any{map[string]any{"item_id": "line-1", "qty": 1}}})
	if r.status != http.StatusCreated || r.str("status") != "succeeded" {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	credit := s.invoiceOf("refund_id=" + r.str("id"))
	want := map[string]string{"type": "refund", "status": "paid", "serial": "INV-202600002", "parent_serial": "INV-202600001",
		"reason": "damaged", "zatca_status": "aborted", "total_amount": "1033", "total_amount_excluding_tax": "898", "tax_amount": "135"}
	for k, v := range want {
		if got := credit.str(k); got != v {
			t.Errorf("refund invoice %s = %q, want %q", k, got, v)
		}
	}
	id := credit.str("id")

	t.Run("Get", func(t *testing.T) {
		got := s.do("GET", "/v1/invoices/"+tax.str("id"), s.key, nil)
		line := got.get("lines").([]any)[0].(map[string]any)
		if got.status != 200 || fmt.Sprint(got.get("refund_invoices")) != "["+id+"]" || fmt.Sprint(line["refunded_qty"]) != "1" {
			t.Fatalf("%d %s", got.status, got.raw)
		}
	})
	t.Run("XML", func(t *testing.T) {
		got := s.do("GET", "/v1/invoices/"+id+"/xml", s.key, nil)
		var doc struct {
			TypeCode string `xml:"InvoiceTypeCode"`
			Billing  string `xml:"BillingReference>InvoiceDocumentReference>ID"`
		}
		if got.status != 200 || got.header.Get("Content-Type") != "application/xml; charset=utf-8" {
			t.Fatalf("%d %s", got.status, got.header.Get("Content-Type"))
		}
		if err := xml.Unmarshal([]byte(got.raw), &doc); err != nil || doc.TypeCode != "381" || doc.Billing != "INV-202600001" {
			t.Fatalf("XML %+v %v", doc, err)
		}
	})
	t.Run("QR", func(t *testing.T) {
		got := s.do("GET", "/v1/invoices/"+id+"/qr", s.key, nil)
		if got.status != 200 || got.str("qr") != credit.str("qr") || got.str("invoice_id") != id {
			t.Fatalf("%d %s", got.status, got.raw)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		first := s.do("GET", "/v1/invoices?limit=1", s.key, nil)
		if first.status != 200 || first.get("has_more") != true || first.str("next_cursor") != id {
			t.Fatalf("%d %s", first.status, first.raw)
		}
		second := s.do("GET", "/v1/invoices?limit=1&cursor="+id, s.key, nil)
		if data := second.get("data").([]any); len(data) != 1 || fmt.Sprint(data[0].(map[string]any)["id"]) != tax.str("id") {
			t.Fatalf("%s", second.raw)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		other := s.newMerchant("Other")
		for _, tc := range []struct {
			name, method, path, key string
			status                  int
			code                    string
		}{
			{"NoKey", "GET", "/v1/invoices/" + id, "", 401, "unauthorized"},
			{"OtherMerchant", "GET", "/v1/invoices/" + id, other, 404, "invoice_not_found"},
			{"OtherMerchantXML", "GET", "/v1/invoices/" + id + "/xml", other, 404, "invoice_not_found"},
			{"NotAnID", "GET", "/v1/invoices/INV-202600001", s.key, 404, "invoice_not_found"},
			{"Unknown", "GET", "/v1/invoices/999/qr", s.key, 404, "invoice_not_found"},
			{"BadType", "GET", "/v1/invoices?type=bill", s.key, 400, "invalid_request"},
			{"BadCursor", "GET", "/v1/invoices?cursor=abc", s.key, 400, "invalid_request"},
			{"BadLimit", "GET", "/v1/invoices?limit=1000", s.key, 400, "invalid_request"},
			{"IssueOtherMerchantsOrder", "POST", "/v1/orders/" + orderID + "/invoice", other, 404, "order_not_found"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expectError(t, s.do(tc.method, tc.path, tc.key, nil), tc.status, tc.code)
			})
		}
		if got := s.do("GET", "/v1/invoices", other, nil); len(got.get("data").([]any)) != 0 {
			t.Fatalf("another merchant lists %s", got.raw)
		}
	})
}

// TestInvoices_IssueOnRequest: an order recorded before invoicing gets its
// tax invoice on request, once; an order without lines gets none.
func TestInvoices_IssueOnRequest(t *testing.T) {
	s := mustStart(t)
	// A service without an invoicer stands for refundd before invoicing.
	var n atomic.Int64
	old, err := refund.NewService(refund.Config{Store: s.Store, Processor: s.Sandbox, Now: s.clock.Now,
		NewID: func(p string) string { return fmt.Sprintf("%s_000000000000_old%d", p, n.Add(1)) }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := old.Authenticate(context.Background(), s.key)
	if err != nil {
		t.Fatal(err)
	}
	o, err := old.CreateOrder(context.Background(), p, refund.OrderInput{Reference: "ORD-OLD", Currency: "SAR", Amount: 2066,
		Items: []refund.ItemInput{{ID: "a", NameEN: "Coffee", Qty: 2, UnitAmount: 1033}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.do("GET", "/v1/invoices?order_id="+o.ID, s.key, nil); len(got.get("data").([]any)) != 0 {
		t.Fatalf("the old order has an invoice: %s", got.raw)
	}
	first := s.do("POST", "/v1/orders/"+o.ID+"/invoice", s.key, nil)
	if first.status != http.StatusCreated || first.str("type") != "invoice" || first.num("total_amount") != 2066 || first.str("serial") != "INV-202600001" {
		t.Fatalf("issue: %d %s", first.status, first.raw)
	}
	again := s.do("POST", "/v1/orders/"+o.ID+"/invoice", s.key, nil)
	if again.status != http.StatusOK || again.str("id") != first.str("id") {
		t.Fatalf("issue again: %d %s", again.status, again.raw)
	}
	plain := s.mustOrder(cardOrder("4444", 1000))
	expectError(t, s.do("POST", "/v1/orders/"+plain+"/invoice", s.key, nil), 400, "invalid_request")
	if got := s.do("GET", "/v1/invoices", s.key, nil); !strings.Contains(got.raw, `"serial":"INV-202600001"`) || len(got.get("data").([]any)) != 1 {
		t.Fatalf("invoices after issuing: %s", got.raw)
	}
}

// TestCreditNotes_EverySurface: a refund of an invoiced order gets its
// credit note whatever the surface and whether or not it names lines; the
// notes never credit more than the invoice, and once the order is wholly
// refunded (Paylink refunds what is left) they add up to it exactly, VAT
// included.
func TestCreditNotes_EverySurface(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	app := fmt.Sprint(s.mer.AppID)
	if r := s.do("POST", "/order/v1/merchant/invoices/config/", s.key, map[string]any{"vat_number": "300000000000003"}, "app-id", app); r.status != 200 {
		t.Fatalf("config: %d %s", r.status, r.raw)
	}
	// 2 x 10.33 and 1 x 10.33 of lines, 10.00 of shipping.
	o := invoicedOrder("ORD-CN-1")
	o["amount"] = 4099
	id := s.mustOrder(o)
	tax := s.invoiceOf("type=invoice&order_id=" + id)
	line := func(n int) int64 {
		ti := s.do("GET", fmt.Sprintf("/order/v1/merchant/invoices/%s/", tax.str("id")), s.key, nil, "app-id", app)
		return toNum(ti.get("items").([]any)[n].(map[string]any)["id"])
	}
	for _, tc := range []struct {
		surface, method, path string
		body                  any
		auth                  string
		headers               []string
	}{
		{"native", "POST", "/v1/refunds", map[string]any{"order_id": id, "amount": 500}, s.key, nil},
		{"gateway", "POST", "/v1/orders/" + id + "/refund", map[string]any{"amount": 300}, s.key, nil},
		{"sgate", "POST", "/orders/" + id + "/refunds", map[string]any{"amount": "2.00", "reason": "late"}, s.key, nil},
		{"upayments", "POST", "/api/v1/create-refund", map[string]any{"orderId": id, "totalPrice": "1.50"}, s.key, nil},
		{"techrar", "POST", fmt.Sprintf("/order/v1/merchant/invoices/%s/refund/", tax.str("id")),
			fmt.Sprintf(`{"comments":"one unit","refunded_items":[{"id":%d,"qty":1}]}`, line(0)), s.key, []string{"app-id", app}},
		{"paylink", "POST", "/rest/partner/v2/merchant/cr/" + s.mer.CR + "/refund",
			map[string]any{"orderNumber": id, "refundReason": "the rest"}, "", []string{"Authorization", m.partnerToken.header}},
	} {
		t.Run(tc.surface, func(t *testing.T) {
			before := s.refundsOf(id)
			r := s.do(tc.method, tc.path, tc.auth, tc.body, tc.headers...)
			if r.status >= 300 || s.refundsOf(id) != before+1 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			list := s.do("GET", "/v1/refunds?limit=1&order_id="+id, s.key, nil)
			ref := list.get("data").([]any)[0].(map[string]any)
			if ref["surface"] != tc.surface {
				t.Fatalf("newest refund is %v's", ref["surface"])
			}
			cn := s.invoiceOf("type=refund&refund_id=" + ref["id"].(string))
			if cn.str("total_amount") != fmt.Sprint(ref["amount"]) || cn.str("parent_id") != tax.str("id") || cn.str("status") != "paid" ||
				cn.str("zatca_status") != "reported" {
				t.Fatalf("credit note of a %v refund: %v", ref["amount"], cn.body)
			}
			x := s.do("GET", "/v1/invoices/"+cn.str("id")+"/xml", s.key, nil)
			if x.status != 200 || !strings.Contains(x.raw, ">381<") || !strings.Contains(x.raw, tax.str("serial")) {
				t.Fatalf("credit note XML: %d %s", x.status, x.raw)
			}
		})
	}
	// Everything is refunded: the credit notes are the invoice, exactly.
	all := s.do("GET", "/v1/invoices?type=refund&limit=100&order_id="+id, s.key, nil)
	var total, vat, excl int64
	for _, x := range all.get("data").([]any) {
		n := x.(map[string]any)
		total += toNum(n["total_amount"])
		vat += toNum(n["tax_amount"])
		excl += toNum(n["total_amount_excluding_tax"])
	}
	if len(all.get("data").([]any)) != 6 || total != 4099 || vat != toNum(tax.get("tax_amount")) ||
		excl != toNum(tax.get("total_amount_excluding_tax")) {
		t.Fatalf("credit notes total %d (excl %d, VAT %d), invoice %v (excl %v, VAT %v)", total, excl, vat,
			tax.get("total_amount"), tax.get("total_amount_excluding_tax"), tax.get("tax_amount"))
	}
}

// TestInvoices_SealedWithTheConfiguredKey: --zatca-key-file signs the
// documents (QR tag 8 is its public key); a file that is no key stops the
// node from starting.
func TestInvoices_SealedWithTheConfiguredKey(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(k)
	path := filepath.Join(t.TempDir(), "zatca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustStart(t, func(c *server.Config) { c.ZATCAKeyFile = path })
	id := s.mustOrder(invoicedOrder("ORD-KEY-1"))
	inv := s.invoiceOf("type=invoice&order_id=" + id)
	qr, err := base64.StdEncoding.DecodeString(inv.str("qr"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if !bytes.Contains(qr, append([]byte{8, byte(len(pub))}, pub...)) {
		t.Fatalf("QR tag 8 is not the configured key's public half: %x", qr)
	}
	bad := filepath.Join(t.TempDir(), "not-a-key.pem")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Open(context.Background(), server.Config{DB: "sqlite:" + filepath.Join(t.TempDir(), "x.db"), ZATCAKeyFile: bad}); err == nil ||
		!strings.Contains(err.Error(), "zatca-key-file") {
		t.Fatalf("a bad key file: %v", err)
	}
}

// TestCreditNotes_OneUnitAtATime is the issue's example through the real
// server: a line of 2 x 10.33 (17.96 + 2.69 VAT) refunded one unit at a
// time through Techrar credits 1.35 then 1.34, 2.69 of VAT in all.
func TestCreditNotes_OneUnitAtATime(t *testing.T) {
	s := mustStart(t)
	app := fmt.Sprint(s.mer.AppID)
	o := cardOrder("4444", 2066)
	o["items"] = []any{map[string]any{"id": "line-1", "name_en": "Arabic coffee", "qty": 2, "unit_amount": 1033, "tax_rate": "15"}}
	id := s.mustOrder(o)
	tax := s.invoiceOf("type=invoice&order_id=" + id)
	if toNum(tax.get("tax_amount")) != 269 || toNum(tax.get("total_amount_excluding_tax")) != 1796 {
		t.Fatalf("tax invoice: %v", tax.body)
	}
	line := toNum(tax.get("lines").([]any)[0].(map[string]any)["id"])
	var vat []string
	for range 2 {
		r := s.do("POST", fmt.Sprintf("/order/v1/merchant/invoices/%s/refund/", tax.str("id")), s.key,
			fmt.Sprintf(`{"comments":"one unit","refunded_items":[{"id":%d,"qty":1}]}`, line), "app-id", app)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		vat = append(vat, r.str("tax_amount"))
	}
	if vat[0] != "1.35" || vat[1] != "1.34" {
		t.Fatalf("credited VAT %v, want 1.35 then 1.34", vat)
	}
	// A third unit does not exist: refused, nothing more credited.
	r := s.do("POST", fmt.Sprintf("/order/v1/merchant/invoices/%s/refund/", tax.str("id")), s.key,
		fmt.Sprintf(`{"comments":"one unit","refunded_items":[{"id":%d,"qty":1}]}`, line), "app-id", app)
	if r.status < 400 {
		t.Fatalf("a third unit: %d %s", r.status, r.raw)
	}
}
