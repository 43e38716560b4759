package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// Finding 3: every creating route of every surface honours
// Idempotency-Key: the same key and request replays the first answer byte
// for byte and creates nothing more; the same key with another request is
// refused in the surface's own shape and creates nothing.
func TestIdempotencyKey_EverySurface(t *testing.T) {
	s := mustStart(t)
	for _, tc := range []struct {
		surface     string
		path        func(orderID, ref string) string
		body, other string
		firstStatus int
	}{
		{"gateway", func(id, ref string) string { return "/v1/orders/" + ref + "/refund" },
			`{"amount":500}`, `{"amount":600}`, http.StatusOK},
		{"sgate", func(id, ref string) string { return "/orders/" + ref + "/refunds" },
			`{"amount":"5.00","reason":"damaged"}`, `{"amount":"6.00","reason":"damaged"}`, http.StatusOK},
		{"upayments", func(id, ref string) string { return "/api/v1/create-refund" },
			`{"orderId":"REF","totalPrice":"5.00"}`, `{"orderId":"REF","totalPrice":"6.00"}`, http.StatusOK},
		{"native", func(id, ref string) string { return "/v1/refunds" },
			`{"order_id":"ID","amount":500}`, `{"order_id":"ID","amount":600}`, http.StatusCreated},
	} {
		t.Run(tc.surface, func(t *testing.T) {
			ref := "ORD-IDEM-" + tc.surface
			body := cardOrder("4444", 10000)
			body["reference"] = ref
			id := s.mustOrder(body)
			subst := strings.NewReplacer("REF", ref, "ID", id).Replace
			path := tc.path(id, ref)
			key := "idem-" + tc.surface
			first := s.do("POST", path, s.key, subst(tc.body), "Idempotency-Key", key)
			if first.status != tc.firstStatus {
				t.Fatalf("first: %d %s", first.status, first.raw)
			}
			again := s.do("POST", path, s.key, subst(tc.body), "Idempotency-Key", key)
			if again.status != first.status || again.raw != first.raw {
				t.Fatalf("retry answered %d %s\nfirst was %d %s", again.status, again.raw, first.status, first.raw)
			}
			if again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatal("a replay does not say so (Idempotent-Replayed)")
			}
			other := s.do("POST", path, s.key, subst(tc.other), "Idempotency-Key", key)
			if other.status < 400 || other.status >= 500 {
				t.Fatalf("same key, another request: %d %s", other.status, other.raw)
			}
			if n := s.refundsOf(id); n != 1 {
				t.Fatalf("%d refunds on the order, want 1", n)
			}
		})
	}
}

// Finding 3: a retried POST /v1/orders or /v1/webhook_endpoints with the
// same key records one order (the capture counted once) and one endpoint.
func TestIdempotencyKey_OrdersAndEndpoints(t *testing.T) {
	s := mustStart(t)
	order := `{"currency":"SAR","amount":10000,"payment_method":"card"}`
	a := s.do("POST", "/v1/orders", s.key, order, "Idempotency-Key", "order-1")
	b := s.do("POST", "/v1/orders", s.key, order, "Idempotency-Key", "order-1")
	if a.status != http.StatusCreated || b.raw != a.raw {
		t.Fatalf("orders: %d %s / %d %s", a.status, a.raw, b.status, b.raw)
	}
	list := s.do("GET", "/v1/orders", s.key, nil)
	if n := len(list.get("data").([]any)); n != 1 {
		t.Fatalf("%d orders after a retried create, want 1", n)
	}
	ep := `{"url":"https://hooks.example.com/refunds"}`
	a = s.do("POST", "/v1/webhook_endpoints", s.key, ep, "Idempotency-Key", "ep-1")
	b = s.do("POST", "/v1/webhook_endpoints", s.key, ep, "Idempotency-Key", "ep-1")
	if a.status != http.StatusCreated || b.raw != a.raw {
		t.Fatalf("endpoints: %d / %d", a.status, b.status)
	}
	list = s.do("GET", "/v1/webhook_endpoints", s.key, nil)
	if n := len(list.get("data").([]any)); n != 1 {
		t.Fatalf("%d endpoints after a retried create, want 1", n)
	}
}

// diedBeforeItsAnswer makes the request that holds key look as if it had
// died after its write committed and before its answer was kept: no
// answer, the key still locked by it for a minute (its lease). It returns
// the key's record as the request left it.
func (s *testServer) diedBeforeItsAnswer(key string) refund.IdempotencyRecord {
	s.t.Helper()
	ctx := context.Background()
	var was refund.IdempotencyRecord
	err := s.Store.Update(ctx, func(tx refund.Tx) error {
		rec, err := tx.GetIdempotency(ctx, s.mer.ID, key)
		if err != nil {
			return err
		}
		was = *rec
		rec.Reply, rec.CompletedAt, rec.LockedUntil = refund.Reply{}, nil, s.clock.Now().Add(time.Minute)
		return tx.UpdateIdempotency(ctx, rec)
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return was
}

// A retry of a request that died after its write and before its answer
// (its key linked to what it created, no answer stored) takes the key over
// once the first one's lease is over, and answers with what the first one
// created instead of creating it again. The retry is not looked up first:
// its own first write finds the key taken, and its answer is then settled
// by looking the key up (api.Idempotent).
func TestIdempotencyKey_RetryOfADeadRequestTakesOver(t *testing.T) {
	s := mustStart(t)
	order := `{"currency":"SAR","amount":10000,"payment_method":"card"}`
	first := s.do("POST", "/v1/orders", s.key, order, "Idempotency-Key", "dead-1")
	if first.status != http.StatusCreated {
		t.Fatalf("order: %d %s", first.status, first.raw)
	}
	if rec := s.diedBeforeItsAnswer("dead-1"); rec.ObjectID != first.str("id") {
		t.Errorf("the key links %q, want the order %q", rec.ObjectID, first.str("id"))
	}
	busy := s.do("POST", "/v1/orders", s.key, order, "Idempotency-Key", "dead-1")
	if busy.status != http.StatusConflict || busy.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry within the first one's lease: %d %s, want 409 in use", busy.status, busy.raw)
	}
	s.clock.Advance(2 * time.Minute)
	again := s.do("POST", "/v1/orders", s.key, order, "Idempotency-Key", "dead-1")
	if again.status != http.StatusCreated || again.str("id") != first.str("id") {
		t.Fatalf("retry after the lease: %d %s, want the first order %s", again.status, again.raw, first.str("id"))
	}
	if n := len(s.do("GET", "/v1/orders", s.key, nil).get("data").([]any)); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	replay := s.do("POST", "/v1/orders", s.key, order, "Idempotency-Key", "dead-1")
	if replay.raw != again.raw || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("third try: %d %s %v, want the retry's answer replayed", replay.status, replay.raw, replay.header)
	}
}

// Finding 6: a request refused the first time replays its refusal: it
// cannot succeed later under the same key (the client learns its answer
// once).
func TestIdempotencyKey_RefusalReplays(t *testing.T) {
	s := mustStart(t)
	first := s.do("POST", "/v1/orders/ORD-LATER/refund", s.key, `{"amount":100}`, "Idempotency-Key", "refused-1")
	if first.status != http.StatusNotFound {
		t.Fatalf("refund of a missing order: %d %s", first.status, first.raw)
	}
	body := cardOrder("4444", 1000)
	body["reference"] = "ORD-LATER"
	id := s.mustOrder(body)
	again := s.do("POST", "/v1/orders/ORD-LATER/refund", s.key, `{"amount":100}`, "Idempotency-Key", "refused-1")
	if again.status != first.status || again.raw != first.raw {
		t.Fatalf("retry: %d %s, want the first refusal replayed", again.status, again.raw)
	}
	if n := s.refundsOf(id); n != 0 {
		t.Fatalf("%d refunds, want 0", n)
	}
}

// Finding 6: merchant references are per surface: an SGate
// merchantRefundId and a UPayments reference of the same text are two
// refunds, not a collision.
func TestMerchantReferences_PerSurface(t *testing.T) {
	s := mustStart(t)
	body := cardOrder("4444", 10000)
	body["reference"] = "ORD-REFS"
	id := s.mustOrder(body)
	sg := s.do("POST", "/orders/ORD-REFS/refunds", s.key, `{"amount":"1.00","reason":"r","merchantRefundId":"R-1"}`)
	up := s.do("POST", "/api/v1/create-refund", s.key, `{"orderId":"ORD-REFS","totalPrice":"2.00","reference":"R-1"}`)
	if sg.status != http.StatusOK || up.status != http.StatusOK {
		t.Fatalf("sgate %d %s; upayments %d %s", sg.status, sg.raw, up.status, up.raw)
	}
	if n := s.refundsOf(id); n != 2 {
		t.Fatalf("%d refunds, want 2", n)
	}
}

func (s *testServer) refundsOf(orderID string) int {
	s.t.Helper()
	p, err := s.Service.Authenticate(context.Background(), s.key)
	if err != nil {
		s.t.Fatal(err)
	}
	page, err := s.Service.ListRefunds(context.Background(), p, refund.RefundFilter{OrderID: orderID, Limit: 100})
	if err != nil {
		s.t.Fatal(err)
	}
	return len(page.Data)
}

// The same on the Paylink partner route and the Techrar invoice route.
func TestIdempotencyKey_PaylinkAndTechrar(t *testing.T) {
	s := mustStart(t)
	m := newMatrix(t, s)
	app := fmt.Sprint(s.mer.AppID)
	for _, tc := range []struct {
		name, path, body string
		headers          []string
		auth             string
	}{
		{"techrar (first: the paylink refund takes the rest)", fmt.Sprintf("/order/v1/merchant/invoices/%d/refund/", m.invoice),
			fmt.Sprintf(`{"comments":"retried","refunded_items":[{"id":%d,"qty":1}]}`, m.invoiceItem), []string{"app-id", app}, "Bearer " + s.key},
		{"paylink", "/rest/partner/v2/merchant/cr/" + s.mer.CR + "/refund",
			`{"orderNumber":"` + m.order + `","refundReason":"retried"}`, nil, m.partnerToken.header},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.refundsOf(m.order)
			send := func() reply {
				hdr := append([]string{"Authorization", tc.auth, "Idempotency-Key", "idem-" + tc.name}, tc.headers...)
				return s.do("POST", tc.path, "", tc.body, hdr...)
			}
			first, again := send(), send()
			if first.status >= 300 || again.status != first.status || again.raw != first.raw {
				t.Fatalf("first %d %s\nretry %d %s", first.status, first.raw, again.status, again.raw)
			}
			if n := s.refundsOf(m.order); n != before+1 {
				t.Fatalf("%d refunds made, want 1", n-before)
			}
		})
	}
}

// A key of the same merchant without the route's scope, sending the same
// Idempotency-Key and body as a key with it, is refused (403) and shown
// nothing of the key's answer; and its refusal is not kept as the key's
// answer: the rightful request that follows creates its refund, once.
// The request hash leaves out who asks, so both halves hang on the scope
// being checked before the key is looked at, and on refusals of the
// caller never being stored.
func TestIdempotencyKey_CallerWithoutTheScope(t *testing.T) {
	for _, db := range []struct {
		name string
		opt  func(t *testing.T) serverOpt
	}{
		{"SQLite", func(t *testing.T) serverOpt { return func(*server.Config) {} }},
		{"PostgreSQL", func(t *testing.T) serverOpt { return onDB(pgSchema(t, 0)) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			s := mustStart(t, db.opt(t))
			for _, tc := range []struct {
				name   string
				path   func(orderID, ref string) string
				body   string
				ok     int
				scopes []string // the weak key's
			}{
				{"NativeWebhooksOnly", func(id, ref string) string { return "/v1/refunds" },
					`{"order_id":"ID","amount":500}`, http.StatusCreated, []string{refund.ScopeWebhooksWrite}},
				{"NativeReadOnly", func(id, ref string) string { return "/v1/refunds" },
					`{"order_id":"ID","amount":500}`, http.StatusCreated, []string{refund.ScopeOrdersRead, refund.ScopeRefundsRead}},
				{"GatewayWebhooksOnly", func(id, ref string) string { return "/v1/orders/" + ref + "/refund" },
					`{"amount":500}`, http.StatusOK, []string{refund.ScopeWebhooksWrite}},
				// Finds the order (orders:read), refused only at the refund.
				{"GatewayOrdersRead", func(id, ref string) string { return "/v1/orders/" + ref + "/refund" },
					`{"amount":500}`, http.StatusOK, []string{refund.ScopeOrdersRead}},
				// Has refunds:write, the scope checked up front, but not
				// orders:read, whose refusal comes from the request
				// itself: held back, never stored nor swapped for the
				// key's answer.
				{"GatewayWithoutOrdersRead", func(id, ref string) string { return "/v1/orders/" + ref + "/refund" },
					`{"amount":500}`, http.StatusOK, []string{refund.ScopeRefundsWrite}},
				{"SGateOrdersRead", func(id, ref string) string { return "/orders/" + ref + "/refunds" },
					`{"amount":"5.00","reason":"damaged"}`, http.StatusOK, []string{refund.ScopeOrdersRead}},
				{"UPaymentsWebhooksOnly", func(id, ref string) string { return "/api/v1/create-refund" },
					`{"orderId":"REF","totalPrice":"5.00"}`, http.StatusOK, []string{refund.ScopeWebhooksWrite}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, weak, err := s.Service.CreateKey(context.Background(), s.mer.ID, "", tc.scopes)
					if err != nil {
						t.Fatal(err)
					}
					order := func(ref string) (path, body string) {
						o := cardOrder("4444", 10_000)
						o["reference"] = ref
						id := s.mustOrder(o)
						return tc.path(id, ref), strings.NewReplacer("REF", ref, "ID", id).Replace(tc.body)
					}
					refused := func(r reply, refunds []string) {
						t.Helper()
						if r.status != http.StatusForbidden || r.header.Get("Idempotent-Replayed") != "" {
							t.Fatalf("key without the scope: %d %s (replayed %q), want 403", r.status, r.raw, r.header.Get("Idempotent-Replayed"))
						}
						for _, id := range refunds {
							if strings.Contains(r.raw, id) {
								t.Fatalf("key without the scope was shown refund %s: %s", id, r.raw)
							}
						}
					}

					// Strong first: the weak key's retry is refused, and
					// the key's answer stands for the strong key.
					ref := "ORD-S-" + db.name + "-" + tc.name
					path, body := order(ref)
					key := "strong-first-" + tc.name
					first := s.do("POST", path, s.key, body, "Idempotency-Key", key)
					if first.status != tc.ok {
						t.Fatalf("first: %d %s", first.status, first.raw)
					}
					made := s.refundIDs(ref)
					if len(made) != 1 {
						t.Fatalf("%d refunds, want 1", len(made))
					}
					refused(s.do("POST", path, weak, body, "Idempotency-Key", key), made)
					again := s.do("POST", path, s.key, body, "Idempotency-Key", key)
					if again.status != first.status || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
						t.Fatalf("strong retry: %d %s, want the first answer replayed", again.status, again.raw)
					}

					// Weak first: its 403 is not the key's answer; the
					// strong request with the same key and body runs.
					ref = "ORD-W-" + db.name + "-" + tc.name
					path, body = order(ref)
					key = "weak-first-" + tc.name
					refused(s.do("POST", path, weak, body, "Idempotency-Key", key), nil)
					strong := s.do("POST", path, s.key, body, "Idempotency-Key", key)
					if strong.status != tc.ok || strong.header.Get("Idempotent-Replayed") != "" {
						t.Fatalf("strong after weak: %d %s (replayed %q), want %d", strong.status, strong.raw, strong.header.Get("Idempotent-Replayed"), tc.ok)
					}
					retry := s.do("POST", path, s.key, body, "Idempotency-Key", key)
					if retry.raw != strong.raw || retry.header.Get("Idempotent-Replayed") != "true" {
						t.Fatalf("strong retry: %d %s, want the strong answer replayed", retry.status, retry.raw)
					}
					if n := len(s.refundIDs(ref)); n != 1 {
						t.Fatalf("%d refunds, want 1", n)
					}
				})
			}
		})
	}
}

// refundIDs returns the ids of the refunds of the order with reference ref.
func (s *testServer) refundIDs(ref string) []string {
	s.t.Helper()
	ctx := context.Background()
	p, err := s.Service.Authenticate(ctx, s.key)
	if err != nil {
		s.t.Fatal(err)
	}
	o, err := s.Service.FindOrder(ctx, p, ref)
	if err != nil {
		s.t.Fatal(err)
	}
	page, err := s.Service.ListRefunds(ctx, p, refund.RefundFilter{OrderID: o.ID, Limit: 100})
	if err != nil {
		s.t.Fatal(err)
	}
	var ids []string
	for _, r := range page.Data {
		ids = append(ids, r.ID)
	}
	return ids
}

// A decision on a refund (cancel, approve, reject, resolve) retried after
// a lost reply with its Idempotency-Key answers the decision, byte for
// byte, and decides once; without the key honoured, the retry answered
// 409 (the refund had moved on) and the caller could not tell it had been
// decided. A retry of a decision whose request died after it committed,
// before its answer was stored, takes the key over after its lease and
// answers the refund as that decision left it: deciding again, it found
// the refund moved on and kept 409 as the key's answer for good.
func TestIdempotencyKey_DecisionsOnARefund(t *testing.T) {
	s := mustStart(t)
	ctx := context.Background()
	_, approver, err := s.Service.CreateKey(ctx, s.mer.ID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
	if err != nil {
		t.Fatal(err)
	}
	if pol := s.do("PUT", "/v1/refund_policy", s.key, map[string]any{"approval_threshold": map[string]any{"SAR": 5000}}); pol.status != 200 {
		t.Fatalf("policy: %d %s", pol.status, pol.raw)
	}
	held := func(t *testing.T) string {
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 6_000})
		if r.str("status") != "requires_approval" {
			t.Fatalf("refund: %d %s", r.status, r.raw)
		}
		return r.str("id")
	}
	queued := func(t *testing.T) string {
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 100, "queue": true})
		if r.str("status") != "pending" {
			t.Fatalf("refund: %d %s", r.status, r.raw)
		}
		return r.str("id")
	}
	inReview := func(t *testing.T) string {
		id := queued(t)
		err := s.Store.Update(ctx, func(tx refund.Tx) error {
			rf, err := tx.GetRefund(ctx, "", id)
			if err != nil {
				return err
			}
			rf.Status, rf.Attempts = refund.StatusRequiresReview, 12
			return tx.UpdateRefund(ctx, rf)
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, tc := range []struct {
		action, key, body, want string
		refund                  func(*testing.T) string
	}{
		{"cancel", s.key, "", "canceled", queued},
		{"approve", approver, "", "succeeded", held},
		{"reject", approver, `{"reason":"not authorised"}`, "canceled", held},
		{"resolve", s.key, `{"outcome":"succeeded","note":"acquirer confirmed"}`, "succeeded", inReview},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		transitions := func(id string) int {
			return len(s.do("GET", "/v1/refunds/"+id+"/transitions", s.key, nil).get("data").([]any))
		}
		t.Run(tc.action, func(t *testing.T) {
			id := tc.refund(t)
			path := "/v1/refunds/" + id + "/" + tc.action
			first := s.do("POST", path, tc.key, body, "Idempotency-Key", "decide-"+tc.action)
			if first.status != 200 || first.str("status") != tc.want {
				t.Fatalf("%s: %d %s", tc.action, first.status, first.raw)
			}
			before := transitions(id)
			again := s.do("POST", path, tc.key, body, "Idempotency-Key", "decide-"+tc.action)
			if again.status != 200 || again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("retry answered %d %s\nfirst was %d %s", again.status, again.raw, first.status, first.raw)
			}
			if after := transitions(id); after != before {
				t.Fatalf("the retry added %d transitions", after-before)
			}
			// Without the key, the retry is a second decision: refused.
			if bare := s.do("POST", path, tc.key, body); bare.status != 409 {
				t.Fatalf("a second %s without the key: %d %s", tc.action, bare.status, bare.raw)
			}
		})
		t.Run(tc.action+"DiedBeforeItsAnswer", func(t *testing.T) {
			id := tc.refund(t)
			path, key := "/v1/refunds/"+id+"/"+tc.action, "dead-"+tc.action
			first := s.do("POST", path, tc.key, body, "Idempotency-Key", key)
			if first.status != 200 || first.str("status") != tc.want {
				t.Fatalf("%s: %d %s", tc.action, first.status, first.raw)
			}
			s.diedBeforeItsAnswer(key)
			before := transitions(id)
			s.clock.Advance(2 * time.Minute)
			again := s.do("POST", path, tc.key, body, "Idempotency-Key", key)
			if again.status != 200 || again.str("id") != id || again.str("status") != tc.want {
				t.Fatalf("retry after the lease: %d %s, want the %s refund", again.status, again.raw, tc.want)
			}
			if after := transitions(id); after != before {
				t.Fatalf("the retry added %d transitions", after-before)
			}
			replay := s.do("POST", path, tc.key, body, "Idempotency-Key", key)
			if replay.raw != again.raw || replay.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("third try: %d %s, want the retry's answer replayed", replay.status, replay.raw)
			}
		})
	}
	// The creator's own approval is refused (403) whatever key it sends;
	// that refusal is not the key's answer: the approver's request with
	// the same key and body decides.
	id := held(t)
	path := "/v1/refunds/" + id + "/approve"
	if own := s.do("POST", path, s.key, nil, "Idempotency-Key", "approve-own"); own.status != 403 {
		t.Fatalf("the creator's approval: %d %s", own.status, own.raw)
	}
	if r := s.do("POST", path, approver, nil, "Idempotency-Key", "approve-own"); r.status != 200 || r.str("status") != "succeeded" ||
		r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("the approver after the creator's refusal: %d %s", r.status, r.raw)
	}
}
