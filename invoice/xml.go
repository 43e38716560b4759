package invoice

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// UBL 2.1 namespaces, as ZATCA's simplified invoices use them.
const (
	nsInvoice = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
	nsCAC     = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
	nsCBC     = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
)

// Invoice type codes (UNTDID 1001) and the ZATCA transaction code of a
// simplified (B2C) invoice.
const (
	TypeCodeTaxInvoice = "388"
	TypeCodeCreditNote = "381"
	TypeCodeDebitNote  = "383"
	simplified         = "0200000"
)

// Document is an invoice ready to report: its UBL XML and QR payload.
type Document struct {
	Invoice *refund.Invoice
	UUID    string
	XML     []byte
	QR      string
}

// NewDocument renders inv.
func NewDocument(inv *refund.Invoice) (Document, error) {
	qr, err := QR(inv)
	if err != nil {
		return Document{}, err
	}
	b, err := render(inv, qr)
	if err != nil {
		return Document{}, err
	}
	return Document{Invoice: inv, UUID: UUID(inv), XML: b, QR: qr}, nil
}

// XML returns the UBL 2.1 document of inv, with its QR payload embedded
// as ZATCA asks.

// HashXML recomputes a served document's hash: SHA-256 of the XML without
// its QR reference (the cac:AdditionalDocumentReference whose ID is QR),
// base64. For a document refundd sealed it is its Hash.
func HashXML(b []byte) (string, error) {
	loc := qrRefRE.FindIndex(b)
	if loc == nil {
		return "", errors.New("invoice: the document has no QR reference")
	}
	stripped := append(append([]byte(nil), b[:loc[0]]...), b[loc[1]:]...)
	sum := sha256.Sum256(stripped)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// qrRefRE is the QR reference's lines, as render indents them.
var qrRefRE = regexp.MustCompile(`\n\s*<cac:AdditionalDocumentReference>\s*<cbc:ID>QR</cbc:ID>[\s\S]*?</cac:AdditionalDocumentReference>`)

func XML(inv *refund.Invoice) ([]byte, error) {
	d, err := NewDocument(inv)
	return d.XML, err
}

// UUID is the invoice's ZATCA UUID: a name-based (version 5) UUID of the
// merchant and the serial, so the same invoice always has the same one and
// no two invoices share it.
func UUID(inv *refund.Invoice) string {
	// RFC 4122 namespace "URL", with the name "refundd:<merchant>/<serial>".
	ns, _ := hex.DecodeString("6ba7b8119dad11d180b400c04fd430c8")
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte("refundd:" + inv.MerchantID + "/" + inv.Serial))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u)
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// The elements below are written with their prefixes (cbc:, cac:) and the
// root declares them; encoding/xml keeps such names as they are.

type ublInvoice struct {
	XMLName          xml.Name         `xml:"Invoice"`
	Xmlns            string           `xml:"xmlns,attr"`
	CAC              string           `xml:"xmlns:cac,attr"`
	CBC              string           `xml:"xmlns:cbc,attr"`
	ProfileID        string           `xml:"cbc:ProfileID"`
	ID               string           `xml:"cbc:ID"`
	UUID             string           `xml:"cbc:UUID"`
	IssueDate        string           `xml:"cbc:IssueDate"`
	IssueTime        string           `xml:"cbc:IssueTime"`
	TypeCode         typeCode         `xml:"cbc:InvoiceTypeCode"`
	Note             string           `xml:"cbc:Note,omitempty"`
	Currency         string           `xml:"cbc:DocumentCurrencyCode"`
	TaxCurrency      string           `xml:"cbc:TaxCurrencyCode"`
	BillingReference *billingRef      `xml:"cac:BillingReference,omitempty"`
	Additional       []additionalRef  `xml:"cac:AdditionalDocumentReference"`
	Supplier         supplier         `xml:"cac:AccountingSupplierParty"`
	Customer         customer         `xml:"cac:AccountingCustomerParty"`
	PaymentMeans     paymentMeans     `xml:"cac:PaymentMeans"`
	TaxTotals        []taxTotal       `xml:"cac:TaxTotal"`
	Totals           monetaryTotal    `xml:"cac:LegalMonetaryTotal"`
	Lines            []ublInvoiceLine `xml:"cac:InvoiceLine"`
}

type typeCode struct {
	Name  string `xml:"name,attr"`
	Value string `xml:",chardata"`
}

type billingRef struct {
	ID string `xml:"cac:InvoiceDocumentReference>cbc:ID"`
}

type additionalRef struct {
	ID         string      `xml:"cbc:ID"`
	UUID       string      `xml:"cbc:UUID,omitempty"`
	Attachment *attachment `xml:"cac:Attachment,omitempty"`
}

type attachment struct {
	Object binaryObject `xml:"cbc:EmbeddedDocumentBinaryObject"`
}

type binaryObject struct {
	MimeCode string `xml:"mimeCode,attr"`
	Value    string `xml:",chardata"`
}

type supplier struct {
	Party supplierParty `xml:"cac:Party"`
}

// supplierParty is the seller (BG-4). Its identification and address are
// left out when the seller has none configured, so a document issued
// before they were kept renders as it was sealed.
type supplierParty struct {
	Identification *partyID       `xml:"cac:PartyIdentification,omitempty"`
	Address        *postalAddress `xml:"cac:PostalAddress,omitempty"`
	CompanyID      string         `xml:"cac:PartyTaxScheme>cbc:CompanyID"`
	TaxScheme      string         `xml:"cac:PartyTaxScheme>cac:TaxScheme>cbc:ID"`
	LegalEntity    string         `xml:"cac:PartyLegalEntity>cbc:RegistrationName"`
}

// partyID is the seller's other ID (BT-29) and its scheme (CRN: the
// commercial registration number, BR-KSA-08).
type partyID struct {
	ID idWithScheme `xml:"cbc:ID"`
}

type idWithScheme struct {
	Scheme string `xml:"schemeID,attr"`
	Value  string `xml:",chardata"`
}

// postalAddress is the seller's address (BG-5), in UBL's element order.
type postalAddress struct {
	Street     string `xml:"cbc:StreetName"`
	Building   string `xml:"cbc:BuildingNumber"`
	District   string `xml:"cbc:CitySubdivisionName"`
	City       string `xml:"cbc:CityName"`
	PostalZone string `xml:"cbc:PostalZone"`
	Country    string `xml:"cac:Country>cbc:IdentificationCode"`
}

// supplierOf is the supplier party of a document issued by s.
func supplierOf(s refund.Seller) supplier {
	p := supplierParty{CompanyID: s.VATNumber, TaxScheme: "VAT", LegalEntity: s.Name}
	if s.CRN != "" {
		p.Identification = &partyID{ID: idWithScheme{Scheme: "CRN", Value: s.CRN}}
	}
	if a := s.Address; !a.IsZero() {
		p.Address = &postalAddress{Street: a.Street, Building: a.BuildingNumber, District: a.District, City: a.City,
			PostalZone: a.PostalCode, Country: "SA"}
	}
	return supplier{Party: p}
}

type customer struct {
	LegalEntity string `xml:"cac:Party>cac:PartyLegalEntity>cbc:RegistrationName"`
}

type paymentMeans struct {
	Code        string `xml:"cbc:PaymentMeansCode"`
	Instruction string `xml:"cbc:InstructionNote,omitempty"`
}

type amount struct {
	Currency string `xml:"currencyID,attr"`
	Value    string `xml:",chardata"`
}

type taxTotal struct {
	TaxAmount amount        `xml:"cbc:TaxAmount"`
	Subtotals []taxSubtotal `xml:"cac:TaxSubtotal"`
}

type taxSubtotal struct {
	Taxable   amount      `xml:"cbc:TaxableAmount"`
	TaxAmount amount      `xml:"cbc:TaxAmount"`
	Category  taxCategory `xml:"cac:TaxCategory"`
}

type taxCategory struct {
	ID        string `xml:"cbc:ID"`
	Percent   string `xml:"cbc:Percent"`
	Exemption string `xml:"cbc:TaxExemptionReasonCode,omitempty"`
	Reason    string `xml:"cbc:TaxExemptionReason,omitempty"`
	TaxScheme string `xml:"cac:TaxScheme>cbc:ID"`
}

type monetaryTotal struct {
	LineExtension amount  `xml:"cbc:LineExtensionAmount"`
	TaxExclusive  amount  `xml:"cbc:TaxExclusiveAmount"`
	TaxInclusive  amount  `xml:"cbc:TaxInclusiveAmount"`
	Allowance     amount  `xml:"cbc:AllowanceTotalAmount"`
	Rounding      *amount `xml:"cbc:PayableRoundingAmount,omitempty"`
	Payable       amount  `xml:"cbc:PayableAmount"`
}

type ublInvoiceLine struct {
	ID            string      `xml:"cbc:ID"`
	Quantity      quantity    `xml:"cbc:InvoicedQuantity"`
	LineExtension amount      `xml:"cbc:LineExtensionAmount"`
	TaxAmount     amount      `xml:"cac:TaxTotal>cbc:TaxAmount"`
	Rounding      amount      `xml:"cac:TaxTotal>cbc:RoundingAmount"`
	Name          string      `xml:"cac:Item>cbc:Name"`
	SellersID     *sellersID  `xml:"cac:Item>cac:SellersItemIdentification,omitempty"`
	Category      taxCategory `xml:"cac:Item>cac:ClassifiedTaxCategory"`
	Price         price       `xml:"cac:Price"`
}

// price is a line's net unit price; with BaseQuantity it is the price of
// that many units (BT-149), so quantity x price = net stays exact when the
// net does not divide by the quantity.
type price struct {
	Amount       amount    `xml:"cbc:PriceAmount"`
	BaseQuantity *quantity `xml:"cbc:BaseQuantity,omitempty"`
}

// sellersID is the seller's own item id (the SKU), when there is one.
type sellersID struct {
	ID string `xml:"cbc:ID"`
}

type quantity struct {
	UnitCode string `xml:"unitCode,attr"`
	Value    string `xml:",chardata"`
}

// category is the VAT category of a line: S standard, Z zero-rated,
// O outside the scope of VAT (an untaxed line), E exempt (an untaxed line
// whose order line gave an exempt code: VATEX-SA-29, -29-7 or -30), with
// the line's exemption reason code (BT-121) and the text ZATCA's code list gives it (BT-120,
// BR-KSA-83). A line issued before its code was kept (code "") renders as
// it was sealed: the code alone, VATEX-SA-32 or VATEX-SA-OOS. An untaxed
// line's rate is 0.00: ZATCA's BR-KSA-11 takes the rate of an O line if it
// is there and wants it 0 (in place of EN 16931's BR-O-05, which forbids
// it), and BR-48 wants a rate in each VAT breakdown.
func category(taxable bool, rate money.Rate, code string) taxCategory {
	c := taxCategory{ID: "S", Percent: percent(rate), TaxScheme: "VAT"}
	switch {
	case !taxable:
		c.ID, c.Exemption = "O", "VATEX-SA-OOS"
	case rate == 0:
		c.ID, c.Exemption = "Z", "VATEX-SA-32"
	}
	if code != "" && c.ID != "S" {
		c.Exemption, c.Reason = code, refund.ExemptionText(code)
		if cat, _ := refund.ExemptionCategory(code); cat == "E" {
			c.ID = "E" // an untaxed line the order says is exempt
		}
	}
	return c
}

// exemptionCode is the exemption reason code a line gets when its order
// line says nothing of why it is not taxed at a rate (no
// tax_exemption_code: every order recorded before it was taken, and every
// order made without it).
//
//   - Untaxed (O): VATEX-SA-OOS, the one code ZATCA has for a supply
//     outside the scope of VAT, whatever the reason.
//   - Zero-rated (Z): ZATCA's list has no code for a zero-rated supply in
//     general, only one per reason (exports, international transport,
//     medicines, qualifying metals, private education and healthcare to
//     citizens, military goods), and the validator refuses a Z breakdown
//     without one of them (BR-KSA-69, BR-KSA-CL-04). refundd keeps the code
//     it has always stated, VATEX-SA-32 (export of goods): documents
//     already issued state it, and a merchant selling goods, not
//     services, from the Kingdom at 0 % is most often exporting them. A
//     merchant whose zero-rated lines are zero-rated for another reason
//     says so with the line's code (itemExemption).
func exemptionCode(taxable bool, rate money.Rate) string {
	switch {
	case !taxable:
		return "VATEX-SA-OOS"
	case rate == 0:
		return "VATEX-SA-32"
	}
	return ""
}

// percent prints a rate with two decimals, as UBL wants: 15.00.
func percent(r money.Rate) string {
	return money.Format(int64(r), money.Currency{Code: "PCT", Digits: 2})
}

// paymentCode is the UNTDID 4461 code of a payment method: 10 cash,
// 48 bank card, 42 payment to a bank account (wallets and transfers).
func paymentCode(method string) string {
	switch method {
	case "cash", "cod":
		return "10"
	case "bank_transfer", "stcpay", "wallet":
		return "42"
	}
	return "48"
}

// unitPrice is the price of a line of qty units and net amount net: the
// unit price when net divides by qty, else net for qty units.
func unitPrice(net, qty int64, amt func(int64) amount) price {
	if qty <= 1 || net%qty == 0 {
		return price{Amount: amt(net / max(qty, 1))}
	}
	return price{Amount: amt(net), BaseQuantity: &quantity{UnitCode: "PCE", Value: strconv.FormatInt(qty, 10)}}
}

// issueDate and issueTime are when inv was issued, in Saudi time as ZATCA
// reads invoice dates, written once for the XML (IssueDate, IssueTime) and
// the QR (tag 3): ZATCA checks that the QR's time is the document's
// (invoiceTimeStamp_QRCODE_INVALID), so the QR carries the same wall-clock
// time, with no zone, as the XML does.
func issueDate(inv *refund.Invoice) string {
	return inv.IssuedAt.In(refund.InvoiceZone).Format("2006-01-02")
}
func issueTime(inv *refund.Invoice) string {
	return inv.IssuedAt.In(refund.InvoiceZone).Format("15:04:05")
}

// render builds the UBL document of inv.
func render(inv *refund.Invoice, qr string) ([]byte, error) {
	cur, err := money.LookupCurrency(inv.Currency)
	if err != nil {
		return nil, fmt.Errorf("invoice %s: %w", inv.Serial, err)
	}
	amt := func(minor int64) amount { return amount{Currency: cur.Code, Value: money.Format(minor, cur)} }
	icv := inv.ICV
	if icv == 0 {
		icv = inv.Number // issued before documents were chained
	}
	doc := ublInvoice{Xmlns: nsInvoice, CAC: nsCAC, CBC: nsCBC, ProfileID: "reporting:1.0", ID: inv.Serial, UUID: UUID(inv),
		IssueDate: issueDate(inv), IssueTime: issueTime(inv),
		TypeCode: typeCode{Name: simplified, Value: TypeCodeTaxInvoice}, Currency: cur.Code, TaxCurrency: cur.Code,
		Additional:   []additionalRef{{ID: "ICV", UUID: strconv.FormatInt(icv, 10)}}, // invoice counter value (KSA-16)
		Supplier:     supplierOf(inv.Seller),
		Customer:     customer{LegalEntity: inv.Customer.Name},
		PaymentMeans: paymentMeans{Code: paymentCode(inv.PaymentMethod)},
	}
	if inv.PreviousHash != "" {
		// The previous document's hash (PIH, KSA-13), as ZATCA chains them.
		doc.Additional = append(doc.Additional, additionalRef{ID: "PIH",
			Attachment: &attachment{Object: binaryObject{MimeCode: "text/plain", Value: inv.PreviousHash}}})
	}
	if qr != "" {
		// Last, so that the document without it (what Seal hashes) is the
		// served document with this element's lines taken out.
		doc.Additional = append(doc.Additional, additionalRef{ID: "QR",
			Attachment: &attachment{Object: binaryObject{MimeCode: "text/plain", Value: qr}}})
	}
	switch inv.Type {
	case refund.InvoiceRefund, refund.InvoiceDebit:
		// A credit or debit note names the tax invoice it corrects (BT-25,
		// BR-KSA-56) and why (KSA-10, BR-KSA-17). A note issued before
		// BillingSerial was kept names its parent, as it was sealed: a
		// credit note its tax invoice, a debit note its credit note.
		doc.TypeCode.Value = TypeCodeCreditNote
		if inv.Type == refund.InvoiceDebit {
			doc.TypeCode.Value = TypeCodeDebitNote
		}
		ref := inv.BillingSerial
		if ref == "" {
			ref = inv.ParentSerial
		}
		doc.BillingReference = &billingRef{ID: ref}
		doc.Note = inv.Reason
		doc.PaymentMeans.Instruction = inv.Reason
		if doc.Note == "" {
			doc.Note, doc.PaymentMeans.Instruction = "Refund", "Refund"
		}
	}

	// Per VAT category and rate: what was taxed and the tax.
	type key struct {
		cat, code string
		rate      money.Rate
	}
	var order []key
	subs := map[key]*taxSubtotal{}
	sums := map[key][2]int64{}
	addTax := func(c taxCategory, rate money.Rate, excl, tax int64) {
		k := key{c.ID, c.Exemption, rate}
		if _, ok := subs[k]; !ok {
			order = append(order, k)
			subs[k] = &taxSubtotal{Category: c}
		}
		s := sums[k]
		sums[k] = [2]int64{s[0] + excl, s[1] + tax}
	}
	var lineExt int64
	for i, l := range inv.Lines {
		rate, err := money.ParseRate(l.TaxRate)
		if err != nil {
			return nil, fmt.Errorf("invoice %s line %d: %w", inv.Serial, i+1, err)
		}
		c := category(l.Taxable, rate, l.ExemptionCode)
		qty := l.Qty
		if qty <= 0 {
			qty = 1 // a credit of part of a line's amount: one adjustment
		}
		name := l.NameEN
		if name == "" {
			name = l.NameAR
		}
		if name == "" {
			name = l.ItemID
		}
		ul := ublInvoiceLine{ID: strconv.Itoa(i + 1), Quantity: quantity{UnitCode: "PCE", Value: strconv.FormatInt(qty, 10)},
			LineExtension: amt(l.TotalExcludingTax), TaxAmount: amt(l.TaxAmount),
			Rounding: amt(l.TotalExcludingTax + l.TaxAmount), // KSA-12: net + VAT
			Name:     name, Category: c, Price: unitPrice(l.TotalExcludingTax, qty, amt)}
		if l.SKU != "" {
			ul.SellersID = &sellersID{ID: l.SKU}
		}
		doc.Lines = append(doc.Lines, ul)
		lineExt += l.TotalExcludingTax
		addTax(c, rate, l.TotalExcludingTax, l.TaxAmount)
	}
	if inv.ShippingAmount > 0 {
		rate := standardRate()
		excl, tax := inv.ShippingExcludingTax, inv.ShippingTaxAmount
		if legacyShipping(inv) {
			excl, tax = money.SplitInclusive(inv.ShippingAmount, rate) // issued before shipping was stored split
		}
		c := category(true, rate, "")
		doc.Lines = append(doc.Lines, ublInvoiceLine{ID: strconv.Itoa(len(doc.Lines) + 1), Quantity: quantity{UnitCode: "PCE", Value: "1"},
			LineExtension: amt(excl), TaxAmount: amt(tax), Rounding: amt(excl + tax), Name: "Shipping", Category: c,
			Price: unitPrice(excl, 1, amt)})
		lineExt += excl
		addTax(c, rate, excl, tax)
	}
	total := taxTotal{TaxAmount: amt(inv.TaxAmount)}
	for _, k := range order {
		s := subs[k]
		s.Taxable, s.TaxAmount = amt(sums[k][0]), amt(sums[k][1])
		total.Subtotals = append(total.Subtotals, *s)
	}
	// ZATCA wants the tax total twice: once alone, once with subtotals.
	doc.TaxTotals = []taxTotal{{TaxAmount: amt(inv.TaxAmount)}, total}
	// BR-CO-15/16: tax inclusive = exclusive + VAT; what was paid is that
	// plus the rounding the lines' VAT rule left.
	doc.Totals = monetaryTotal{LineExtension: amt(lineExt), TaxExclusive: amt(inv.TotalExcludingTax),
		TaxInclusive: amt(inv.TotalExcludingTax + inv.TaxAmount), Allowance: amt(inv.DiscountAmount), Payable: amt(inv.TotalAmount)}
	if r := inv.TotalAmount - inv.TotalExcludingTax - inv.TaxAmount; r != 0 {
		a := amt(r)
		doc.Totals.Rounding = &a
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("invoice %s: %w", inv.Serial, err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}
