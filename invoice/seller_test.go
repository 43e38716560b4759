package invoice_test

import (
	"strings"
	"testing"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// TestXML_SellerAddressAndCRN: a seller with a commercial registration
// number and an address configured states both in every new document's
// AccountingSupplierParty, as ZATCA wants them (BR-KSA-08: another seller
// ID with its scheme, CRN; BR-KSA-09: street, building number, district,
// city, postal code and country), in UBL's order (PartyIdentification,
// PostalAddress, then the tax scheme and legal entity); a seller without
// them states neither, as before.
func TestXML_SellerAddressAndCRN(t *testing.T) {
	full := seller
	full.CRN = "1010010000"
	full.Address = refund.Address{Street: "King Fahd Road", BuildingNumber: "2322", District: "Al Olaya", City: "Riyadh", PostalCode: "12214"}
	const party = `<cac:AccountingSupplierParty>
    <cac:Party>
      <cac:PartyIdentification>
        <cbc:ID schemeID="CRN">1010010000</cbc:ID>
      </cac:PartyIdentification>
      <cac:PostalAddress>
        <cbc:StreetName>King Fahd Road</cbc:StreetName>
        <cbc:BuildingNumber>2322</cbc:BuildingNumber>
        <cbc:CitySubdivisionName>Al Olaya</cbc:CitySubdivisionName>
        <cbc:CityName>Riyadh</cbc:CityName>
        <cbc:PostalZone>12214</cbc:PostalZone>
        <cac:Country>
          <cbc:IdentificationCode>SA</cbc:IdentificationCode>
        </cac:Country>
      </cac:PostalAddress>
      <cac:PartyTaxScheme>
        <cbc:CompanyID>310122393500003</cbc:CompanyID>`
	is := invoice.New(nil)
	parent := sale(t, order("SAR", 2066, line("a", 2, 1033, "15", true)))
	cn := credit(t, parent, "one", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
	dn, err := is.Debit(cn, seller)
	if err != nil {
		t.Fatal(err)
	}
	dn.ID, dn.Type, dn.Serial = 3, refund.InvoiceDebit, "INV-202600003"
	for _, inv := range []*refund.Invoice{parent, cn, dn} {
		t.Run(string(inv.Type), func(t *testing.T) {
			with := *inv
			with.Seller = full
			with.ICV, with.PreviousHash = 1, refund.InitialInvoiceHash
			if err := is.Seal(&with); err != nil {
				t.Fatal(err)
			}
			b, err := invoice.XML(&with)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), party) {
				t.Fatalf("the seller's CRN and address are not in the supplier party:\n%s", b)
			}
			if h := mustHash(t, b); h != with.Hash {
				t.Fatalf("hash of the served XML %s, sealed %s", h, with.Hash)
			}
			b, err = invoice.XML(inv)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "PartyIdentification") || strings.Contains(string(b), "PostalAddress") {
				t.Fatalf("a seller with no CRN or address configured states one:\n%s", b)
			}
		})
	}
}
