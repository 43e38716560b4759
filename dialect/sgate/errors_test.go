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
	unmet := map[string]string{
		refund.EDiscrepancyNotFound:       "no route here reads discrepancies",
		refund.EDiscrepancyResolved:       "no route here resolves discrepancies",
		refund.EEventNotFound:             "no route here reads events",
		refund.EInvoiceNotFound:           "no route here reads invoices",
		refund.EKeyNotFound:               "a store's answer to a key lookup: Authenticate and ActForMerchant answer unauthorized instead",
		refund.EMerchantNotFound:          "no call here looks a merchant up but Authenticate, which answers unauthorized for a key without one",
		refund.ENotFound:                  "the stores' not-found of rows without a code of their own, which the use cases turn into theirs: one escaping a handler is a bug, answered internal (as api.ECodeRouteNotFound says)",
		refund.EOrderReferenceExists:      "only creating an order returns it, and no route here creates one",
		refund.EPartnerNotFound:           "a store's answer to a partner lookup: Authenticate and ActForMerchant answer unauthorized instead",
		refund.EProcessorAccountRemoved:   "only a status sync returns it, and no route here syncs a refund",
		refund.EReconciliationAnswerLost:  "only a reconciliation returns it, and no route here reconciles a report",
		refund.ERefundInProgressOnOrder:   "only a refund sent with AwaitInFlight (the gateway's) waits for the order's refunds in flight",
		refund.ERefundNotAwaitingApproval: "no route here approves or rejects a refund",
		refund.ERefundNotCancelable:       "no route here cancels a refund",
		refund.ERefundNotReviewable:       "no route here resolves a refund",
		refund.EUnsupportedCurrency:       "no call of the core returns it (the console and the CLI do, parsing a typed amount): an order's currency is checked when the order is made",
		refund.EWebhookEndpointNotFound:   "no route here reads webhook endpoints",
	}
	errcodes.Check(t, New(nil, nil).fail, unmet, func(status int, body string) bool {
		var b map[string]any
		return json.Unmarshal([]byte(body), &b) == nil && b["code"] != nil && b["message"] != nil
	})
}
