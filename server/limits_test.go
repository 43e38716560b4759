package server_test

import (
	"fmt"
	"net/http"
	"strings"
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
	// A tenth of a millisecond short of the next token: the message named
	// the wait rounded to the millisecond, "retry after 0s", which reads
	// as "now" and is refused again, beside a Retry-After of 1.
	s.clock.Advance(499_900 * time.Microsecond)
	r = s.do("GET", "/v1/orders/"+order, s.key, nil)
	expectError(t, r, http.StatusTooManyRequests, "rate_limited")
	if msg := r.str("error", "message"); strings.Contains(msg, "after 0s") || !strings.Contains(msg, "retry after 1ms") {
		t.Fatalf("a wait under half a millisecond: %q, want it rounded up to 1ms", msg)
	}

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

// TestAuthFailureLimitPerSource: made-up keys from one address cost the
// database a bounded number of reads. Past the burst of failures the
// surface answers 429 in its own error shape with Retry-After, while the
// merchant's key, cached as valid, still works from that address.
func TestAuthFailureLimitPerSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, method, path string
		refused            int                // the surface's status for a bad key
		shape              func(r reply) bool // the surface's 429 body
	}{
		{"Native", "GET", "/v1/orders", http.StatusUnauthorized, func(r reply) bool { return r.str("error", "code") == "rate_limited" }},
		{"Gateway", "POST", "/v1/orders/ord_x/refund", http.StatusForbidden, func(r reply) bool { return r.str("message") == "Too Many Attempts." }},
		{"SGate", "GET", "/orders/ord_x/refunds", http.StatusUnauthorized, func(r reply) bool { return r.str("code") == "rate_limited" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mustStart(t, func(c *server.Config) { c.AuthFailureRate, c.AuthFailureBurst = 1, 2 })
			if r := s.do("GET", "/v1/orders", s.key, nil); r.status != http.StatusOK { // now cached
				t.Fatalf("valid key: %d %s", r.status, r.raw)
			}
			garbage := func(i int) string { return fmt.Sprintf("rk_%012x_%032x", i, i) }
			for i := range 2 {
				if r := s.do(tc.method, tc.path, garbage(i), map[string]any{"amount": 1}); r.status != tc.refused {
					t.Fatalf("failure %d within the burst: %d %s", i, r.status, r.raw)
				}
			}
			r := s.do(tc.method, tc.path, garbage(2), map[string]any{"amount": 1})
			if r.status != http.StatusTooManyRequests || !tc.shape(r) || r.header.Get("Retry-After") != "1" {
				t.Fatalf("past the burst: %d %s (Retry-After %q), want 429 in the surface's shape after 1s",
					r.status, r.raw, r.header.Get("Retry-After"))
			}
			if r := s.do("GET", "/v1/orders", s.key, nil); r.status != http.StatusOK {
				t.Fatalf("the merchant's cached key from the same address: %d %s", r.status, r.raw)
			}
			s.clock.Advance(time.Second)
			if r := s.do(tc.method, tc.path, garbage(3), map[string]any{"amount": 1}); r.status != tc.refused {
				t.Fatalf("a second later: %d %s, want %d", r.status, r.raw, tc.refused)
			}
		})
	}
}
