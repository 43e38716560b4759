package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// surfaceRefund is one surface's refund of its own order, routed to the
// processor account "acq".
type surfaceRefund struct {
	name    string
	order   string // refundd's order id
	method  string
	path    string
	key     string
	body    any
	headers []string
}

// send sends the refund to s.
func (sr surfaceRefund) send(s *testServer) reply {
	return s.do(sr.method, sr.path, sr.key, sr.body, sr.headers...)
}

// refundOnEverySurface records, on s, one order per surface that refunds
// (the native API and the five dialects), each routed to the processor
// account "acq", and returns the request that refunds it on that surface.
func refundOnEverySurface(t *testing.T, s *testServer) []surfaceRefund {
	t.Helper()
	order := func(ref string) string {
		o := cardOrder("4444", 10_000)
		o["processor"], o["processor_order_id"], o["reference"] = "acq", "pay_"+ref, ref
		o["items"] = []map[string]any{{"id": "line-1", "name_en": "Coffee", "qty": 2, "unit_amount": 5000, "tax_rate": "15"}}
		return s.mustOrder(o)
	}
	app := fmt.Sprint(s.mer.AppID)

	// Techrar refunds a line of the order's tax invoice.
	techrar := order("ORD-TECHRAR")
	invs := s.do("GET", "/v1/invoices?type=invoice&order_id="+techrar, s.key, nil)
	data, _ := invs.get("data").([]any)
	if len(data) != 1 {
		t.Fatalf("the order's tax invoice: %s", invs.raw)
	}
	invoice := data[0].(map[string]any)["id"]
	inv := s.do("GET", fmt.Sprintf("/order/v1/merchant/invoices/%v/", invoice), s.key, nil, "app-id", app)
	items, _ := inv.get("items").([]any)
	if len(items) != 1 {
		t.Fatalf("the tax invoice on the Techrar surface: %d %s", inv.status, inv.raw)
	}
	line := items[0].(map[string]any)["id"]

	// Paylink: a partner linked to the merchant, with its token.
	partner, partnerKey, err := s.Service.CreatePartner(context.Background(), "Linked Partner", []string{s.mer.ID})
	if err != nil {
		t.Fatal(err)
	}
	tok := s.do("POST", "/rest/partner/v2/auth", "", map[string]any{"apiId": partner.ID, "secretKey": partnerKey})
	if tok.status != http.StatusOK || tok.str("id_token") == "" {
		t.Fatalf("partner token: %d %s", tok.status, tok.raw)
	}

	native := order("ORD-NATIVE") // the native API takes refundd's order id
	return []surfaceRefund{
		{name: "Native", order: native, method: "POST", path: "/v1/refunds", key: s.key,
			body: map[string]any{"order_id": native, "amount": 100}},
		{name: "Gateway", order: order("ORD-GATEWAY"), method: "POST", path: "/v1/orders/ORD-GATEWAY/refund", key: s.key,
			body: map[string]any{"amount": 100}},
		{name: "SGate", order: order("ORD-SGATE"), method: "POST", path: "/orders/ORD-SGATE/refunds", key: s.key,
			body: map[string]any{"amount": "1.00", "reason": "damaged"}},
		{name: "UPayments", order: order("ORD-UPAYMENTS"), method: "POST", path: "/api/v1/create-refund", key: s.key,
			body: map[string]any{"orderId": "ORD-UPAYMENTS", "totalPrice": "1.00"}},
		{name: "Paylink", order: order("ORD-PAYLINK"), method: "POST", path: "/rest/partner/v2/merchant/cr/1010101010/refund", key: tok.str("id_token"),
			body: map[string]any{"orderNumber": "ORD-PAYLINK", "refundReason": "damaged"}},
		{name: "Techrar", order: techrar, method: "POST", path: fmt.Sprintf("/order/v1/merchant/invoices/%v/refund/", invoice), key: s.key,
			body:    map[string]any{"comments": "damaged", "refunded_items": []map[string]any{{"id": line, "qty": 1}}},
			headers: []string{"app-id", app}},
	}
}

// inShape reports whether r is the error with code in the named
// surface's error shape; the gateway's and UPayments' shapes have no code,
// so message is the words they answer it with ("" for any).
func inShape(surface string, r reply, code, message string) bool {
	msg := func(got string) bool { return got != "" && (message == "" || strings.Contains(got, message)) }
	switch surface {
	case "Native":
		return r.str("error", "code") == code && msg(r.str("error", "message"))
	case "Gateway":
		return msg(r.str("message")) && (len(r.body) == 1 || len(r.body) == 2 && r.get("errors") != nil)
	case "SGate":
		return r.str("code") == code && msg(r.str("message"))
	case "UPayments":
		return r.get("status") == false && msg(r.str("message"))
	case "Paylink":
		return r.str("code") == code && r.str("status") == fmt.Sprint(r.status) && r.str("error") == http.StatusText(r.status) && msg(r.str("message"))
	case "Techrar":
		return r.str("code") == code && msg(r.str("detail"))
	}
	return false
}

// unchanged fails t unless the order has no refund and nothing refunded
// or reserved.
func unchanged(t *testing.T, s *testServer, orderID string) {
	t.Helper()
	o := s.do("GET", "/v1/orders/"+orderID, s.key, nil)
	if o.status != http.StatusOK || o.num("refunded_amount") != 0 || o.num("pending_refund_amount") != 0 || o.num("refund_count") > 0 {
		t.Fatalf("the order after the refusals: %s", o.raw)
	}
}

// TestSurfaces_NodeCannotUseProcessorAccount: a refund of an order routed
// to a processor account, sent to a node that cannot use the account's
// sealed credential, is refused 503 on every surface that refunds, in that
// surface's error shape, and nothing is reserved or recorded: a node
// started without the secret key answers processor_unavailable, one
// started with a key that did not seal the credential
// secret_key_unavailable (it answered 500 internal error on every
// surface, and the dialects answered 500 for either condition where their
// table lacked the code), each with Retry-After: 5
// (refund.UnavailableRetryAfter; no surface sent one, so a client had
// only its own backoff to go by). The same request to the node with the
// key refunds, so the refusal is the node's condition and not the
// request's.
func TestSurfaces_NodeCannotUseProcessorAccount(t *testing.T) {
	url := sqlitetest.URL(t)
	tokens := func(c *server.Config) { c.TokenSecret = strings.Repeat("k", 32) }
	keyed := mustStart(t, onDB(url), tokens, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	nodes := []struct {
		name string
		s    *testServer
		code string
		// gateway is the gateway's message for code (its shape has none).
		gateway string
	}{
		{"WithoutTheKey", mustStart(t, onDB(url), tokens), refund.EProcessorUnavailable,
			"The payment processor is unavailable; try again later."},
		{"WithAnotherKey", mustStart(t, onDB(url), tokens, func(c *server.Config) { c.SecretKey = strings.Repeat("0b", 32) }),
			refund.ESecretKeyUnavailable, "The service cannot serve this request now; try again later."},
	}
	addAcquirer(t, keyed, "acq")
	for _, sf := range refundOnEverySurface(t, keyed) {
		t.Run(sf.name, func(t *testing.T) {
			for _, n := range nodes {
				// UPayments says it in the core's words: retry.
				message := map[string]string{"Gateway": n.gateway, "UPayments": "try again later"}[sf.name]
				if r := sf.send(n.s); r.status != http.StatusServiceUnavailable || !inShape(sf.name, r, n.code, message) ||
					r.header.Get("Retry-After") != "5" {
					t.Errorf("on the node %s: %d %s (Retry-After %q); want 503 %s in the surface's error shape, Retry-After 5",
						n.name, r.status, r.raw, r.header.Get("Retry-After"), n.code)
				}
			}
			unchanged(t, keyed, sf.order)
			if r := sf.send(keyed); r.status != http.StatusOK && r.status != http.StatusCreated {
				t.Fatalf("the same request on the node with the key: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestSurfaces_CredentialThatNoNodeOpens: a credential that does not open
// under the key that sealed it, which this node holds (altered, or moved
// to another account: the seal binds it to its own), opens on no node.
// Answered secret_key_unavailable, "try again later", clients retried it
// for ever; it is refundd's fault, an internal error, and changes nothing.
func TestSurfaces_CredentialThatNoNodeOpens(t *testing.T) {
	path := sqlitetest.Path(t)
	s := mustStart(t, onDB("sqlite:"+path), func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	addAcquirer(t, s, "acq")
	o := cardOrder("4444", 10_000)
	o["processor"], o["processor_order_id"], o["reference"] = "acq", "pay_X", "ORD-X"
	id := s.mustOrder(o)
	o["processor_order_id"], o["reference"] = "pay_Y", "ORD-Y"
	paid := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(o), "amount": 100})
	if paid.status != http.StatusCreated || paid.str("status") != "succeeded" {
		t.Fatalf("refund before the credential was altered: %d %s", paid.status, paid.raw)
	}
	db, err := sqlite.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `UPDATE processor_accounts SET url = url || '/moved'`); err != nil {
		t.Fatal(err)
	}
	// A node started now has not opened the credential before (the first
	// holds it open since its refund); the merchant's key works there too.
	first := s
	s = mustStart(t, onDB("sqlite:"+path), func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	s.key, s.mer = first.key, first.mer
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": id, "amount": 100})
	expectError(t, r, http.StatusInternalServerError, refund.EInternal)
	unchanged(t, s, id)
	// A sync of a refund made before asks that processor too: no retry
	// helps, so no Retry-After (it answered 503 "try again in 5 s").
	sync := s.do("POST", "/v1/refunds/"+paid.str("id")+"/sync", s.key, nil)
	expectError(t, sync, http.StatusInternalServerError, refund.EInternal)
	if ra := sync.header.Get("Retry-After"); ra != "" {
		t.Fatalf("sync: Retry-After %q on a credential no node opens", ra)
	}
}

// TestSurfaces_OrderOfRemovedProcessorAccount: a refund of an order whose
// processor account was removed is refused on every surface that refunds,
// as each answers a processor that cannot execute the refund (the native
// API's 400 processor_account_not_found, 422 on the dialects, 400 on
// Paylink, whose seed has no 422), in its error shape, and changes
// nothing; the dialects answered it 500 internal error.
func TestSurfaces_OrderOfRemovedProcessorAccount(t *testing.T) {
	s := mustStart(t, func(c *server.Config) {
		c.SecretKey, c.TokenSecret = strings.Repeat("5f1d3c0a", 8), strings.Repeat("k", 32)
	})
	addAcquirer(t, s, "acq")
	refunds := refundOnEverySurface(t, s)
	if _, err := s.Service.RemoveProcessorAccount(context.Background(), s.mer.ID, "acq"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"Native": 400, "Gateway": 422, "SGate": 422, "UPayments": 422, "Paylink": 400, "Techrar": 422}
	for _, sf := range refunds {
		t.Run(sf.name, func(t *testing.T) {
			r := sf.send(s)
			// The gateway's 422 names the field at fault: the path's order.
			message := map[string]string{"Gateway": "Data validation failed"}[sf.name]
			if r.status != want[sf.name] || !inShape(sf.name, r, refund.EProcessorAccountNotFound, message) ||
				sf.name == "Gateway" && !strings.Contains(fmt.Sprint(r.get("errors", "id")), "processor account was removed") {
				t.Errorf("%d %s; want %d %s in the surface's error shape", r.status, r.raw, want[sf.name], refund.EProcessorAccountNotFound)
			}
			unchanged(t, s, sf.order)
		})
	}
}
