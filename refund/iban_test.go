package refund_test

import (
	"testing"

	"github.com/refundd/refundd/refund"
)

// TestValidIBAN: ISO 13616 check digits are 98 - (n mod 97), so 02 to 98.
// 00, 01 and 99 pass the mod-97 check whenever 97, 98 and 02 do (they are
// the same residues) but no IBAN has them: a vendor IBAN with them is
// refused rather than stored for a payout a bank will reject.
func TestValidIBAN(t *testing.T) {
	tests := []struct {
		name, iban string
		want       bool
	}{
		{"OK", "SA0380000000608010167519", true},
		{"OKCheck02", "SA0280000000608010000018", true},
		{"OKCheck97", "SA9780000000608010000054", true},
		{"OKCheck98", "SA9880000000608010000036", true},
		{"OKKuwait", "KW81CBKU0000000000001234560101", true},
		{"ErrCheck99", "SA9980000000608010000018", false},
		{"ErrCheck00", "SA0080000000608010000054", false},
		{"ErrCheck01", "SA0180000000608010000036", false},
		{"ErrMod97", "SA0380000000608010167518", false},
		{"ErrLength", "SA038000000060801016751", false},
		{"ErrLowerCase", "sa0380000000608010167519", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := refund.ValidIBAN(tc.iban); got != tc.want {
				t.Fatalf("ValidIBAN(%q) = %v, want %v", tc.iban, got, tc.want)
			}
		})
	}
}

// An order whose vendor's IBAN has check digits no IBAN has is refused.
func TestCreateOrder_VendorIBANCheckDigits(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	_, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 1000, PaymentMethod: "card",
		Source:  refund.Card{Scheme: "visa", LastDigits: "4444"},
		Vendors: []refund.VendorInput{{ID: "v1", IBAN: "SA99 8000 0000 6080 1000 0018", Amount: 1000}}})
	if refund.ErrorCode(err) != refund.EInvalidRequest || refund.ErrorParam(err) != "vendors[0].iban" {
		t.Fatalf("CreateOrder with IBAN check digits 99: %v, want invalid_request on vendors[0].iban", err)
	}
}
