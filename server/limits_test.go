package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/refundd/refundd/server"
)

func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	s := mustStart(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 2, 3 })
	other := s.newMerchant("Other")
	order := s.mustOrder(cardOrder("4444", 10_000)) // spends one of the burst of 3

	for i := range 2 {
		if r := s.do("GET", "/v1/orders/"+order, s.key, nil); r.status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, r.status, r.raw)
		}
	}
	before := s.do("GET", "/v1/refunds", other, nil)
	// Over the limit: 429 in the envelope, with Retry-After, and nothing
	// is done (a refund would have been created).
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100})
	expectError(t, r, http.StatusTooManyRequests, "rate_limited")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After = %q, want 1 (one token per half second, rounded up)", got)
	}
	// Another merchant's key has its own bucket.
	if before.status != http.StatusOK {
		t.Fatalf("other key: %d %s", before.status, before.raw)
	}
	// The refused call spent nothing: half a second buys exactly one more.
	s.clock.Advance(500 * time.Millisecond)
	if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100}); r.status != http.StatusCreated {
		t.Fatalf("after waiting: %d %s", r.status, r.raw)
	}
	expectError(t, s.do("GET", "/v1/orders/"+order, s.key, nil), http.StatusTooManyRequests, "rate_limited")

	// Only the allowed refund exists.
	s.clock.Advance(10 * time.Second)
	list := s.do("GET", "/v1/refunds?order_id="+order, s.key, nil)
	if data, _ := list.get("data").([]any); list.status != http.StatusOK || len(data) != 1 {
		t.Fatalf("refunds of the order: %d %s, want exactly one", list.status, list.raw)
	}
}

// TestAuditTrail: every state-changing call leaves one entry, written with
// the change, naming the actor, key prefix, surface, request id, address
// and the status before and after; a merchant sees only its own.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	other := s.newMerchant("Other")
	order := s.mustOrder(cardOrder("4444", 10_000))
	queued := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 500, "queue": true},
		"X-Request-Id", "req_audit_1")
	s.do("POST", "/v1/refunds/"+queued.str("id")+"/cancel", s.key, nil, "X-Request-Id", "req_audit_2")
	// A refused call changes nothing and leaves nothing.
	expectError(t, s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 99_999}),
		http.StatusUnprocessableEntity, "amount_exceeds_refundable")

	trail := s.do("GET", "/v1/audit?object_id="+queued.str("id"), s.key, nil)
	data, _ := trail.get("data").([]any)
	if trail.status != http.StatusOK || len(data) != 2 {
		t.Fatalf("audit of the refund: %d %s", trail.status, trail.raw)
	}
	prefix := s.key[:len("rk_")+12]
	for i, want := range []struct{ action, req, before, after string }{
		{"refund.cancel", "req_audit_2", "pending", "canceled"},
		{"refund.create", "req_audit_1", "", "pending"},
	} {
		e := data[i].(map[string]any)
		if e["action"] != want.action || e["request_id"] != want.req || e["before"] != want.before || e["after"] != want.after ||
			e["actor"] != "merchant" || e["key_prefix"] != prefix || e["surface"] != "native" || e["ip"] != "127.0.0.1" {
			t.Errorf("entry %d = %v, want %+v by merchant key %s from 127.0.0.1", i, e, want, prefix)
		}
	}
	all := s.do("GET", "/v1/audit?limit=100", s.key, nil)
	if n := len(all.get("data").([]any)); n != 4 { // key, order, refund create, cancel
		t.Errorf("merchant's trail holds %d entries, want 4: %s", n, all.raw)
	}
	// Another merchant sees none of it, not even by object id.
	if o := s.do("GET", "/v1/audit?object_id="+queued.str("id"), other, nil); len(o.get("data").([]any)) != 0 {
		t.Errorf("another merchant sees the trail: %s", o.raw)
	}
}
