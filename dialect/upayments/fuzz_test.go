package upayments_test

import (
	"context"
	"strings"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
)

// balances reads both orders' counters (inside a fuzz target, where the
// server's own helpers, bound to the fuzz F, must not be used).
func (f *fixture) balances(t *testing.T, ids ...string) [][4]int64 {
	var out [][4]int64
	for _, id := range ids {
		o, err := f.Service.GetOrder(context.Background(), f.Principal, id)
		if err != nil {
			t.Fatal(err)
		}
		row := [4]int64{o.RefundedAmount, o.PendingRefundAmount, int64(o.RefundCount)}
		for _, v := range o.Vendors {
			row[3] += v.RefundedAmount + v.PendingAmount
		}
		out = append(out, row)
	}
	return out
}

// fuzzRoute sends arbitrary bodies to one route: never a panic or a 5xx,
// every refusal in UPayments' error shape, and a refused request changes
// neither order.
func fuzzRoute(f *testing.F, path string, seeds func(fx *fixture, single, split string) []string) {
	fx := start(f)
	single, split := fx.kwdOrder("ORD-1", false), fx.kwdOrder("ORD-MV", true)
	for _, s := range seeds(fx, single.ID, split.ID) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		before := fx.balances(t, single.ID, split.ID)
		r := fx.Serve("POST", path, fx.Key, body)
		if r.Status == 200 {
			return
		}
		if r.Status >= 500 || r.Get("status") != false || r.Str("message") == "" {
			t.Fatalf("%q -> %d %s", body, r.Status, r.Raw)
		}
		if after := fx.balances(t, single.ID, split.ID); !equal(before, after) {
			t.Fatalf("%q was refused (%d) but changed an order: %v -> %v", body, r.Status, before, after)
		}
	})
}

func equal(a, b [][4]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzCreateRefund(f *testing.F) {
	fuzzRoute(f, createPath, func(fx *fixture, single, split string) []string {
		seed := dialecttest.Testdata(f, "create_refund_request.json")
		return []string{
			seedRequest(f, map[string]any{"orderId": "ORD-1"}),
			seedRequest(f, map[string]any{"orderId": "ORD-MV"}),
			strings.Replace(seed, `"totalPrice": 10`, `"totalPrice": "0.001"`, 1),
			`{"orderId":"` + single + `","totalPrice":1.0005}`,
			`{"orderId":"ORD-1","totalPrice":-0}`,
			`{"orderId":"ORD-1","totalPrice":1e2}`,
			`{"orderId":"ORD-1","totalPrice":"９"}`,
			seed,
		}
	})
}

func FuzzMultivendorRefund(f *testing.F) {
	fuzzRoute(f, multivendorPath, func(fx *fixture, single, split string) []string {
		r := fx.Do("POST", createPath, fx.Key, `{"orderId":"ORD-MV","totalPrice":1}`)
		payload := r.Get("data", "refundPayload").([]any)
		idA := payload[0].(map[string]any)["refundRequestId"].(string)
		idB := payload[1].(map[string]any)["refundRequestId"].(string)
		return []string{
			exampleMultivendor(f, "ORD-MV", "http://127.0.0.1:9/notify", idA, idB),
			mvBody("ORD-MV", idA, "1.000", idB, "0.500"),
			mvBody("ORD-MV", idA, "50.001"),
			mvBody("ORD-MV", idA, "1", idA, "1"),
			mvBody(single, idA, "1"),
			`{"orderId":"ORD-MV","refundPayload":[{"refundRequestId":"` + idB + `","amountToRefund":"25.5"}]}`,
			`{"orderId":"ORD-MV","refundPayload":null}`,
		}
	})
}
