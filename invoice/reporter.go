package invoice

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// Reporter reports a document to ZATCA. refundd's queue calls it outside
// any transaction and retries on error (the document stays pending), so it
// may call out; only Sandbox, which answers in-process, is also called in
// the transaction that makes a document final. It must be idempotent by
// the document's UUID: the same document reported again answers as the
// first time.
type Reporter interface {
	Report(ctx context.Context, doc Document) (Result, error)
}

// Result is the authority's answer.
type Result struct {
	Status  refund.ZATCAStatus // reported or failed
	Message string             // why it failed
}

// Sandbox is an in-process reporter that checks what ZATCA checks first
// and accepts the rest:
//
//   - the seller's VAT number is 15 digits starting and ending with 3
//     (BR-KSA-39); a merchant without one is rejected;
//   - the XML is well-formed;
//   - the document is in SAR (BR-KSA-EN16931-02: the VAT accounting
//     currency, BT-6, must be SAR; a document in another currency must
//     also state its VAT total in SAR, BT-111, which needs an exchange rate
//     refundd does not have, so it states TaxCurrencyCode in the order's
//     currency and ZATCA refuses it), and, for a currency of 3 decimals
//     (KWD, BHD, OMR, JOD), its amounts have at most 2 (BR-DEC);
//   - each line's VAT, the shipping line's too, is its net x rate
//     (KSA-11), within the one minor unit a credit's cumulative split may
//     differ by;
//   - the payable amount is the total with VAT plus a rounding of at most
//     a unit or two per line (BR-CO-16).
type Sandbox struct{}

var vatRE = regexp.MustCompile(`^3[0-9]{13}3$`)

// Report checks doc and answers reported or rejected.
func (Sandbox) Report(ctx context.Context, doc Document) (Result, error) {
	inv := doc.Invoice
	if !vatRE.MatchString(inv.Seller.VATNumber) {
		return Result{Status: refund.ZATCAFailed,
			Message: "BR-KSA-39: the seller's VAT registration number must be 15 digits starting and ending with 3"}, nil
	}
	if err := wellFormed(doc.XML); err != nil {
		return Result{Status: refund.ZATCAFailed, Message: "the invoice XML is not well-formed: " + err.Error()}, nil
	}
	if msg := notSAR(inv.Currency); msg != "" {
		return Result{Status: refund.ZATCAFailed, Message: msg}, nil
	}
	for i, l := range inv.Lines {
		rate, err := money.ParseRate(l.TaxRate)
		if err != nil {
			return Result{Status: refund.ZATCAFailed, Message: fmt.Sprintf("line %d: VAT rate %q", i+1, l.TaxRate)}, nil
		}
		if d := money.Tax(l.TotalExcludingTax, rate) - l.TaxAmount; d < -1 || d > 1 {
			return Result{Status: refund.ZATCAFailed, Message: fmt.Sprintf("BR-KSA-50: line %d VAT is not its net x rate", i+1)}, nil
		}
	}
	if inv.ShippingAmount > 0 {
		// The XML's last line (render): ZATCA checks it like any other.
		excl, tax := inv.ShippingExcludingTax, inv.ShippingTaxAmount
		if legacyShipping(inv) {
			excl, tax = money.SplitInclusive(inv.ShippingAmount, standardRate())
		}
		if d := money.Tax(excl, standardRate()) - tax; d < -1 || d > 1 {
			return Result{Status: refund.ZATCAFailed, Message: fmt.Sprintf("BR-KSA-50: line %d (shipping) VAT is not its net x rate", len(inv.Lines)+1)}, nil
		}
	}
	if r := inv.TotalAmount - inv.TotalExcludingTax - inv.TaxAmount; r < -2*int64(len(inv.Lines)+1) || r > 2*int64(len(inv.Lines)+1) {
		return Result{Status: refund.ZATCAFailed, Message: "BR-CO-16: the amount due is not the total with VAT plus a rounding"}, nil
	}
	return Result{Status: refund.ZATCAReported}, nil
}

// notSAR says why ZATCA refuses a document in currency code, or "" when
// code is SAR. The document states code as both its currency (BT-5) and
// its VAT accounting currency (BT-6), with code's own decimals.
func notSAR(code string) string {
	if code == "SAR" {
		return ""
	}
	msg := fmt.Sprintf("BR-KSA-EN16931-02: the VAT accounting currency code (BT-6) must be SAR, not %s "+
		"(a document in another currency must also state its VAT total in SAR, which needs an exchange rate refundd does not have)", code)
	if cur, err := money.LookupCurrency(code); err == nil && cur.Digits > 2 {
		msg += fmt.Sprintf("; BR-DEC: amounts may have at most 2 decimals, %s has %d", code, cur.Digits)
	}
	return msg
}

func wellFormed(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
