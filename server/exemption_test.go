package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestOrders_TaxExemptionCode: an order line may say why it is not taxed
// (items[].tax_exemption_code); a code refundd does not know, one on a line
// taxed at a positive rate, or one of another category than the line's (Z
// for a line at 0 %, E or O for an untaxed one) is a 400 naming the field,
// and no order is recorded. A line's code is returned with the order and
// stated, with its text, by the tax invoice's and the credit note's lines;
// a zero-rated line without one keeps VATEX-SA-32.
func TestOrders_TaxExemptionCode(t *testing.T) {
	s := mustStart(t)
	withLine := func(ref string, it map[string]any) map[string]any {
		o := cardOrder("4444", 2033)
		o["reference"], o["currency"] = ref, "SAR"
		o["items"] = []any{map[string]any{"id": "a", "qty": 1, "unit_amount": 1033}, it}
		return o
	}
	for _, tc := range []struct {
		name string
		line map[string]any
	}{
		{"UnknownCode", map[string]any{"tax_rate": "0", "tax_exemption_code": "VATEX-SA-99"}},
		{"NotUpperCase", map[string]any{"tax_rate": "0", "tax_exemption_code": "vatex-sa-35"}},
		{"StandardRatedLine", map[string]any{"tax_exemption_code": "VATEX-SA-32"}},
		{"ReducedRateLine", map[string]any{"tax_rate": "5", "tax_exemption_code": "VATEX-SA-35"}},
		{"ExemptCodeOnAZeroRatedLine", map[string]any{"tax_rate": "0", "tax_exemption_code": "VATEX-SA-29"}},
		{"OutOfScopeCodeOnAZeroRatedLine", map[string]any{"tax_rate": "0", "tax_exemption_code": "VATEX-SA-OOS"}},
		{"ZeroRatedCodeOnAnUntaxedLine", map[string]any{"taxable": false, "tax_exemption_code": "VATEX-SA-35"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := map[string]any{"id": "b", "qty": 1, "unit_amount": 1000}
			for k, v := range tc.line {
				it[k] = v
			}
			ref := "ORD-VATEX-" + tc.name
			r := s.do("POST", "/v1/orders", s.key, withLine(ref, it))
			expectError(t, r, http.StatusBadRequest, "invalid_request")
			if p := r.str("error", "param"); p != "items[1].tax_exemption_code" {
				t.Fatalf("param %q, want items[1].tax_exemption_code: %s", p, r.raw)
			}
			if l := s.do("GET", "/v1/orders?reference="+ref, s.key, nil); l.status != 200 || len(l.get("data").([]any)) != 0 {
				t.Fatalf("a refused order was recorded: %d %s", l.status, l.raw)
			}
		})
	}

	o := cardOrder("4444", 5033)
	o["reference"] = "ORD-VATEX-OK"
	o["items"] = []any{
		map[string]any{"id": "a", "qty": 1, "unit_amount": 1033},
		map[string]any{"id": "med", "qty": 1, "unit_amount": 1000, "tax_rate": "0", "tax_exemption_code": "VATEX-SA-35"},
		map[string]any{"id": "home", "qty": 1, "unit_amount": 1000, "taxable": false, "tax_exemption_code": "VATEX-SA-30"},
		map[string]any{"id": "out", "qty": 1, "unit_amount": 1000, "taxable": false, "tax_exemption_code": "VATEX-SA-OOS"},
		map[string]any{"id": "box", "qty": 1, "unit_amount": 1000, "tax_rate": "0"},
	}
	id := s.mustOrder(o)
	codes := func(r reply) []any {
		var got []any
		items, _ := r.get("items").([]any)
		for _, it := range items {
			got = append(got, it.(map[string]any)["tax_exemption_code"])
		}
		return got
	}
	want := []any{nil, "VATEX-SA-35", "VATEX-SA-30", "VATEX-SA-OOS", nil}
	r := s.do("GET", "/v1/orders/"+id, s.key, nil)
	if got := codes(r); r.status != 200 || len(got) != len(want) || got[0] != want[0] || got[1] != want[1] ||
		got[2] != want[2] || got[3] != want[3] || got[4] != want[4] {
		t.Fatalf("GET /v1/orders/%s: items' tax_exemption_code %v, want %v: %s", id, got, want, r.raw)
	}
	rf := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": id, "items": []any{
		map[string]any{"item_id": "med", "qty": 1}, map[string]any{"item_id": "home", "qty": 1}, map[string]any{"item_id": "box", "qty": 1}}})
	if rf.status != http.StatusCreated || rf.str("status") != "succeeded" {
		t.Fatalf("refund: %d %s", rf.status, rf.raw)
	}
	for _, typ := range []string{"invoice", "refund"} {
		inv := s.invoiceOf("order_id=" + id + "&type=" + typ)
		x := s.do("GET", "/v1/invoices/"+inv.str("id")+"/xml", s.key, nil)
		for _, w := range []string{
			"<cbc:TaxExemptionReasonCode>VATEX-SA-35</cbc:TaxExemptionReasonCode>",
			"<cbc:TaxExemptionReason>Medicines and medical equipment</cbc:TaxExemptionReason>",
			"<cbc:ID>E</cbc:ID>",
			"<cbc:TaxExemptionReasonCode>VATEX-SA-30</cbc:TaxExemptionReasonCode>",
			"<cbc:TaxExemptionReason>Real estate transactions mentioned in Article 30 of the VAT Regulations</cbc:TaxExemptionReason>",
			"<cbc:TaxExemptionReasonCode>VATEX-SA-32</cbc:TaxExemptionReasonCode>",
		} {
			if x.status != 200 || !strings.Contains(x.raw, w) {
				t.Fatalf("%s's XML lacks %s: %d\n%s", typ, w, x.status, x.raw)
			}
		}
	}
}
