package console

import (
	"net/http"
	"testing"

	"github.com/refundd/refundd/internal/errcodes"
	"github.com/refundd/refundd/refund"
)

// TestReplies_EveryCode: every code of package refund has the console's
// reply, not the "something went wrong" of a code its table lacks, except
// those listed here as never met in the console, each with why. A code
// added to the core fails here until it is given a reply or listed.
func TestReplies_EveryCode(t *testing.T) {
	unmet := map[string]string{
		refund.EPartnerNotFound:          "a store's answer to a partner lookup: the console signs users in, and no page looks a partner up",
		refund.EKeyNotFound:              "a store's answer to a key lookup: Authenticate answers unauthorized instead",
		refund.EOrderReferenceExists:     "only creating an order returns it, and no console page creates one",
		refund.EEventNotFound:            "no console page reads an event by its id",
		refund.EProcessorAccountRemoved:  "only a status sync returns it, and no console page syncs a refund",
		refund.EReconciliationAnswerLost: "only a reconciliation returns it, and no console page reconciles a report",
	}
	codes := errcodes.Codes(t)
	for code, why := range unmet {
		if _, ok := replies[code]; ok {
			t.Errorf("%s has a reply, but the test lists it as never met (%s): take it off that list", code, why)
		}
	}
	for _, code := range codes {
		rep, ok := replies[code]
		_, isUnmet := unmet[code]
		switch {
		case !ok && !isUnmet:
			t.Errorf("%s has no reply: the console answers it as an internal error; give it one, or list it as never met, with why", code)
		case ok && code != refund.EInternal && rep.status == http.StatusInternalServerError:
			t.Errorf("%s answers 500", code)
		}
	}
}
