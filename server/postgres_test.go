package server_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/idgen"
	"github.com/refundd/refundd/server"
	"github.com/refundd/refundd/store/postgres/pgtest"
)

// onDB runs the server on the database url, with real ids so that several
// servers (nodes) can share it.
func onDB(url string) serverOpt {
	return func(c *server.Config) { c.DB, c.NewID = url, idgen.New }
}

func TestPostgres_OpenStore(t *testing.T) {
	url := pgtest.URL(t, 4)
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
	url := pgtest.URL(t, 0)
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
// merchant_reference and no idempotency key, racing on two nodes, all get
// the same refund (the winner's), and only one is made.
func TestPostgres_MerchantReferenceRace(t *testing.T) {
	url := pgtest.URL(t, 0)
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
	for i, r := range replies {
		if r.status != http.StatusCreated || r.str("id") != replies[0].str("id") {
			t.Fatalf("reply %d: %d %s; want the one refund %s", i, r.status, r.raw, replies[0].str("id"))
		}
	}
	if o := a.do("GET", "/v1/orders/"+orderID, a.key, nil); o.num("refunded_amount")+o.num("pending_refund_amount") != 1_000 {
		t.Fatalf("order after the race: %s", o.raw)
	}
}
