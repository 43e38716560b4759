package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// A sync of a refund whose processor account the operator removed since
// (allowed once its refunds are final) was answered 503
// processor_unavailable, "the processor could not be asked", which sends
// the operator to check a processor that is fine and to retry a request
// that can never work. It is answered 409 processor_account_removed,
// saying nobody is left to ask and what the operator can do; the refund
// stays as recorded. A refund of an account still there syncs as before.
func TestSync_RemovedProcessorAccount(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.start(t, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
			for _, name := range []string{"gone", "kept"} {
				addAcquirer(t, s, name)
			}
			refunds := map[string]string{}
			for _, name := range []string{"gone", "kept"} {
				o := cardOrder("4444", 10_000)
				o["processor"], o["processor_order_id"] = name, "pay_"+name
				r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(o), "amount": 4000})
				if r.status != http.StatusCreated || r.str("status") != "succeeded" {
					t.Fatalf("refund at %s: %d %s", name, r.status, r.raw)
				}
				refunds[name] = r.str("id")
			}
			if _, err := s.Service.RemoveProcessorAccount(context.Background(), s.mer.ID, "gone"); err != nil {
				t.Fatal(err)
			}
			r := s.do("POST", "/v1/refunds/"+refunds["gone"]+"/sync", s.key, nil)
			expectError(t, r, http.StatusConflict, refund.EProcessorAccountRemoved)
			for _, w := range []string{"processor account", "removed", "succeeded", "settlement report", "reconcile"} {
				if !strings.Contains(r.str("error", "message"), w) {
					t.Errorf("the message does not say %q: %s", w, r.raw)
				}
			}
			if got := s.do("GET", "/v1/refunds/"+refunds["gone"], s.key, nil); got.str("status") != "succeeded" {
				t.Errorf("the refund after the sync: %s", got.raw)
			}
			if r := s.do("POST", "/v1/refunds/"+refunds["kept"]+"/sync", s.key, nil); r.status != http.StatusOK || r.str("status") != "succeeded" {
				t.Errorf("sync of the kept account's refund: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestRefund_NodeWithoutTheSecretKey: a node started without the secret
// key, beside one with it, cannot use the merchant's processor accounts;
// a refund of an order routed to one is refused 503 processor_unavailable,
// as a processor that cannot be reached is, with nothing reserved or
// recorded, where it was a 500 internal error. The node with the key
// refunds the order.
func TestRefund_NodeWithoutTheSecretKey(t *testing.T) {
	url := pgSchema(t, 0)
	a := mustStart(t, onDB(url), func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
	b := mustStart(t, onDB(url))
	addAcquirer(t, a, "acq")
	o := cardOrder("4444", 10_000)
	o["processor"], o["processor_order_id"] = "acq", "pay_1"
	order := a.mustOrder(o)
	r := b.do("POST", "/v1/refunds", a.key, map[string]any{"order_id": order, "amount": 4000})
	expectError(t, r, http.StatusServiceUnavailable, refund.EProcessorUnavailable)
	if got := b.do("GET", "/v1/orders/"+order, a.key, nil); got.num("refunded_amount") != 0 || got.num("pending_refund_amount") != 0 {
		t.Fatalf("the order after the refusal: %s", got.raw)
	}
	if list := b.do("GET", "/v1/refunds?order_id="+order, a.key, nil); len(list.get("data").([]any)) != 0 {
		t.Fatalf("refunds after the refusal: %s", list.raw)
	}
	if r := a.do("POST", "/v1/refunds", a.key, map[string]any{"order_id": order, "amount": 4000}); r.status != http.StatusCreated || r.str("status") != "succeeded" {
		t.Fatalf("the refund on the node with the key: %d %s", r.status, r.raw)
	}
}
