package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/refundd/refundd/idgen"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/postgres/pgtest"
)

// onDB runs the server on the database url, with real ids so that several
// servers (nodes) can share it.
func onDB(url string) serverOpt {
	return func(c *server.Config) { c.DB, c.NewID = url, idgen.New }
}

// pgSchema is an empty migrated schema of the test's own, from pgtest's
// pool (pgtest.Migrated), its pools capped at maxConns (0: 8).
func pgSchema(t *testing.T, maxConns int) string {
	return pgtest.Migrated(t, maxConns, func(ctx context.Context, url string) error {
		st, err := server.OpenStore(ctx, url)
		if err != nil {
			return err
		}
		return st.Close()
	})
}

func TestPostgres_OpenStore(t *testing.T) {
	url := pgSchema(t, 4)
	for _, tc := range []struct {
		name, db string
		ok       bool
	}{
		{"OK", url, true},
		{"PostgresqlScheme", "postgresql" + url[len("postgres"):], true},
		{"Unreachable", "postgres://refundd@127.0.0.1:1/refundd?sslmode=disable&connect_timeout=5", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := server.OpenStore(context.Background(), tc.db)
			if !tc.ok {
				// A failed open must be a nil interface, not a typed nil
				// that callers would take for a store.
				if err == nil || st != nil {
					t.Fatalf("OpenStore = %#v, %v; want nil and an error", st, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPostgres_TwoNodes runs two servers on one schema, as two stateless
// nodes behind a load balancer: a key created through one works on the
// other, concurrent refunds sent to both never over-refund the order, and a
// refund queued on one node is executed by the other node's worker.
func TestPostgres_TwoNodes(t *testing.T) {
	url := pgSchema(t, 0)
	a, b := mustStart(t, onDB(url)), mustStart(t, onDB(url))
	nodes := []*testServer{a, b}

	const captured, each, clients = 40_000, 1_000, 60 // room for 40 of 60
	orderID := a.mustOrder(cardOrder("4444", captured))
	var wg sync.WaitGroup
	replies := make([]reply, clients)
	for i := range clients {
		wg.Go(func() {
			replies[i] = nodes[i%2].do("POST", "/v1/refunds", a.key, map[string]any{"order_id": orderID, "amount": each})
		})
	}
	wg.Wait()
	var ok, exceeded int
	for _, r := range replies {
		switch {
		case r.status == http.StatusCreated && r.str("status") == "succeeded":
			ok++
		case r.status == http.StatusUnprocessableEntity && r.str("error", "code") == "amount_exceeds_refundable":
			exceeded++
		default:
			t.Fatalf("unexpected reply %d %s", r.status, r.raw)
		}
	}
	if ok != captured/each || exceeded != clients-captured/each {
		t.Fatalf("succeeded %d, exceeded %d; want %d and %d", ok, exceeded, captured/each, clients-captured/each)
	}
	for _, n := range nodes {
		o := n.do("GET", "/v1/orders/"+orderID, a.key, nil)
		if o.num("refunded_amount") != captured || o.num("pending_refund_amount") != 0 {
			t.Fatalf("order as node sees it: %s", o.raw)
		}
	}
	if executed := len(a.Sandbox.Executed()) + len(b.Sandbox.Executed()); executed != ok {
		t.Fatalf("acquirers executed %d refunds, refundd succeeded %d", executed, ok)
	}

	// Queued on a; only b's worker runs, after the hold.
	other := a.mustOrder(cardOrder("4444", 5_000))
	q := a.do("POST", "/v1/refunds", a.key, map[string]any{"order_id": other, "amount": 1_000, "queue": true})
	if q.status != http.StatusCreated || q.str("status") != "pending" {
		t.Fatalf("queued refund: %d %s", q.status, q.raw)
	}
	before := len(b.Sandbox.Executed())
	b.runWorker(2 * time.Minute)
	if r := a.do("GET", "/v1/refunds/"+q.str("id"), a.key, nil); r.str("status") != "succeeded" {
		t.Fatalf("refund queued on node a after node b's worker ran: %s", r.raw)
	}
	if got := len(b.Sandbox.Executed()) - before; got != 1 {
		t.Fatalf("node b executed %d refunds, want the queued one", got)
	}
}

// TestPostgres_MerchantReferenceRace: identical requests with one
// merchant_reference and no idempotency key, racing on two nodes, make one
// refund: each gets it (the winner's), or, while the winner's request is
// still running, is told so (409 idempotency_key_in_use, as for an
// Idempotency-Key in flight), and a retry after gets it.
func TestPostgres_MerchantReferenceRace(t *testing.T) {
	url := pgSchema(t, 0)
	a, b := mustStart(t, onDB(url)), mustStart(t, onDB(url))
	orderID := a.mustOrder(cardOrder("4444", 10_000))
	const clients = 16
	replies := make([]reply, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			replies[i] = []*testServer{a, b}[i%2].do("POST", "/v1/refunds", a.key,
				map[string]any{"order_id": orderID, "amount": 1_000, "merchant_reference": "RMA-1"})
		})
	}
	wg.Wait()
	id := ""
	for i, r := range replies {
		switch {
		case r.status == http.StatusConflict && r.str("error", "code") == refund.EIdempotencyKeyInUse:
		case r.status == http.StatusCreated && (id == "" || r.str("id") == id):
			id = r.str("id")
		default:
			t.Fatalf("reply %d: %d %s; want the one refund %s, or in use", i, r.status, r.raw, id)
		}
	}
	if id == "" {
		t.Fatal("no request got the refund")
	}
	if r := b.do("POST", "/v1/refunds", a.key, map[string]any{"order_id": orderID, "amount": 1_000, "merchant_reference": "RMA-1"}); r.status != http.StatusCreated || r.str("id") != id {
		t.Fatalf("a retry after the race: %d %s; want the one refund %s", r.status, r.raw, id)
	}
	if o := a.do("GET", "/v1/orders/"+orderID, a.key, nil); o.num("refunded_amount")+o.num("pending_refund_amount") != 1_000 {
		t.Fatalf("order after the race: %s", o.raw)
	}
}

// TestPostgres_KeyRevocationReachesEveryNode: authentication reads a key
// once per KeyCacheTTL, not once per request, and a revocation still takes
// effect at once on another node (the revoking transaction's NOTIFY drops
// the key from every node's cache); when that notification is lost (here:
// a revocation written behind refundd's back), within the TTL.
func TestPostgres_KeyRevocationReachesEveryNode(t *testing.T) {
	url := pgSchema(t, 0)
	a, b := mustStart(t, onDB(url)), mustStart(t, onDB(url))
	ctx := context.Background()
	keyOn := func(n *testServer) int { return n.do("GET", "/v1/orders", a.key, nil).status }

	// A second key of a's merchant, used on b (cached there), revoked on a.
	k, raw, err := a.Service.CreateKey(ctx, a.mer.ID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	// A third, for the unannounced revocation below, created now: the
	// notice of its creation (which drops it from b's cache) reaches b
	// before that of k's revocation, which the test waits for.
	k2, raw2, err := a.Service.CreateKey(ctx, a.mer.ID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.do("GET", "/v1/orders", raw, nil).status; got != http.StatusOK {
		t.Fatalf("new key on b: %d", got)
	}
	if err := a.Service.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second) // the notification is asynchronous; it comes in milliseconds
	for b.do("GET", "/v1/orders", raw, nil).status != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("b still accepts a key revoked on a after 5s: the notification never dropped it")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := a.do("GET", "/v1/orders", raw, nil).status; got != http.StatusUnauthorized {
		t.Fatalf("a accepts the key it revoked: %d", got)
	}

	// A revocation no notification announces: b keeps the key until its
	// cache entry is KeyCacheTTL (5s) old on b's clock, then refuses it.
	// b reads the key three times: a read that a drop of another key in
	// its bucket races (other tests create keys in this database, and
	// every node hears them) is not cached, and three in a row would be.
	for range 3 {
		if got := b.do("GET", "/v1/orders", raw2, nil).status; got != http.StatusOK {
			t.Fatalf("second key on b: %d", got)
		}
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, k2.ID); err != nil {
		t.Fatal(err)
	}
	if got := b.do("GET", "/v1/orders", raw2, nil).status; got != http.StatusOK {
		t.Fatalf("b right after an unannounced revocation: %d, want the cached key still accepted", got)
	}
	b.clock.Advance(5 * time.Second)
	if got := b.do("GET", "/v1/orders", raw2, nil).status; got != http.StatusUnauthorized {
		t.Fatalf("b after the TTL: %d, want 401", got)
	}
	if keyOn(a) != http.StatusOK || keyOn(b) != http.StatusOK {
		t.Fatal("the merchant's first key stopped working")
	}
}

// TestPostgres_TextItCannotHold: a string PostgreSQL cannot hold as text
// (a NUL, bytes that are not UTF-8), in a path, a query or a body, on any
// surface, is a 400 in that surface's shape, not a 500; a refund carrying
// one, among others batched with it, fails alone and changes nothing.
func TestPostgres_TextItCannotHold(t *testing.T) {
	s := mustStart(t, onDB(pgSchema(t, 0)))
	order := s.mustOrder(cardOrder("4444", 10_000))
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"GET", "/v1/orders/%FF", nil, 400},
		{"GET", "/v1/refunds/re_%00", nil, 400},
		{"GET", "/v1/orders?reference=%FF", nil, 400},
		{"GET", "/v1/refunds?order_id=%00", nil, 400},
		{"GET", "/v1/events?refund_id=%00", nil, 400},
		{"GET", "/v1/audit?action=%FF", nil, 400},
		{"POST", "/v1/orders", `{"reference":"NUL-1","currency":"SAR","amount":100,"payment_method":"card","description":"a\u0000b"}`, 400},
		{"POST", "/v1/refunds", `{"order_id":"` + order + `","amount":100,"reason":"a\u0000b"}`, 400},
		// The gateway's unknown order (no order has such an id), and
		// SGate's bad request.
		{"POST", "/v1/orders/%00/refund", map[string]any{"amount": 100}, 404},
		{"POST", "/orders/%FF/refunds", map[string]any{"amount": "1.00", "reason": "x"}, 400},
	} {
		r := s.do(tc.method, tc.path, s.key, tc.body)
		if r.status != tc.want {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.raw, tc.want)
		} else if tc.want == 400 && strings.HasPrefix(tc.path, "/v1/") && r.str("error", "code") != "invalid_request" {
			t.Errorf("%s %s: %s, want the native invalid_request", tc.method, tc.path, r.raw)
		}
	}
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reason := "fine"
			if i%2 == 1 {
				reason = "bad\x00"
			}
			statuses[i] = s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100, "reason": reason}).status
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if want := map[bool]int{true: http.StatusBadRequest, false: http.StatusCreated}[i%2 == 1]; st != want {
			t.Errorf("refund %d: %d, want %d", i, st, want)
		}
	}
	if o := s.do("GET", "/v1/orders/"+order, s.key, nil); o.num("refunded_amount") != 800 || o.num("pending_refund_amount") != 0 {
		t.Fatalf("after 8 good and 8 bad refunds: %s", o.raw)
	}
	if r := s.do("GET", "/v1/orders?reference=NUL-1", s.key, nil); len(r.get("data").([]any)) != 0 {
		t.Fatalf("the refused order was made: %s", r.raw)
	}
}

// TestPostgres_ProcessorTextIsNoBadRequest: text that PostgreSQL cannot
// hold may come from the processor (a NUL in its message, or a message cut
// inside a character when it is shortened to fit), not from the request.
// Recording it must not fail, least of all as the caller's invalid_request:
// a sync of a refund the caller named correctly is no bad request.
func TestPostgres_ProcessorTextIsNoBadRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"NULInDecline", 200, `{"status":"declined","response_code":"05","message":"do not\u0000honor"}`},
		{"LongArabicMessage", 503, `{"code":"issuer_unavailable","message":"x` + strings.Repeat("ع", 200) + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStart(t, onDB(pgSchema(t, 0)), func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(ts.Close)
			if _, err := s.Service.AddProcessorAccount(context.Background(), s.mer.ID,
				refund.ProcessorAccountInput{Name: "acq", Kind: "acquirer", URL: ts.URL}); err != nil {
				t.Fatal(err)
			}
			o := cardOrder("4444", 10_000)
			o["processor"], o["processor_order_id"] = "acq", "PAY-1"
			order := s.mustOrder(o)
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 1500})
			if r.status != http.StatusCreated {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			got := s.do("POST", "/v1/refunds/"+r.str("id")+"/sync", s.key, nil)
			if got.status != http.StatusOK {
				t.Fatalf("sync: %d %s, want 200 with the processor's answer recorded", got.status, got.raw)
			}
			if m := got.str("failure_message"); !utf8.ValidString(m) || strings.ContainsRune(m, 0) {
				t.Fatalf("failure_message %q", m)
			}
		})
	}
}
