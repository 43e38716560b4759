package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestSurfaces_NodeCannotUseProcessorAccount: a refund of an order routed
// to a processor account, sent to a node that cannot use the account's
// sealed credential, is refused 503 on every surface that refunds, in that
// surface's error shape, and nothing is reserved or recorded: a node
// started without the secret key answers processor_unavailable, one
// started with a key that did not seal the credential
// secret_key_unavailable (it answered 500 internal error on every
// surface, and the dialects answered 500 for either condition where their
// table lacked the code). The same request to the node with the key
// refunds, so the refusal is the node's condition and not the request's.
func TestSurfaces_NodeCannotUseProcessorAccount(t *testing.T) {
	url := sqlitetest.URL(t)
	tokens := func(c *server.Config) { c.TokenSecret = strings.Repeat("k", 32) }
	keyed := mustStart(t, onDB(url), tokens, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	nodes := []struct {
		name string
		s    *testServer
		code string // what the node answers, on surfaces whose shape has a code
	}{
		{"WithoutTheKey", mustStart(t, onDB(url), tokens), refund.EProcessorUnavailable},
		{"WithAnotherKey", mustStart(t, onDB(url), tokens, func(c *server.Config) { c.SecretKey = strings.Repeat("0b", 32) }),
			refund.ESecretKeyUnavailable},
	}
	addAcquirer(t, keyed, "acq")
	order := func(ref string) string {
		o := cardOrder("4444", 10_000)
		o["processor"], o["processor_order_id"], o["reference"] = "acq", "pay_"+ref, ref
		o["items"] = []map[string]any{{"id": "line-1", "name_en": "Coffee", "qty": 2, "unit_amount": 5000, "tax_rate": "15"}}
		return keyed.mustOrder(o)
	}
	app := fmt.Sprint(keyed.mer.AppID)

	// Techrar refunds a line of the order's tax invoice.
	techrarOrder := order("ORD-TECHRAR")
	invs := keyed.do("GET", "/v1/invoices?type=invoice&order_id="+techrarOrder, keyed.key, nil)
	data, _ := invs.get("data").([]any)
	if len(data) != 1 {
		t.Fatalf("the order's tax invoice: %s", invs.raw)
	}
	invoice := data[0].(map[string]any)["id"]
	inv := keyed.do("GET", fmt.Sprintf("/order/v1/merchant/invoices/%v/", invoice), keyed.key, nil, "app-id", app)
	items, _ := inv.get("items").([]any)
	if len(items) != 1 {
		t.Fatalf("the tax invoice on the Techrar surface: %d %s", inv.status, inv.raw)
	}
	line := items[0].(map[string]any)["id"]

	// Paylink: a partner linked to the merchant, with its token.
	partner, partnerKey, err := keyed.Service.CreatePartner(context.Background(), "Linked Partner", []string{keyed.mer.ID})
	if err != nil {
		t.Fatal(err)
	}
	tok := keyed.do("POST", "/rest/partner/v2/auth", "", map[string]any{"apiId": partner.ID, "secretKey": partnerKey})
	if tok.status != http.StatusOK || tok.str("id_token") == "" {
		t.Fatalf("partner token: %d %s", tok.status, tok.raw)
	}

	native := order("ORD-NATIVE") // the native API takes refundd's order id
	surfaces := []struct {
		name    string
		order   string
		method  string
		path    string
		key     string
		body    any
		headers []string
		// refused reports whether r is the 503 the surface's table gives
		// code, in its error shape.
		refused func(r reply, code string) bool
	}{
		{name: "Native", order: native, method: "POST", path: "/v1/refunds", key: keyed.key,
			body: map[string]any{"order_id": native, "amount": 100},
			refused: func(r reply, code string) bool {
				return r.str("error", "code") == code && r.str("error", "message") != ""
			}},
		{name: "Gateway", order: order("ORD-GATEWAY"), method: "POST", path: "/v1/orders/ORD-GATEWAY/refund", key: keyed.key,
			body: map[string]any{"amount": 100},
			refused: func(r reply, code string) bool {
				want := map[string]string{
					refund.EProcessorUnavailable: "The payment processor is unavailable; try again later.",
					refund.ESecretKeyUnavailable: "The service cannot serve this request now; try again later.",
				}[code]
				return len(r.body) == 1 && r.str("message") == want
			}},
		{name: "SGate", order: order("ORD-SGATE"), method: "POST", path: "/orders/ORD-SGATE/refunds", key: keyed.key,
			body:    map[string]any{"amount": "1.00", "reason": "damaged"},
			refused: func(r reply, code string) bool { return r.str("code") == code && r.str("message") != "" }},
		{name: "UPayments", order: order("ORD-UPAYMENTS"), method: "POST", path: "/api/v1/create-refund", key: keyed.key,
			body: map[string]any{"orderId": "ORD-UPAYMENTS", "totalPrice": "1.00"},
			refused: func(r reply, code string) bool {
				// The seed's shape has no code: the message says to retry.
				return r.get("status") == false && strings.Contains(r.str("message"), "try again later")
			}},
		{name: "Paylink", order: order("ORD-PAYLINK"), method: "POST", path: "/rest/partner/v2/merchant/cr/1010101010/refund", key: tok.str("id_token"),
			body: map[string]any{"orderNumber": "ORD-PAYLINK", "refundReason": "damaged"},
			refused: func(r reply, code string) bool {
				return r.str("code") == code && r.str("status") == "503" && r.str("error") == "Service Unavailable" && r.str("message") != ""
			}},
		{name: "Techrar", order: techrarOrder, method: "POST", path: fmt.Sprintf("/order/v1/merchant/invoices/%v/refund/", invoice), key: keyed.key,
			body:    map[string]any{"comments": "damaged", "refunded_items": []map[string]any{{"id": line, "qty": 1}}},
			headers: []string{"app-id", app},
			refused: func(r reply, code string) bool { return r.str("code") == code && r.str("detail") != "" }},
	}
	for _, sf := range surfaces {
		t.Run(sf.name, func(t *testing.T) {
			for _, n := range nodes {
				r := n.s.do(sf.method, sf.path, sf.key, sf.body, sf.headers...)
				if r.status != http.StatusServiceUnavailable || !sf.refused(r, n.code) {
					t.Errorf("on the node %s: %d %s; want 503 %s in the surface's error shape", n.name, r.status, r.raw, n.code)
				}
			}
			o := keyed.do("GET", "/v1/orders/"+sf.order, keyed.key, nil)
			if o.num("refunded_amount") != 0 || o.num("pending_refund_amount") != 0 || o.num("refund_count") > 0 {
				t.Fatalf("the order after the refusals: %s", o.raw)
			}
			if r := keyed.do(sf.method, sf.path, sf.key, sf.body, sf.headers...); r.status != http.StatusOK && r.status != http.StatusCreated {
				t.Fatalf("the same request on the node with the key: %d %s", r.status, r.raw)
			}
		})
	}
}
