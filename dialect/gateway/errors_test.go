package gateway

import (
	"encoding/json"
	"testing"

	"github.com/refundd/refundd/internal/errcodes"
	"github.com/refundd/refundd/refund"
)

// TestFail_EveryCode: every code of package refund gets this surface's
// reply, in its error shape (the seed's {"message"}, with "errors" on a
// 422), not the 500 "internal error" of a code its table lacks, except
// those listed here as never met on this surface, each with why. A code
// added to the core fails here until it is given a reply or listed.
func TestFail_EveryCode(t *testing.T) {
	unmet := errcodes.DialectUnmet(map[string]string{
		refund.EInvoiceNotFound:     "no route here reads invoices",
		refund.EMerchantNotFound:    "the caller's own merchant, authenticated a moment before: merchants are never removed",
		refund.ERefundNotFound:      "a refund is looked up only by its merchant reference, where none found makes a new refund",
		refund.EUnsupportedCurrency: "no call of the core returns it (the console and the CLI do, parsing a typed amount): an order's currency is checked when the order is made",
	})
	errcodes.Check(t, New(nil, nil).fail, unmet, func(status int, body string) bool {
		var b map[string]any
		return json.Unmarshal([]byte(body), &b) == nil && b["message"] != nil && len(b) <= 2
	})
}
