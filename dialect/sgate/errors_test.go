package sgate

import (
	"encoding/json"
	"testing"

	"github.com/refundd/refundd/internal/errcodes"
	"github.com/refundd/refundd/refund"
)

// TestFail_EveryCode: every code of package refund gets this surface's
// reply, in its error shape ({"code","message"}), not the 500 "internal
// error" of a code its table lacks, except those listed here as never met
// on this surface, each with why. A code added to the core fails here
// until it is given a reply or listed.
func TestFail_EveryCode(t *testing.T) {
	unmet := errcodes.DialectUnmet(map[string]string{
		refund.EInvoiceNotFound:         "no route here reads invoices",
		refund.EMerchantNotFound:        "no call here looks a merchant up but Authenticate, which answers unauthorized for a key without one",
		refund.ERefundInProgressOnOrder: "only a refund sent with AwaitInFlight (the gateway's) waits for the order's refunds in flight",
		refund.EUnsupportedCurrency:     "no call of the core returns it (the console and the CLI do, parsing a typed amount): an order's currency is checked when the order is made",
	})
	errcodes.Check(t, New(nil, nil).fail, unmet, func(status int, body string) bool {
		var b map[string]any
		return json.Unmarshal([]byte(body), &b) == nil && b["code"] != nil && b["message"] != nil
	})
}
