package gateway_test

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

func card(last4 string) refund.Card {
	return refund.Card{Scheme: "mastercard", FirstDigits: "55555555", LastDigits: last4, Month: 12, Year: 2026}
}

// sarOrder is the seed's example order: SAR 2,623.46 by mastercard.
func sarOrder(ref, last4 string) refund.OrderInput {
	return refund.OrderInput{Reference: ref, Currency: "SAR", Amount: 262346, PaymentMethod: "card",
		Source: card(last4), Description: "Voluptatum at consequatur ullam."}
}

func refundPath(id string) string { return "/v1/orders/" + id + "/refund" }

// sameJSON fails unless got is the JSON document want.
func sameJSON(t *testing.T, want string, got dialecttest.Reply) {
	t.Helper()
	if w := dialecttest.Decode(t, want); !reflect.DeepEqual(w, got.Body) {
		t.Fatalf("reply body\n got %s\nwant %s", got.Raw, want)
	}
}

func sameShape(t *testing.T, seedFile string, got dialecttest.Reply) {
	t.Helper()
	if d := dialecttest.ShapeDiff(dialecttest.Decode(t, dialecttest.Testdata(t, seedFile)), got.Body); len(d) > 0 {
		t.Fatalf("reply differs from the seed's %s:\n  %s\n%s", seedFile, strings.Join(d, "\n  "), got.Raw)
	}
}

func TestRefund_SeedReply(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(sarOrder("ORD-1001", "4444"))
	tests := []struct {
		name, id, body string
		refunded       int64
	}{
		{"ByReference", "ORD-1001", dialecttest.Testdata(t, "request.json"), 1000},
		{"ByOrderID", o.ID, dialecttest.Testdata(t, "request.json"), 2000},
		{"OnCapture", "ORD-1001", strings.Replace(dialecttest.Testdata(t, "request_transaction.json"), "CAPTURE_ID", o.Transactions[0].ID, 1), 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each refund happens an hour later; the order's updated_at
			// follows it.
			s.Clock.Advance(time.Hour)
			r := s.Do("POST", refundPath(tt.id), s.Key, tt.body)
			if r.Status != 200 {
				t.Fatalf("want 200, got %d %s", r.Status, r.Raw)
			}
			sameShape(t, "reply_200.json", r)
			if want := s.Clock.Now().UTC().Format(time.RFC3339); r.Str("updated_at") != want || r.Str("created_at") == want {
				t.Fatalf("updated_at %s, want %s (created_at %s)", r.Str("updated_at"), want, r.Str("created_at"))
			}
			if r.Str("id") != tt.id || r.Str("currency") != "SAR" || r.Str("amount") != "262346" ||
				r.Str("captured_amount") != "262346" || r.Str("refunded_amount") != itoa(tt.refunded) || r.Str("voided_amount") != "0" {
				t.Fatalf("order amounts: %s", r.Raw)
			}
			if r.Str("merchant", "id") != s.Merchant.ID || r.Str("merchant", "name") != s.Merchant.Name ||
				r.Str("source", "type") != "card" || r.Str("source", "last_digits") != "4444" || r.Str("source", "month") != "12" {
				t.Fatalf("merchant or source: %s", r.Raw)
			}
			txs := r.Get("transactions").([]any)
			capture, last := txs[0].(map[string]any), txs[len(txs)-1].(map[string]any)
			if capture["type"] != "capture" || capture["status"] != "approved" || capture["amount"] != json.Number("262346") ||
				capture["refunded_amount"] != json.Number(itoa(tt.refunded)) {
				t.Fatalf("capture transaction: %v", capture)
			}
			if last["type"] != "refund" || last["status"] != "approved" || last["response_code"] != "00" ||
				last["amount"] != json.Number("1000") || last["message"] != "APPROVED" || last["retrieval_reference"] == "" ||
				last["created_at"] != s.Clock.Now().UTC().Format(time.RFC3339) {
				t.Fatalf("refund transaction: %v", last)
			}
		})
	}
}

func TestRefund_Declined(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	s.Order(sarOrder("ORD-1051", "0051"))
	r := s.Do("POST", refundPath("ORD-1051"), s.Key, `{"amount":5000}`)
	if r.Status != 200 {
		t.Fatalf("want 200, got %d %s", r.Status, r.Raw)
	}
	sameShape(t, "reply_200.json", r)
	txs := r.Get("transactions").([]any)
	last := txs[len(txs)-1].(map[string]any)
	if r.Str("refunded_amount") != "0" || last["status"] != "declined" || last["response_code"] != "51" {
		t.Fatalf("a declined refund shows as a declined transaction: %s", r.Raw)
	}
}

// TestRefund_KWD: amounts are integer minor units, so 1.005 KWD is 1005
// fils and stays exact.
func TestRefund_KWD(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	s.Order(refund.OrderInput{Reference: "ORD-KW-1", Currency: "KWD", Amount: 50_000, PaymentMethod: "knet"})
	r := s.Do("POST", refundPath("ORD-KW-1"), s.Key, `{"amount":1005}`)
	if r.Status != 200 || r.Str("currency") != "KWD" || r.Str("refunded_amount") != "1005" || r.Str("source", "type") != "knet" {
		t.Fatalf("want 200 with 1005 fils refunded, got %d %s", r.Status, r.Raw)
	}
	sameShape(t, "reply_200.json", r)
}

// TestRefund_Errors produces every documented error status; none of them
// changes the order.
func TestRefund_Errors(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(sarOrder("ORD-ERR", "4444"))
	s.Order(refund.OrderInput{Reference: "ORD-SPLIT", Currency: "KWD", Amount: 3000,
		Vendors: []refund.VendorInput{{ID: "a", Amount: 1000}, {ID: "b", Amount: 2000}}})
	other := s.NewMerchant("Other")
	readOnly := s.NewKey(refund.ScopeRefundsRead, refund.ScopeOrdersRead)
	before := s.Snap(o.ID)

	field := func(name, text string) string {
		b, _ := json.Marshal(map[string]any{"message": "Data validation failed", "errors": map[string][]string{name: {text}}})
		return string(b)
	}
	tests := []struct {
		name, path, key, body string
		status                int
		want                  string // the whole reply body
	}{
		{"MissingAuth", "ORD-ERR", "", `{"amount":1}`, 401, dialecttest.Testdata(t, "reply_401.json")},
		{"BadKey", "ORD-ERR", "rk_000000000000_00000000000000000000000000000000", `{"amount":1}`, 403, dialecttest.Testdata(t, "reply_403.json")},
		{"NotBearer", "ORD-ERR", "", `{"amount":1}`, 401, dialecttest.Testdata(t, "reply_401.json")},
		{"KeyWithoutRefundsWrite", "ORD-ERR", readOnly, `{"amount":1}`, 403, dialecttest.Testdata(t, "reply_403.json")},
		{"AmountZero", "ORD-ERR", s.Key, dialecttest.Testdata(t, "request_422.json"), 422, dialecttest.Testdata(t, "reply_422.json")},
		{"AmountNegative", "ORD-ERR", s.Key, `{"amount":-5}`, 422, dialecttest.Testdata(t, "reply_422.json")},
		{"AmountMissing", "ORD-ERR", s.Key, `{}`, 422, field("amount", "The value is required.")},
		{"AmountNull", "ORD-ERR", s.Key, `{"amount":null}`, 422, field("amount", "The value is required.")},
		{"AmountString", "ORD-ERR", s.Key, `{"amount":"1000"}`, 422, field("amount", "The value must be an integer.")},
		{"AmountFraction", "ORD-ERR", s.Key, `{"amount":10.5}`, 422, field("amount", "The value must be an integer.")},
		{"AmountExponent", "ORD-ERR", s.Key, `{"amount":1e3}`, 422, field("amount", "The value must be an integer.")},
		{"AmountBool", "ORD-ERR", s.Key, `{"amount":true}`, 422, field("amount", "The value must be an integer.")},
		{"AmountOverflow", "ORD-ERR", s.Key, `{"amount":99999999999999999999}`, 422, field("amount", "The value must be less than or equal to 9223372036854775807.")},
		{"MoreThanRefundable", "ORD-ERR", s.Key, `{"amount":262347}`, 422, field("amount", "The value must be less than or equal to 262346.")},
		{"TransactionNotString", "ORD-ERR", s.Key, `{"amount":1,"transaction_id":5}`, 422, field("transaction_id", "The value must be a string.")},
		{"UnknownTransaction", "ORD-ERR", s.Key, `{"amount":1,"transaction_id":"txn_nope"}`, 422, field("transaction_id", "The selected value is invalid.")},
		{"NotJSON", "ORD-ERR", s.Key, `amount=5`, 422, field("body", "The request body must be a JSON object.")},
		{"Array", "ORD-ERR", s.Key, `[1]`, 422, field("body", "The request body must be a JSON object.")},
		{"TrailingData", "ORD-ERR", s.Key, `{"amount":1}{}`, 422, field("body", "The request body must be a single JSON object.")},
		{"SplitOrderNeedsVendors", "ORD-SPLIT", s.Key, `{"amount":1}`, 422, field("vendors", "this order is split between vendors: say how much each vendor refunds")},
		{"MissingOrder", "ORD-NOPE", s.Key, `{"amount":1}`, 404, `{"message":"Not Found"}`},
		{"ForeignOrder", "ORD-ERR", other, `{"amount":1}`, 404, `{"message":"Not Found"}`},
		{"ForeignOrderByID", o.ID, other, `{"amount":1}`, 404, `{"message":"Not Found"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.name == "NotBearer" {
				headers = []string{"Authorization", "Basic dXNlcjpwYXNz"}
			}
			r := s.Do("POST", refundPath(tt.path), tt.key, tt.body, headers...)
			if r.Status != tt.status {
				t.Fatalf("want %d, got %d %s", tt.status, r.Status, r.Raw)
			}
			sameJSON(t, tt.want, r)
			if got := s.Snap(o.ID); got != before {
				t.Fatalf("a refused request changed the order: %+v, was %+v", got, before)
			}
		})
	}
}

// TestRefund_InitialRequestStillProcessing: a refund on an order whose
// earlier refund is still in flight waits for it, and answers the seed's
// 400 when it does not settle in time; once it settles refunds go on.
func TestRefund_InitialRequestStillProcessing(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t, func(c *server.Config) { c.InFlightWait = 50 * time.Millisecond })
	o := s.Order(refund.OrderInput{Reference: "ORD-STC", Currency: "SAR", Amount: 9900, PaymentMethod: "stcpay"})

	// A wallet refund stays processing until the wallet settles.
	first := s.Do("POST", refundPath("ORD-STC"), s.Key, `{"amount":1000}`)
	if first.Status != 200 || first.Str("refunded_amount") != "0" || len(first.Get("transactions").([]any)) != 1 {
		t.Fatalf("first refund: want 200 with nothing refunded yet, got %d %s", first.Status, first.Raw)
	}
	before := s.Snap(o.ID)
	r := s.Do("POST", refundPath("ORD-STC"), s.Key, `{"amount":500}`)
	if r.Status != 400 {
		t.Fatalf("want 400, got %d %s", r.Status, r.Raw)
	}
	sameJSON(t, dialecttest.Testdata(t, "reply_400.json"), r)
	if got := s.Snap(o.ID); got != before {
		t.Fatalf("a refused request changed the order: %+v, was %+v", got, before)
	}

	s.RunWorker(time.Minute) // the wallet settles
	r = s.Do("POST", refundPath("ORD-STC"), s.Key, `{"amount":500}`)
	if r.Status != 200 || r.Str("refunded_amount") != "1000" {
		t.Fatalf("after settling: want 200 with the first refund counted, got %d %s", r.Status, r.Raw)
	}
}

// TestRefund_RetryWhileInFlightIsAnsweredByItsKey: the route waits for the
// order's refunds in flight before it refunds. A retry of a refund that is
// itself still in flight must not wait for itself: its key, not looked up
// before the request runs (api.Idempotent), is looked up once the wait
// would begin, and the retry gets the first answer replayed at once. Told
// apart by the statements the retry makes, not by time: waiting polls the
// order until InFlightWait ends.
func TestRefund_RetryWhileInFlightIsAnsweredByItsKey(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t, func(c *server.Config) { c.InFlightWait = 3 * time.Second })
	o := s.Order(refund.OrderInput{Reference: "ORD-STC-RETRY", Currency: "SAR", Amount: 9900, PaymentMethod: "stcpay"})
	first := s.Do("POST", refundPath("ORD-STC-RETRY"), s.Key, `{"amount":1000}`, "Idempotency-Key", "retry-in-flight")
	if first.Status != 200 || first.Str("refunded_amount") != "0" {
		t.Fatalf("first refund: want 200 with nothing refunded yet, got %d %s", first.Status, first.Raw)
	}
	cs := s.Store.(refund.CountingStore)
	before := cs.Counts()
	again := s.Do("POST", refundPath("ORD-STC-RETRY"), s.Key, `{"amount":1000}`, "Idempotency-Key", "retry-in-flight")
	spent := cs.Counts().Statements - before.Statements
	if again.Status != 200 || again.Raw != first.Raw || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: %d %s %v, want the first answer replayed", again.Status, again.Raw, again.Header)
	}
	if spent > 20 {
		t.Fatalf("the retry ran %d statements: it waited for its own refund in flight", spent)
	}
	if snap := s.Snap(o.ID); snap.Refunds != 1 {
		t.Fatalf("order: %+v, want one refund", snap)
	}
}

// TestRefund_ConcurrentOnOneOrder: requests racing on one order run one at
// a time and never over-refund.
func TestRefund_ConcurrentOnOneOrder(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t, func(c *server.Config) { c.InFlightWait = 10 * time.Second })
	o := s.Order(refund.OrderInput{Reference: "ORD-RACE", Currency: "SAR", Amount: 10_000, Source: card("4444")})
	const clients, each = 15, 1000
	replies := make([]dialecttest.Reply, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { replies[i] = s.Do("POST", refundPath("ORD-RACE"), s.Key, `{"amount":1000}`) })
	}
	wg.Wait()
	var ok, exceeded int
	for _, r := range replies {
		switch {
		case r.Status == 200:
			ok++
		case r.Status == 422 && strings.Contains(r.Raw, "less than or equal to"):
			exceeded++
		default:
			t.Errorf("unexpected reply %d %s", r.Status, r.Raw)
		}
	}
	if snap := s.Snap(o.ID); ok != 10 || exceeded != clients-10 || snap.Refunded != 10*each || snap.Pending != 0 {
		t.Fatalf("ok %d exceeded %d, order %+v", ok, exceeded, snap)
	}
}

// TestRoutes_NoCollision: the dialect's route sits under the native
// /v1/orders/{id}, which keeps answering as before.
func TestRoutes_NoCollision(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(sarOrder("ORD-R", "4444"))
	if r := s.Do("GET", "/v1/orders/"+o.ID, s.Key, ""); r.Status != 200 || r.Str("object") != "order" {
		t.Fatalf("native GET order: %d %s", r.Status, r.Raw)
	}
}

// TestRoutes_AnswerInTheShape: the route's path with a method it does not
// take is answered in the seed's {"message"} shape, naming the method that
// works, not in the native /v1/ catch-all's envelope; nothing changes.
func TestRoutes_AnswerInTheShape(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(sarOrder("ORD-RT", "4444"))
	for _, tc := range []struct{ name, method, id, key string }{
		{"GetByID", "GET", o.ID, s.Key},
		{"GetByReference", "GET", "ORD-RT", s.Key},
		{"Put", "PUT", "ORD-RT", s.Key},
		{"Patch", "PATCH", "ORD-RT", s.Key},
		{"Delete", "DELETE", o.ID, s.Key},
		{"UnknownOrder", "PUT", "ORD-NONE", s.Key},
		{"NoKey", "GET", "ORD-RT", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snap(o.ID)
			r := s.Do(tc.method, refundPath(tc.id), tc.key, `{"amount":100}`)
			want := `{"message":"The ` + tc.method + ` method is not supported for this route. Supported methods: POST."}`
			if r.Status != 405 {
				t.Fatalf("want 405, got %d %s", r.Status, r.Raw)
			}
			sameJSON(t, want, r)
			if got := r.Header.Get("Allow"); got != "POST" {
				t.Fatalf("Allow: %q, want POST", got)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if after := s.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}
	// The route itself still takes POST.
	if r := s.Do("POST", refundPath("ORD-RT"), s.Key, `{"amount":100}`); r.Status != 200 {
		t.Fatalf("POST after the refusals: %d %s", r.Status, r.Raw)
	}
}

// TestRoutes_BelowTheRouteAnswerInTheShape: a path below the route (its
// trailing slash, anything after it) is the dialect's too, so it answers
// the seed's {"message"} 404, not the native envelope a client of this
// surface cannot read; nothing changes.
func TestRoutes_BelowTheRouteAnswerInTheShape(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(sarOrder("ORD-TS", "4444"))
	for _, tc := range []struct{ name, method, path string }{
		{"TrailingSlash", "POST", refundPath("ORD-TS") + "/"},
		{"TrailingSlashByID", "POST", refundPath(o.ID) + "/"},
		{"TrailingSlashGet", "GET", refundPath("ORD-TS") + "/"},
		{"Below", "POST", refundPath("ORD-TS") + "/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snap(o.ID)
			r := s.Do(tc.method, tc.path, s.Key, `{"amount":100}`)
			if r.Status != 404 {
				t.Fatalf("want 404, got %d %s", r.Status, r.Raw)
			}
			sameJSON(t, `{"message":"Not Found"}`, r)
			if after := s.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRefund_KeyIsReference: the seed has no refund reference, so the
// Idempotency-Key becomes the refund's merchant reference. After the key's
// replay window a retry still finds the same refund; the key with other
// money is the seed's 422 on Idempotency-Key, not a second refund.
func TestRefund_KeyIsReference(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(sarOrder("ORD-KEY", "4444"))
	first := s.Do("POST", refundPath("ORD-KEY"), s.Key, `{"amount":1000}`, "Idempotency-Key", "re_node1_000000000042")
	if first.Status != 200 {
		t.Fatalf("want 200, got %d %s", first.Status, first.Raw)
	}
	page, err := s.Service.ListRefunds(t.Context(), s.Principal, refund.RefundFilter{OrderID: o.ID})
	if err != nil || len(page.Data) != 1 || page.Data[0].MerchantReference != "re_node1_000000000042" {
		t.Fatalf("the key is the refund's reference: %+v %v", page.Data, err)
	}
	s.Clock.Advance(25 * time.Hour)
	if _, err := s.Service.Housekeep(t.Context()); err != nil {
		t.Fatal(err)
	}
	again := s.Do("POST", refundPath("ORD-KEY"), s.Key, `{"amount":1000}`, "Idempotency-Key", "re_node1_000000000042")
	if again.Status != 200 || again.Header.Get("Idempotent-Replayed") != "" || again.Str("refunded_amount") != "1000" {
		t.Fatalf("after the key expired: want the same refund, got %d %s", again.Status, again.Raw)
	}
	other := s.Do("POST", refundPath("ORD-KEY"), s.Key, `{"amount":2000}`, "Idempotency-Key", "re_node1_000000000042")
	if other.Status != 422 {
		t.Fatalf("the key with other money: want 422, got %d %s", other.Status, other.Raw)
	}
	sameJSON(t, `{"message":"Data validation failed","errors":{"Idempotency-Key":["The key was already used for a different request."]}}`, other)
	// A key that cannot be a reference is only a key.
	odd := s.Do("POST", refundPath("ORD-KEY"), s.Key, `{"amount":500}`, "Idempotency-Key", "key with spaces")
	if odd.Status != 200 {
		t.Fatalf("a key that is no reference: %d %s", odd.Status, odd.Raw)
	}
	if snap := s.Snap(o.ID); snap.Refunds != 2 || snap.Refunded != 1500 {
		t.Fatalf("order: %+v", snap)
	}
}

// TestRefund_LongReference: {id} may be the merchant's order reference,
// which may be up to 255 characters; an order with a long one is refunded
// as any other, and an id longer than any reference is an unknown order.
func TestRefund_LongReference(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	tests := []struct {
		name, ref string
	}{
		{"129", "ORD-" + strings.Repeat("1", 125)},
		{"200", "ORD-" + strings.Repeat("2", 196)},
		{"255", "ORD-" + strings.Repeat("5", 251)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := s.Order(sarOrder(tt.ref, "4444"))
			r := s.Do("POST", refundPath(tt.ref), s.Key, `{"amount":1000}`)
			if r.Status != 200 || r.Str("id") != tt.ref || r.Str("refunded_amount") != "1000" {
				t.Fatalf("want 200 with 1000 refunded, got %d %s", r.Status, r.Raw)
			}
			sameShape(t, "reply_200.json", r)
			if snap := s.Snap(o.ID); snap.Refunds != 1 || snap.Refunded != 1000 {
				t.Fatalf("order after the refund: %+v", snap)
			}
		})
	}
	r := s.Do("POST", refundPath("ORD-"+strings.Repeat("6", 252)), s.Key, `{"amount":1000}`)
	if r.Status != 404 {
		t.Fatalf("an id longer than any reference: want 404, got %d %s", r.Status, r.Raw)
	}
	sameJSON(t, `{"message":"Not Found"}`, r)
}
