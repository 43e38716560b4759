package server_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"testing"
)

// noteStores are the stores the credit-note tests run on: SQLite, and
// PostgreSQL when REFUNDD_TEST_POSTGRES names a server.
var noteStores = []struct {
	name string
	opts func(t *testing.T) []serverOpt
}{
	{"sqlite", func(*testing.T) []serverOpt { return nil }},
	{"postgres", func(t *testing.T) []serverOpt { return []serverOpt{onDB(pgSchema(t, 4))} }},
}

// TestCreditNotes_VoidsAndChargebacks, through the native API on each
// store: a void and a chargeback of an invoiced order each get a paid
// credit note (381) of what they applied, naming them (adjustment_id, no
// refund_id), spread as an amount-only refund of that amount is (a twin
// order's), their reason the XML's note; a replay by Idempotency-Key or by
// processor reference gets none; a refund of the rest then credits exactly
// what the invoice has left; an order without lines gets no note.
func TestCreditNotes_VoidsAndChargebacks(t *testing.T) {
	for _, st := range noteStores {
		t.Run(st.name, func(t *testing.T) {
			s := mustStart(t, st.opts(t)...)
			orderID, twinID := s.mustOrder(invoicedOrder("ORD-ADJ-1")), s.mustOrder(invoicedOrder("ORD-ADJ-2"))
			tax := s.invoiceOf("order_id=" + orderID + "&type=invoice")
			notes := func() []map[string]any {
				t.Helper()
				r := s.do("GET", "/v1/invoices?type=refund&order_id="+orderID, s.key, nil)
				if r.status != http.StatusOK {
					t.Fatalf("%d %s", r.status, r.raw)
				}
				var out []map[string]any
				for _, d := range r.get("data").([]any) {
					out = append([]map[string]any{d.(map[string]any)}, out...) // oldest first
				}
				return out
			}
			adjust := func(kind, key string, body map[string]any) reply {
				t.Helper()
				r := s.do("POST", "/v1/orders/"+orderID+"/"+kind, s.key, body, "Idempotency-Key", key)
				if r.status != http.StatusCreated {
					t.Fatalf("%s: %d %s", kind, r.status, r.raw)
				}
				return r
			}
			void := adjust("voids", "void-1", map[string]any{"amount": 1033, "reason": "out of stock"})
			if again := adjust("voids", "void-1", map[string]any{"amount": 1033, "reason": "out of stock"}); again.str("id") != void.str("id") {
				t.Fatalf("the replayed void answered %s", again.raw)
			}
			cb := adjust("chargebacks", "cb-1", map[string]any{"amount": 500, "reason": "fraud", "processor_reference": "CB-1"})
			if again := adjust("chargebacks", "cb-2", map[string]any{"amount": 500, "reason": "fraud", "processor_reference": "CB-1"}); again.str("id") != cb.str("id") {
				t.Fatalf("the chargeback repeated under its reference answered %s", again.raw)
			}
			twin := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": twinID, "amount": 1033})
			if twin.status != http.StatusCreated {
				t.Fatalf("twin refund: %d %s", twin.status, twin.raw)
			}
			want := s.invoiceOf("refund_id=" + twin.str("id"))

			got := notes()
			if len(got) != 2 {
				t.Fatalf("%d credit notes, want the void's and the chargeback's", len(got))
			}
			for i, tc := range []struct {
				adjustment reply
				total      string
				reason     string
			}{{void, "1033", "void: out of stock"}, {cb, "500", "chargeback: fraud"}} {
				n := reply{status: 200, body: got[i]}
				if n.str("adjustment_id") != tc.adjustment.str("id") || n.get("refund_id") != nil || n.str("type") != "refund" ||
					n.str("status") != "paid" || n.str("total_amount") != tc.total || n.str("reason") != tc.reason ||
					n.str("parent_serial") != tax.str("serial") {
					t.Fatalf("note %d: %s", i, n.body)
				}
				x := s.do("GET", "/v1/invoices/"+n.str("id")+"/xml", s.key, nil)
				var doc struct {
					TypeCode    string `xml:"InvoiceTypeCode"`
					Billing     string `xml:"BillingReference>InvoiceDocumentReference>ID"`
					Note        string `xml:"Note"`
					Instruction string `xml:"PaymentMeans>InstructionNote"`
				}
				if err := xml.Unmarshal([]byte(x.raw), &doc); err != nil || x.status != 200 || doc.TypeCode != "381" ||
					doc.Billing != tax.str("serial") || doc.Note != tc.reason || doc.Instruction != tc.reason {
					t.Fatalf("note %d XML: %d %+v %v", i, x.status, doc, err)
				}
			}
			// The void's note is the twin's amount-only refund's, line for line.
			first := reply{status: 200, body: got[0]}
			for _, k := range []string{"total_amount_excluding_tax", "tax_amount", "shipping_amount"} {
				if first.str(k) != want.str(k) {
					t.Fatalf("void note %s = %s, an amount-only refund's %s", k, first.str(k), want.str(k))
				}
			}
			if a, b := lineAmounts(first), lineAmounts(want); a != b {
				t.Fatalf("void note lines %s, an amount-only refund's %s", a, b)
			}
			view := s.do("GET", "/v1/invoices/"+first.str("id"), s.key, nil)
			if view.status != 200 || view.str("adjustment_id") != void.str("id") {
				t.Fatalf("GET the note: %d %s", view.status, view.raw)
			}
			if ids := s.do("GET", "/v1/invoices/"+tax.str("id"), s.key, nil).get("refund_invoices"); fmt.Sprint(ids) != fmt.Sprintf("[%s %s]", got[0]["id"], got[1]["id"]) {
				t.Fatalf("the tax invoice lists %v", ids)
			}

			// The rest, refunded: its note takes what the invoice has left.
			rest := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID})
			if rest.status != http.StatusCreated || rest.num("amount") != 3099-1033-500 || rest.str("status") != "succeeded" {
				t.Fatalf("refund of the rest: %d %s", rest.status, rest.raw)
			}
			var total int64
			for _, n := range notes() {
				total += reply{body: n}.num("total_amount")
			}
			if total != tax.num("total_amount") {
				t.Fatalf("the notes credit %d of the invoice's %d", total, tax.num("total_amount"))
			}

			plain := s.mustOrder(cardOrder("4444", 1000))
			if r := s.do("POST", "/v1/orders/"+plain+"/voids", s.key, map[string]any{"amount": 100}); r.status != http.StatusCreated {
				t.Fatalf("void: %d %s", r.status, r.raw)
			}
			if r := s.do("GET", "/v1/invoices?order_id="+plain, s.key, nil); len(r.get("data").([]any)) != 0 {
				t.Fatalf("an order without lines has invoices: %s", r.raw)
			}
		})
	}
}

// lineAmounts prints what an invoice's lines state: item, amount, net and
// VAT (not ids, which differ between documents).
func lineAmounts(inv reply) string {
	var out string
	for _, l := range inv.get("lines").([]any) {
		m := l.(map[string]any)
		out += fmt.Sprintf("%s %s = %s + %s; ", m["item_id"], m["net_amount"], m["total_amount_excluding_tax"], m["tax_amount"])
	}
	return out
}

// TestInvoices_ByAdjustment, through the native API on each store: the
// credit notes of a void or chargeback are found by its id
// (adjustment_id), with the order's id too or not; another merchant's
// key, an unknown id or another order find none (the parts of a
// chargeback applied in parts: conformance Invoice/AdjustmentNotes). Before, adjustment_id was an unknown query
// parameter (400) and an integration could not find the note of the void
// it made but by reading every invoice of the order.
func TestInvoices_ByAdjustment(t *testing.T) {
	for _, st := range noteStores {
		t.Run(st.name, func(t *testing.T) {
			s := mustStart(t, st.opts(t)...)
			orderID, otherID := s.mustOrder(invoicedOrder("ORD-ADJ-F1")), s.mustOrder(invoicedOrder("ORD-ADJ-F2"))
			adjust := func(order, kind string, amount int64) string {
				t.Helper()
				r := s.do("POST", "/v1/orders/"+order+"/"+kind, s.key, map[string]any{"amount": amount, "reason": kind})
				if r.status != http.StatusCreated {
					t.Fatalf("%s: %d %s", kind, r.status, r.raw)
				}
				return r.str("id")
			}
			void := adjust(orderID, "voids", 1033)
			cb := adjust(orderID, "chargebacks", 500)
			elsewhere := adjust(otherID, "voids", 700)
			notesOf := func(query string) []string {
				t.Helper()
				r := s.do("GET", "/v1/invoices?"+query, s.key, nil)
				if r.status != http.StatusOK {
					t.Fatalf("%s: %d %s", query, r.status, r.raw)
				}
				var out []string
				for _, d := range r.get("data").([]any) {
					n := reply{status: 200, body: d.(map[string]any)}
					out = append(out, n.str("adjustment_id")+" "+n.str("total_amount"))
				}
				return out
			}
			for _, tc := range []struct {
				name, query string
				want        []string
			}{
				{"Void", "adjustment_id=" + void, []string{void + " 1033"}},
				{"Chargeback", "adjustment_id=" + cb, []string{cb + " 500"}},
				{"WithItsOrder", "type=refund&order_id=" + orderID + "&adjustment_id=" + void, []string{void + " 1033"}},
				{"AnotherOrder", "order_id=" + otherID + "&adjustment_id=" + void, nil},
				{"AnotherOrdersVoid", "adjustment_id=" + elsewhere, []string{elsewhere + " 700"}},
				{"Unknown", "adjustment_id=void_missing", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if got := notesOf(tc.query); fmt.Sprint(got) != fmt.Sprint(tc.want) {
						t.Fatalf("%s lists %v, want %v", tc.query, got, tc.want)
					}
				})
			}
			if r := s.do("GET", "/v1/invoices?adjustment_id="+void, s.newMerchant("Other"), nil); r.status != http.StatusOK ||
				len(r.get("data").([]any)) != 0 {
				t.Fatalf("another merchant's key: %d %s", r.status, r.raw)
			}
		})
	}
}
