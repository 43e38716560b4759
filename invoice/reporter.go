package invoice

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"regexp"

	"github.com/refundd/refundd/refund"
)

// Reporter reports a document to ZATCA. It is called inside the store
// transaction that makes the invoice final, which may run more than once:
// an implementation must be quick and repeatable (the sandbox answers
// in-process; a connector to ZATCA itself would queue the document and
// answer not_submitted). An error means the document could not be handed
// over; the invoice stays not_submitted.
type Reporter interface {
	Report(ctx context.Context, doc Document) (Result, error)
}

// Result is the authority's answer.
type Result struct {
	Status  refund.ZATCAStatus // reported or rejected
	Message string             // why it was rejected
}

// Sandbox is an in-process reporter that checks what ZATCA checks first
// and accepts the rest:
//
//   - the seller's VAT number is 15 digits starting and ending with 3
//     (BR-KSA-39); a merchant without one is rejected;
//   - the XML is well-formed;
//   - the totals add up (excluding tax + VAT = total).
type Sandbox struct{}

var vatRE = regexp.MustCompile(`^3[0-9]{13}3$`)

// Report checks doc and answers reported or rejected.
func (Sandbox) Report(ctx context.Context, doc Document) (Result, error) {
	inv := doc.Invoice
	if !vatRE.MatchString(inv.Seller.VATNumber) {
		return Result{Status: refund.ZATCARejected,
			Message: "BR-KSA-39: the seller's VAT registration number must be 15 digits starting and ending with 3"}, nil
	}
	if err := wellFormed(doc.XML); err != nil {
		return Result{Status: refund.ZATCARejected, Message: "the invoice XML is not well-formed: " + err.Error()}, nil
	}
	if inv.TotalExcludingTax+inv.TaxAmount != inv.TotalAmount {
		return Result{Status: refund.ZATCARejected, Message: "BR-CO-15: the total with VAT is not the total without VAT plus the VAT"}, nil
	}
	return Result{Status: refund.ZATCAReported}, nil
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
