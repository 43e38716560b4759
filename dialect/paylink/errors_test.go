package paylink

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/refundd/refundd/internal/errcodes"
	"github.com/refundd/refundd/refund"
)

// TestFail_EveryCode: every code of package refund gets this surface's
// reply, in its error shape ({"status","error","message","code"}), not
// the 500 "internal error" of a code its table lacks, except those listed
// here as never met on this surface, each with why. A code added to the
// core fails here until it is given a reply or listed.
func TestFail_EveryCode(t *testing.T) {
	unmet := errcodes.DialectUnmet(map[string]string{
		refund.EInvoiceNotFound: "no route here reads invoices",
		refund.ERefundNotFound:  "a refund is looked up only by its merchant reference, where none found makes a new refund",
	})
	errcodes.Check(t, New(nil, Config{Secret: []byte("errors test")}).fail, unmet, func(status int, body string) bool {
		var b map[string]any
		return json.Unmarshal([]byte(body), &b) == nil && b["code"] != nil && b["message"] != nil && b["error"] == http.StatusText(status)
	})
}
