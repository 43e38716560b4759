package server_test

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestInvoiceConfig_Native: the native API reads and changes the
// merchant's invoice configuration, the seller's CRN and address
// included; a CRN or address ZATCA would refuse is a 400 naming the field
// that changes nothing; once set, the next documents' XML carries them.
// The Techrar dialect's configuration reply keeps its keys (the seed shows
// no address), and its route does not take the new fields.
func TestInvoiceConfig_Native(t *testing.T) {
	s := mustStart(t)
	app := strconv.FormatInt(s.mer.AppID, 10)
	techrarKeys := func() []string {
		r := s.do("GET", "/order/v1/merchant/invoices/config/", s.key, nil, "app-id", app)
		if r.status != 200 {
			t.Fatalf("Techrar config: %d %s", r.status, r.raw)
		}
		return slices.Sorted(maps.Keys(r.body))
	}
	seedKeys := techrarKeys()
	if r := s.do("GET", "/v1/invoice_config", s.key, nil); r.status != 200 || r.str("object") != "invoice_config" ||
		r.str("serial_prefix") != "INV-" || r.str("seller_crn") != "" || r.get("zatca_enabled") != true {
		t.Fatalf("GET /v1/invoice_config: %d %s", r.status, r.raw)
	}
	full := map[string]any{"seller_crn": "1010010000", "seller_street": "King Fahd Road", "seller_building_number": "2322",
		"seller_district": "Al Olaya", "seller_city": "Riyadh", "seller_postal_code": "12214", "vat_number": "310122393500003"}
	with := func(k string, v any) map[string]any {
		m := maps.Clone(full)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	before := s.do("GET", "/v1/invoice_config", s.key, nil).raw
	for _, tc := range []struct {
		name, param string
		body        any
	}{
		{"CRNNotTenDigits", "seller_crn", with("seller_crn", "101001")},
		{"BuildingNotFourDigits", "seller_building_number", with("seller_building_number", "23")},
		{"PostalCodeNotFiveDigits", "seller_postal_code", with("seller_postal_code", "ABCDE")},
		{"PartOfAnAddress", "seller_city", with("seller_city", nil)},
		{"NotAString", "seller_street", with("seller_street", 12)},
		{"UnknownField", "", with("seller_country", "SA")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("PUT", "/v1/invoice_config", s.key, tc.body)
			if r.status != http.StatusBadRequest || r.str("error", "code") != "invalid_request" ||
				(tc.param != "" && r.str("error", "param") != tc.param) {
				t.Fatalf("PUT /v1/invoice_config: %d %s, want 400 invalid_request on %q", r.status, r.raw, tc.param)
			}
			if after := s.do("GET", "/v1/invoice_config", s.key, nil).raw; after != before {
				t.Fatalf("a refused change changed the configuration: %s, was %s", after, before)
			}
		})
	}
	// Through Techrar's route, the new fields are refused as any unknown.
	if r := s.do("POST", "/order/v1/merchant/invoices/config/", s.key, map[string]any{"seller_crn": "1010010000"}, "app-id", app); r.status != http.StatusBadRequest {
		t.Fatalf("Techrar config with seller_crn: %d %s", r.status, r.raw)
	}
	r := s.do("PUT", "/v1/invoice_config", s.key, full)
	if r.status != 200 || r.str("seller_crn") != "1010010000" || r.str("seller_building_number") != "2322" ||
		r.str("seller_city") != "Riyadh" || r.str("vat_number") != "310122393500003" || r.str("updated_at") == "" {
		t.Fatalf("PUT /v1/invoice_config: %d %s", r.status, r.raw)
	}
	if got := techrarKeys(); !slices.Equal(got, seedKeys) {
		t.Fatalf("Techrar's configuration reply has keys %v, had %v", got, seedKeys)
	}
	orderID := s.mustOrder(invoicedOrder("ORD-ADDR-1"))
	tax := s.invoiceOf("order_id=" + orderID + "&type=invoice")
	x := s.do("GET", "/v1/invoices/"+tax.str("id")+"/xml", s.key, nil)
	for _, want := range []string{`<cbc:ID schemeID="CRN">1010010000</cbc:ID>`, "<cbc:StreetName>King Fahd Road</cbc:StreetName>",
		"<cbc:BuildingNumber>2322</cbc:BuildingNumber>", "<cbc:CitySubdivisionName>Al Olaya</cbc:CitySubdivisionName>",
		"<cbc:CityName>Riyadh</cbc:CityName>", "<cbc:PostalZone>12214</cbc:PostalZone>", "<cbc:IdentificationCode>SA</cbc:IdentificationCode>"} {
		if x.status != 200 || !strings.Contains(x.raw, want) {
			t.Fatalf("tax invoice XML lacks %s: %d\n%s", want, x.status, x.raw)
		}
	}
	if tax.str("zatca_status") != "reported" {
		t.Fatalf("tax invoice with the seller's address: zatca_status %s (%s)", tax.str("zatca_status"), tax.str("invoice_error"))
	}
}
