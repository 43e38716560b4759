package paylink_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
)

// errorStatuses are the statuses a refused Paylink request may answer.
var errorStatuses = map[int]bool{400: true, 401: true, 403: true, 404: true, 413: true}

// FuzzRefundRequest sends arbitrary keys, values and bodies to the refund
// route with a valid partner token: never a panic or a 5xx, every refusal
// in the error shape, and a refused request changes nothing.
func FuzzRefundRequest(f *testing.F) {
	fx := start(f)
	o := fx.order(fx.linkedKey, refund.OrderInput{Reference: "1722731077436", Amount: 12500})
	tok := fx.token(fx.partner.ID, fx.partnerKey)
	seed := dialecttest.Testdata(f, "refund_request.json")
	f.Add("email", "refunds@alwaha.example", seed)
	f.Add("cr", "1010101010", `{"orderNumber":"1722731077436","refundReason":"x"}`)
	f.Add("cr", "2020202020", seed)
	f.Add("accountNo", "SA-ACC-1001", `{"orderNumber":1722731077436,"refundReason":"x"}`)
	f.Add("mobile", "+966500000001", `{"orderNumber":"1722731077436","refundReason":"x","x":1}`)
	f.Add("iban", "x", `{}`)
	f.Fuzz(func(t *testing.T, key, value, body string) {
		if unroutable(key) || unroutable(value) {
			return // the mux redirects or answers 404 before any handler
		}
		before := fx.snap(t, fx.linkedKey, o.ID)
		r := fx.Serve("POST", refundPath(url.PathEscape(key), url.PathEscape(value)), tok, body)
		if r.Status == 200 {
			return
		}
		if !errorStatuses[r.Status] || r.Str("message") == "" || r.Str("code") == "" {
			t.Fatalf("%q %q %q -> %d %s", key, value, body, r.Status, r.Raw)
		}
		if after := fx.snap(t, fx.linkedKey, o.ID); after != before {
			t.Fatalf("refused request changed the order: %+v -> %+v", before, after)
		}
	})
}

// unroutable: segments the mux redirects for before any handler (to the
// cleaned path): empty and dot segments. Any other path reaches a Paylink
// handler, the refund route's or the catch-all's.
func unroutable(segment string) bool {
	return segment == "" || segment == "." || segment == ".."
}

// FuzzAuthRequest: only the real id and key pair earns a token.
func FuzzAuthRequest(f *testing.F) {
	fx := start(f)
	real := `{"apiId":"` + fx.partner.ID + `","secretKey":"` + fx.partnerKey + `"}`
	f.Add(strings.NewReplacer("PARTNER_ID", fx.partner.ID, "PARTNER_API_KEY", fx.partnerKey).
		Replace(dialecttest.Testdata(f, "auth_request.json")))
	f.Add(real)
	f.Add(`{"apiId":"` + fx.linked.ID + `","secretKey":"` + fx.partnerKey + `"}`)
	f.Add(`{"apiId":"","secretKey":"rk_"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		r := fx.Serve("POST", authPath, "", body)
		switch {
		case r.Status == 200:
			if !strings.Contains(body, fx.partnerKey) && !strings.Contains(body, fx.linkedKey) || r.Str("id_token") == "" {
				t.Fatalf("token for %q: %s", body, r.Raw)
			}
		case !errorStatuses[r.Status] || r.Str("message") == "":
			t.Fatalf("%q -> %d %s", body, r.Status, r.Raw)
		}
	})
}
