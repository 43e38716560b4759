package server_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestDialects_BodyMustBeJSON: every dialect's body is JSON: the Techrar,
// gateway and Paylink pages say so ("Content-Type: application/json",
// "Body Params application/json"), and the SGate and UPayments pages name
// no media type but show only JSON bodies. A request whose Content-Type names another media
// type is refused with 415 in the surface's own error shape and changes
// nothing, as the native API refuses it, however well its body would
// parse; no Content-Type, or JSON with a UTF-8 charset, is JSON.
func TestDialects_BodyMustBeJSON(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	f := &fuzzer{t: t, s: s, m: m}
	key := credential{name: "key", header: "Bearer " + s.key, appID: fmt.Sprint(s.mer.AppID)}
	// The gateway waits for an order's refund in flight, and the matrix's
	// order has a queued one: the gateway refunds an order of its own.
	own := s.mustOrder(cardOrder("4444", 10_000))
	routes := []struct {
		surface, method, path, body string
		auth                        credential
	}{
		{"gateway", "POST", "/v1/orders/" + own + "/refund", `{"amount":1}`, key},
		{"sgate", "POST", "/orders/{order_id}/refunds", `{"amount":"0.01","reason":"r"}`, key},
		{"upayments", "POST", "/api/v1/create-refund", `{"orderId":"ORDER","totalPrice":"0.01"}`, key},
		{"upayments", "POST", "/api/v1/create-multivendor-refund", `{"orderId":"VORDER","refundPayload":[{"refundRequestId":"VREQ","amountToRefund":"0.001"}]}`, key},
		{"techrar", "POST", "/order/v1/merchant/invoices/{invoice_id}/refund/", `{"comments":"c","refunded_items":[{"id":ITEMNUM,"qty":0,"amount":0.01}]}`, key},
		{"techrar", "POST", "/order/v1/merchant/invoices/config/", `{"seller_name":"Souq"}`, key},
		{"paylink", "POST", "/rest/partner/v2/auth", `{"apiId":"x","secretKey":"y"}`, credential{}},
		{"paylink", "POST", "/rest/partner/v2/merchant/{key}/{value}/refund", `{"orderNumber":"ORDER","refundReason":"r"}`, m.partnerToken},
	}
	refused := []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml", ";;;="}
	for _, r := range routes {
		path, body := m.path(r.path, false), []byte(m.fill(r.body))
		for _, ct := range refused {
			t.Run(r.method+" "+r.path+" "+ct, func(t *testing.T) {
				c := fuzzCase{name: ct, surface: r.surface, method: r.method, path: path, body: body, contentType: ct, auth: r.auth}
				before := f.state(t)
				status, hdr, raw := f.send(c)
				if status != http.StatusUnsupportedMediaType || hdr.Get("Content-Type") != "application/json" {
					t.Fatalf("want 415 as JSON, got %d %q %.200s", status, hdr.Get("Content-Type"), raw)
				}
				if !m.shape(r.surface, matrixReply{status: status, raw: raw}) || !otherShape(r.surface, raw) {
					t.Fatalf("415 not in the %s error shape: %s", r.surface, raw)
				}
				if after := f.state(t); after != before {
					t.Fatalf("a refused request changed the merchant's state: %s", raw)
				}
			})
		}
	}
	// The same bodies as JSON are taken, with or without a charset or a
	// Content-Type at all (the first of each route refunds; Paylink's
	// auth, whose credentials are made up, is a 401).
	for _, r := range routes {
		path, body := m.path(r.path, false), []byte(m.fill(r.body))
		for _, c := range []fuzzCase{{name: "json", contentType: "application/json; charset=utf-8"}, {name: "none", noContentType: true}} {
			t.Run(r.method+" "+r.path+" "+c.name, func(t *testing.T) {
				c.surface, c.method, c.path, c.body, c.auth = r.surface, r.method, path, body, r.auth
				if status, _, raw := f.send(c); status == http.StatusUnsupportedMediaType || status >= 500 {
					t.Fatalf("a JSON body was refused as the wrong media type: %d %.200s", status, raw)
				}
			})
		}
	}
}
