package invoice

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// QR tags of a ZATCA simplified invoice (phase 1).
const (
	TagSeller    = 1 // seller's name
	TagVATNumber = 2 // seller's VAT registration number
	TagTimestamp = 3 // issue date and time, ISO 8601: the XML's IssueDate and IssueTime (KSA-25)
	TagTotal     = 4 // invoice total with VAT (BT-112: net + VAT, before any rounding)
	TagVAT       = 5 // VAT total
	// Phase 2 (the document's seal; see Issuer.Seal):
	TagHash      = 6 // the document's hash, base64
	TagSignature = 7 // its ECDSA signature, base64
	TagPublicKey = 8 // the signing key's public half, DER bytes
)

// publicKey is the DER bytes of a sealed document's key, as a string.
func publicKey(inv *refund.Invoice) string {
	b, err := base64.StdEncoding.DecodeString(inv.PublicKey)
	if err != nil {
		return ""
	}
	return string(b)
}

// QR returns the invoice's QR code payload: base64 of the TLV records
// (tag byte, length byte, value) for tags 1 to 5, and 6 to 8 for a sealed
// document. (Tag 9, the ZATCA certificate's signature, needs a CSID.) A value longer
// than 255 bytes, which one length byte cannot say, is cut at a character
// boundary; only a seller's name can be that long.
func QR(inv *refund.Invoice) (string, error) {
	cur, err := money.LookupCurrency(inv.Currency)
	if err != nil {
		return "", fmt.Errorf("invoice %s: %w", inv.Serial, err)
	}
	var b []byte
	for _, f := range []struct {
		tag   byte
		value string
	}{
		{TagSeller, inv.Seller.Name},
		{TagVATNumber, inv.Seller.VATNumber},
		{TagTimestamp, issueDate(inv) + "T" + issueTime(inv)},
		{TagTotal, money.Format(inv.TotalExcludingTax+inv.TaxAmount, cur)},
		{TagVAT, money.Format(inv.TaxAmount, cur)},
		{TagHash, inv.Hash},
		{TagSignature, inv.Signature},
		{TagPublicKey, publicKey(inv)},
	} {
		if f.tag > TagVAT && f.value == "" {
			continue // a document issued before documents were sealed
		}
		v := f.value
		for len(v) > 255 {
			_, n := utf8.DecodeLastRuneInString(v)
			v = v[:len(v)-n]
		}
		b = append(b, f.tag, byte(len(v)))
		b = append(b, v...)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
