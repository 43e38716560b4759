package console_test

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// FuzzRefundForm posts arbitrary refund forms through the real server with
// a signed-in session: the console never answers 5xx, and a form it refuses
// changes nothing.
func FuzzRefundForm(f *testing.F) {
	e := mustStart(f, false)
	b := e.mustSignIn(e.key)
	token := b.get("/console/orders").csrf(f)
	refs := []string{"ORD-KWD-2001", "ORD-KWD-2002", "ORD-SAR-1001", "ORD-SAR-1051"}
	for _, s := range []struct {
		order                     uint8
		kind, amount, qty, vendor string
		reason                    string
	}{
		{0, "partial", "1.005", "", "", "damaged"},
		{0, "partial", "1.0005", "", "", ""},
		{1, "vendors", "", "", "1.25", "x"},
		{2, "items", "", "1", "", "stale"},
		{2, "items", "", "-1", "", ""},
		{3, "full", "", "", "", "declined card"},
		{0, "partial", "1e3", "", "", ""},
		{0, "nope", "\x00", "\xff", "9999999999999999999999", "\u202e"},
	} {
		f.Add(s.order, s.kind, s.amount, s.qty, s.vendor, s.reason)
	}
	n := 0
	f.Fuzz(func(t *testing.T, order uint8, kind, amount, qty, vendor, reason string) {
		e, b := e.with(t), b.with(t)
		n++
		ref := refs[int(order)%len(refs)]
		before, refunds := e.order(ref), len(e.refunds(ref))
		form := url.Values{"csrf": {token}, "kind": {kind}, "idempotency_key": {"fuzz-" + strconv.Itoa(n)},
			"amount": {amount}, "reason": {reason},
			"item_id": {"line-1", "line-2"}, "qty": {qty, ""},
			"vendor_id": {"vendor-a", "vendor-b"}, "vendor_amount": {vendor, ""}}
		p := b.post("/console/orders/"+e.orders[ref]+"/refunds", form)
		if p.status >= 500 {
			t.Fatalf("%d for kind %q amount %q qty %q vendor %q: %s", p.status, kind, amount, qty, vendor, p.text())
		}
		if p.status == http.StatusSeeOther {
			return
		}
		after := e.order(ref)
		if after.RefundedAmount != before.RefundedAmount || after.PendingRefundAmount != before.PendingRefundAmount ||
			len(e.refunds(ref)) != refunds {
			t.Fatalf("a refused form (%d) changed %s: refunded %d -> %d, pending %d -> %d", p.status, ref,
				before.RefundedAmount, after.RefundedAmount, before.PendingRefundAmount, after.PendingRefundAmount)
		}
	})
}
