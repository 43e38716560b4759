package api

import (
	"encoding/json"
	"testing"

	"github.com/refundd/refundd/internal/errcodes"
	"github.com/refundd/refundd/refund"
)

// TestFail_EveryCode: every code of package refund gets the native API's
// reply in the envelope, not the 500 "internal error" of a code its table
// lacks, except those listed here as never met on this surface, each with
// why. A code added to the core fails here until it is given a status
// (and openapi.json's x-error-codes, which TestOpenAPI_ErrorCodes holds
// to the table) or listed.
func TestFail_EveryCode(t *testing.T) {
	unmet := map[string]string{
		refund.EPartnerNotFound:         "a store's answer to a partner lookup, which only the CLI makes: Authenticate answers unauthorized instead",
		refund.EKeyNotFound:             "a store's answer to a key lookup: Authenticate answers unauthorized instead",
		refund.EUnsupportedCurrency:     "no call of the core returns it (the console and the CLI do, parsing a typed amount): an order's currency is refused as invalid_request",
		refund.ERefundInProgressOnOrder: "only a refund sent with AwaitInFlight (the gateway's) waits for the order's refunds in flight; the native API's do not",
	}
	errcodes.Check(t, New(nil, nil).fail, unmet, func(status int, body string) bool {
		var b envelope
		return json.Unmarshal([]byte(body), &b) == nil && b.Error.Code != "" && b.Error.Message != ""
	})
}
