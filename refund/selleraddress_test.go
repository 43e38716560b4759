package refund_test

import (
	"context"
	"strings"
	"testing"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// sellerAddressInput sets a whole seller address and CRN.
func sellerAddressInput() refund.InvoiceConfigInput {
	s := func(v string) *string { return &v }
	return refund.InvoiceConfigInput{CRN: s("1010010000"), Street: s("King Fahd Road"), BuildingNumber: s("2322"),
		District: s("Al Olaya"), City: s("Riyadh"), PostalCode: s("12214")}
}

// TestInvoiceConfig_SellerAddress: a merchant's seller CRN and address
// are refused unless ZATCA would take them (a 10-digit CRN, BR-KSA-08; a
// 4-digit building number, BR-KSA-37; a 5-digit postal code; all of the
// address or none of it, BR-KSA-09), with the field named and nothing
// changed; once set, every new document carries them, and documents
// issued before keep what they were sealed with.
func TestInvoiceConfig_SellerAddress(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		s := func(v string) *string { return &v }
		bad := []struct {
			name, param string
			in          refund.InvoiceConfigInput
		}{
			{"CRNNotTenDigits", "seller_crn", refund.InvoiceConfigInput{CRN: s("10100100")}},
			{"CRNNotDigits", "seller_crn", refund.InvoiceConfigInput{CRN: s("101001000X")}},
			// The API's schema states the digits alone, as for vat_number.
			{"CRNWithSpaces", "seller_crn", refund.InvoiceConfigInput{CRN: s(" 1010010000 ")}},
			{"BuildingNotFourDigits", "seller_building_number", func() refund.InvoiceConfigInput {
				in := sellerAddressInput()
				in.BuildingNumber = s("232")
				return in
			}()},
			{"PostalCodeNotFiveDigits", "seller_postal_code", func() refund.InvoiceConfigInput {
				in := sellerAddressInput()
				in.PostalCode = s("1221")
				return in
			}()},
			{"PartOfAnAddress", "seller_district", func() refund.InvoiceConfigInput {
				in := sellerAddressInput()
				in.District = nil
				return in
			}()},
			{"StreetBlank", "seller_street", func() refund.InvoiceConfigInput {
				in := sellerAddressInput()
				in.Street = s("  ")
				return in
			}()},
			{"CityTooLong", "seller_city", func() refund.InvoiceConfigInput {
				in := sellerAddressInput()
				in.City = s(strings.Repeat("R", 201))
				return in
			}()},
		}
		svc, p := invoicing(t, open)
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				before, err := svc.GetInvoiceConfig(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				_, err = svc.UpdateInvoiceConfig(ctx, p, tc.in)
				if refund.ErrorCode(err) != refund.EInvalidRequest || refund.ErrorParam(err) != tc.param {
					t.Fatalf("err = %v (param %q), want invalid_request on %s", err, refund.ErrorParam(err), tc.param)
				}
				if after, err := svc.GetInvoiceConfig(ctx, p); err != nil || *after != *before {
					t.Fatalf("a refused change changed the configuration: %+v, was %+v (%v)", after, before, err)
				}
			})
		}

		// Before: a document with neither.
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 2066,
			Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := svc.UpdateInvoiceConfig(ctx, p, sellerAddressInput())
		want := refund.Address{Street: "King Fahd Road", BuildingNumber: "2322", District: "Al Olaya", City: "Riyadh", PostalCode: "12214"}
		if err != nil || c.CRN != "1010010000" || c.Address != want {
			t.Fatalf("config %+v, %v", c, err)
		}
		// A change of one field keeps the rest.
		if c, err = svc.UpdateInvoiceConfig(ctx, p, refund.InvoiceConfigInput{City: s(" Jeddah ")}); err != nil ||
			c.Address.City != "Jeddah" || c.Address.Street != want.Street || c.CRN != "1010010000" {
			t.Fatalf("config %+v, %v", c, err)
		}
		r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}})
		if err != nil || r.Status != refund.StatusSucceeded {
			t.Fatalf("refund %v, %v", r, err)
		}
		note := invoiceOfRefund(t, svc, p, r.ID)
		want.City = "Jeddah"
		if note.Seller.CRN != "1010010000" || note.Seller.Address != want || note.ZATCAStatus != refund.ZATCAReported {
			t.Fatalf("credit note's seller %+v, zatca %s", note.Seller, note.ZATCAStatus)
		}
		x, err := invoice.XML(note.Invoice)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := invoice.HashXML(x); err != nil || h != note.Hash ||
			!strings.Contains(string(x), `<cbc:ID schemeID="CRN">1010010000</cbc:ID>`) || !strings.Contains(string(x), "<cbc:CityName>Jeddah</cbc:CityName>") {
			t.Fatalf("credit note's XML (hash %s, sealed %s, %v):\n%s", h, note.Hash, err, x)
		}
		// The tax invoice was issued before: it keeps no address, and the
		// hash it was sealed with.
		tax := note.Parent
		x, err = invoice.XML(tax)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := invoice.HashXML(x); err != nil || h != tax.Hash || tax.Seller.CRN != "" || !tax.Seller.Address.IsZero() ||
			strings.Contains(string(x), "PostalAddress") {
			t.Fatalf("the tax invoice issued before changed: seller %+v, hash %s (sealed %s, %v)", tax.Seller, h, tax.Hash, err)
		}
		// Cleared, the next documents have none again.
		if c, err = svc.UpdateInvoiceConfig(ctx, p, refund.InvoiceConfigInput{CRN: s(""), Street: s(""), BuildingNumber: s(""),
			District: s(""), City: s(""), PostalCode: s("")}); err != nil || c.CRN != "" || !c.Address.IsZero() {
			t.Fatalf("cleared config %+v, %v", c, err)
		}
	})
}

// TestInvoiceConfig_AuditNamesTheChange: each change of the invoice
// configuration is in the audit trail with the configuration before and
// after it, so the trail says who changed the seller's VAT number, CRN or
// address on the documents, or turned ZATCA reporting off, and from what.
// Its entries said only "updated".
func TestInvoiceConfig_AuditNamesTheChange(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		s := func(v string) *string { return &v }
		off := false
		empty := `{"seller_building_number":"","seller_city":"","seller_crn":"","seller_district":"","seller_name":"","seller_postal_code":"","seller_street":"","serial_prefix":"INV-","vat_number":"","zatca_enabled":true}`
		withVAT := `{"seller_building_number":"","seller_city":"","seller_crn":"","seller_district":"","seller_name":"","seller_postal_code":"","seller_street":"","serial_prefix":"INV-","vat_number":"300000000000003","zatca_enabled":true}`
		for _, tc := range []struct {
			name          string
			in            refund.InvoiceConfigInput
			before, after string
		}{
			{"VATNumber", refund.InvoiceConfigInput{VATNumber: s("300000000000003")}, empty, withVAT},
			{"ReportingOffAndAddress", func() refund.InvoiceConfigInput {
				in := sellerAddressInput()
				in.ZATCAEnabled = &off
				return in
			}(), withVAT, `{"seller_building_number":"2322","seller_city":"Riyadh","seller_crn":"1010010000","seller_district":"Al Olaya","seller_name":"","seller_postal_code":"12214","seller_street":"King Fahd Road","serial_prefix":"INV-","vat_number":"300000000000003","zatca_enabled":false}`},
		} {
			if _, err := h.svc.UpdateInvoiceConfig(h.ctx, h.p, tc.in); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			page, err := h.svc.ListAudit(h.ctx, h.p, refund.AuditFilter{Action: "invoice_config.update", Limit: 1})
			if err != nil || len(page.Data) != 1 {
				t.Fatalf("%s: audit %v %v", tc.name, page.Data, err)
			}
			if e := page.Data[0]; e.Before != tc.before || e.After != tc.after || e.ObjectID != h.p.MerchantID {
				t.Errorf("%s: audited %s\n %q ->\n %q, want\n %q ->\n %q", tc.name, e.ObjectID, e.Before, e.After, tc.before, tc.after)
			}
		}
	})
}
