package server_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

func TestRefund_ConcurrentPartialRefundsNeverOverRefund(t *testing.T) {
	s := mustStart(t)
	const captured, each, clients = 150_000, 1_000, 200 // room for 150 of 200
	orderID := s.mustOrder(cardOrder("4444", captured))

	var wg sync.WaitGroup
	replies := make([]reply, clients)
	for i := range clients {
		wg.Go(func() {
			replies[i] = s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": each, "reason": "concurrency"})
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
			t.Errorf("unexpected reply %d %s", r.status, r.raw)
		}
	}
	if ok != captured/each || exceeded != clients-captured/each {
		t.Fatalf("succeeded %d, exceeded %d; want %d and %d", ok, exceeded, captured/each, clients-captured/each)
	}
	o := s.do("GET", "/v1/orders/"+orderID, s.key, nil)
	if refunded, pending := o.num("refunded_amount"), o.num("pending_refund_amount"); refunded+pending > captured || refunded != int64(ok*each) || pending != 0 {
		t.Fatalf("order refunded %d pending %d, captured %d, succeeded refunds %d", refunded, pending, captured, ok)
	}
	if executed := len(s.Sandbox.Executed()); executed != ok {
		t.Fatalf("acquirer executed %d refunds, refundd succeeded %d", executed, ok)
	}
}

func TestRefund_SandboxBehaviours(t *testing.T) {
	tests := []struct {
		name      string
		order     map[string]any
		first     string        // status in the create reply
		advance   time.Duration // clock moved before each worker pass
		passes    int
		final     string
		failure   string
		minTries  int
		refunded  int64
		processor time.Duration
	}{
		{name: "Approved", order: cardOrder("4444", 5000), first: "succeeded", final: "succeeded", refunded: 5000},
		{name: "Declined51ReleasesReservation", order: cardOrder("0051", 5000), first: "failed", final: "failed", failure: "51"},
		{name: "Declined05", order: cardOrder("0005", 5000), first: "failed", final: "failed", failure: "05"},
		{name: "IssuerUnavailable91RetriedThenApproved", order: cardOrder("0091", 5000), first: "processing",
			advance: 5 * time.Minute, passes: 3, final: "succeeded", minTries: 3, refunded: 5000},
		{name: "NoAnswer99SettledByStatusCheck", order: cardOrder("0099", 5000), first: "processing",
			advance: 5 * time.Minute, passes: 1, final: "succeeded", minTries: 1, refunded: 5000, processor: 50 * time.Millisecond},
		{name: "WalletPendingThenSettled", order: map[string]any{"amount": 5000, "payment_method": "stcpay"}, first: "processing",
			advance: time.Minute, passes: 1, final: "succeeded", refunded: 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []serverOpt
			if tt.processor > 0 {
				opts = append(opts, withProcessorTimeout(tt.processor))
			}
			s := mustStart(t, opts...)
			orderID := s.mustOrder(tt.order)
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "reason": tt.name})
			if r.status != http.StatusCreated || r.str("status") != tt.first {
				t.Fatalf("create: want 201 %s, got %d %s", tt.first, r.status, r.raw)
			}
			id := r.str("id")
			if tt.first == "processing" {
				o := s.do("GET", "/v1/orders/"+orderID, s.key, nil)
				if o.num("pending_refund_amount") != 5000 {
					t.Fatalf("a processing refund must hold its reservation: %s", o.raw)
				}
			}
			for range tt.passes {
				s.runWorker(tt.advance)
			}
			got := s.do("GET", "/v1/refunds/"+id, s.key, nil)
			if got.str("status") != tt.final || got.str("failure_code") != tt.failure {
				t.Fatalf("want %s failure %q, got %s", tt.final, tt.failure, got.raw)
			}
			if got.num("attempts") < int64(tt.minTries) {
				t.Fatalf("want at least %d attempts, got %s", tt.minTries, got.raw)
			}
			o := s.do("GET", "/v1/orders/"+orderID, s.key, nil)
			if o.num("refunded_amount") != tt.refunded || o.num("pending_refund_amount") != 0 {
				t.Fatalf("order after %s: %s", tt.final, o.raw)
			}
			if tt.final == "succeeded" && (got.str("arn") == "" || got.str("rrn") == "") {
				t.Fatalf("a succeeded refund carries ARN and RRN: %s", got.raw)
			}
			hist := s.do("GET", "/v1/refunds/"+id+"/transitions", s.key, nil)
			data, _ := hist.get("data").([]any)
			if len(data) < 3 {
				t.Fatalf("want created, submitted and final transitions: %s", hist.raw)
			}
		})
	}
}

func TestRefund_WalletStaysProcessingUntilSettled(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(map[string]any{"amount": 9900, "payment_method": "stcpay"})
	id := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID}).str("id")
	s.runWorker(10 * time.Second) // settle delay is 30s: still pending at the acquirer
	if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != "processing" {
		t.Fatalf("before settlement: %s", st)
	}
	s.runWorker(30 * time.Second)
	if st := s.do("GET", "/v1/refunds/"+id, s.key, nil).str("status"); st != "succeeded" {
		t.Fatalf("after settlement: %s", st)
	}
}

func TestRefund_Idempotency(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	body := map[string]any{"order_id": orderID, "amount": 1000}

	first := s.do("POST", "/v1/refunds", s.key, body, "Idempotency-Key", "k-1")
	again := s.do("POST", "/v1/refunds", s.key, body, "Idempotency-Key", "k-1")
	if first.status != 201 || again.status != 201 || first.str("id") != again.str("id") {
		t.Fatalf("replay must answer the same refund: %s / %s", first.raw, again.raw)
	}
	other := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 2000}, "Idempotency-Key", "k-1")
	expectError(t, other, http.StatusUnprocessableEntity, "idempotency_key_reused")
	// The refusal says what to do: another request needs another key (it
	// said only that the key "was used with a different request").
	if msg := other.str("error", "message"); !strings.Contains(msg, "new Idempotency-Key") {
		t.Fatalf("idempotency_key_reused does not say what to do: %s", other.raw)
	}
	if o := s.do("GET", "/v1/orders/"+orderID, s.key, nil); o.num("refunded_amount") != 1000 {
		t.Fatalf("replays must not refund again: %s", o.raw)
	}
	// Keys are per merchant: another merchant may use the same key.
	otherKey := s.newMerchant("Other")
	r := s.do("POST", "/v1/refunds", otherKey, body, "Idempotency-Key", "k-1")
	expectError(t, r, http.StatusNotFound, "order_not_found")
}

func TestRefund_IdempotencyConcurrentSameKey(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 100_000))
	body := map[string]any{"order_id": orderID, "amount": 1000}
	const n = 40
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { replies[i] = s.do("POST", "/v1/refunds", s.key, body, "Idempotency-Key", "same") })
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range replies {
		switch {
		case r.status == 201:
			ids[r.str("id")] = true
		case r.status == 409 && r.str("error", "code") == "idempotency_key_in_use":
		default:
			t.Fatalf("unexpected %d %s", r.status, r.raw)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("one key must make one refund, got %d", len(ids))
	}
	if o := s.do("GET", "/v1/orders/"+orderID, s.key, nil); o.num("refunded_amount") != 1000 {
		t.Fatalf("refunded %s", o.raw)
	}
}

func TestRefund_MerchantReferenceIsUniqueAndReplays(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	body := map[string]any{"order_id": orderID, "amount": 1000, "merchant_reference": "RMA-77"}
	a := s.do("POST", "/v1/refunds", s.key, body)
	b := s.do("POST", "/v1/refunds", s.key, body)
	if a.status != 201 || b.status != 201 || a.str("id") != b.str("id") {
		t.Fatalf("same reference and request must replay: %s / %s", a.raw, b.raw)
	}
	body["amount"] = 2000
	expectError(t, s.do("POST", "/v1/refunds", s.key, body), http.StatusConflict, "merchant_reference_reused")
}

func TestRefund_FullRemainderAndExceeds(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 2500}); r.status != 201 {
		t.Fatal(r.raw)
	}
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 7501})
	expectError(t, r, http.StatusUnprocessableEntity, "amount_exceeds_refundable")
	full := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID})
	if full.status != 201 || full.num("amount") != 7500 {
		t.Fatalf("omitting amount refunds the remainder: %s", full.raw)
	}
	expectError(t, s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID}), http.StatusUnprocessableEntity, "amount_exceeds_refundable")
}

func TestRefund_QueuedCanBeCanceled(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 4000, "queue": true})
	if r.status != 201 || r.str("status") != "pending" {
		t.Fatal(r.raw)
	}
	if o := s.do("GET", "/v1/orders/"+orderID, s.key, nil); o.num("pending_refund_amount") != 4000 {
		t.Fatalf("a queued refund reserves: %s", o.raw)
	}
	c := s.do("POST", "/v1/refunds/"+r.str("id")+"/cancel", s.key, nil)
	if c.status != 200 || c.str("status") != "canceled" {
		t.Fatal(c.raw)
	}
	expectError(t, s.do("POST", "/v1/refunds/"+r.str("id")+"/cancel", s.key, nil), http.StatusConflict, "refund_not_cancelable")
	if o := s.do("GET", "/v1/orders/"+orderID, s.key, nil); o.num("pending_refund_amount") != 0 || o.num("refunded_amount") != 0 {
		t.Fatalf("cancel releases the reservation: %s", o.raw)
	}
	s.runWorker(time.Hour)
	if len(s.Sandbox.Executed()) != 0 {
		t.Fatal("a canceled refund must never reach the processor")
	}

	// A queued refund that is not canceled is submitted by the worker.
	q := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 1000, "queue": true})
	s.runWorker(2 * time.Minute)
	if st := s.do("GET", "/v1/refunds/"+q.str("id"), s.key, nil).str("status"); st != "succeeded" {
		t.Fatalf("queued refund after the hold: %s", st)
	}
}

func TestRefund_SyncRepairsAProcessingRefund(t *testing.T) {
	s := mustStart(t, withProcessorTimeout(50*time.Millisecond))
	orderID := s.mustOrder(cardOrder("0099", 5000))
	id := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID}).str("id")
	r := s.do("POST", "/v1/refunds/"+id+"/sync", s.key, nil)
	if r.status != 200 || r.str("status") != "succeeded" {
		t.Fatalf("sync: %s", r.raw)
	}
	if again := s.do("POST", "/v1/refunds/"+id+"/sync", s.key, nil); again.str("status") != "succeeded" {
		t.Fatalf("sync of a final refund keeps it: %s", again.raw)
	}
	if n := len(s.Sandbox.Executed()); n != 1 {
		t.Fatalf("executed %d times", n)
	}
}

func TestTenantIsolationAndAuth(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	refundID := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 100}).str("id")
	other := s.newMerchant("Other Merchant")
	tests := []struct {
		name, method, path, key string
		body                    any
		status                  int
		code                    string
	}{
		{"ForeignOrder", "GET", "/v1/orders/" + orderID, other, nil, 404, "order_not_found"},
		{"ForeignRefund", "GET", "/v1/refunds/" + refundID, other, nil, 404, "refund_not_found"},
		{"ForeignRefundCancel", "POST", "/v1/refunds/" + refundID + "/cancel", other, nil, 404, "refund_not_found"},
		{"ForeignOrderRefund", "POST", "/v1/refunds", other, map[string]any{"order_id": orderID, "amount": 1}, 404, "order_not_found"},
		{"MissingOrder", "GET", "/v1/orders/ord_nope", s.key, nil, 404, "order_not_found"},
		{"NoKey", "GET", "/v1/orders", "", nil, 401, "unauthorized"},
		{"MalformedKey", "GET", "/v1/orders", "not-a-key", nil, 401, "unauthorized"},
		{"UnknownKey", "GET", "/v1/orders", "rk_000000000000_00000000000000000000000000000000", nil, 401, "unauthorized"},
		{"WrongSecret", "GET", "/v1/orders", s.key[:16] + "00000000000000000000000000000000", nil, 401, "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectError(t, s.do(tt.method, tt.path, tt.key, tt.body), tt.status, tt.code)
		})
	}
	if list := s.do("GET", "/v1/refunds", other, nil); len(list.get("data").([]any)) != 0 {
		t.Fatalf("other merchant lists nothing: %s", list.raw)
	}
}

func TestScopes(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	_, readOnly, err := s.Service.CreateKey(t.Context(), s.mer.ID, "", []string{"orders:read", "refunds:read"})
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, s.do("POST", "/v1/refunds", readOnly, map[string]any{"order_id": orderID, "amount": 1}), 403, "forbidden")
	expectError(t, s.do("POST", "/v1/orders", readOnly, cardOrder("4444", 1)), 403, "forbidden")
	if r := s.do("GET", "/v1/orders/"+orderID, readOnly, nil); r.status != 200 {
		t.Fatal(r.raw)
	}
	k, _ := s.Service.ListKeys(t.Context())
	for _, key := range k {
		if err := s.Service.RevokeKey(t.Context(), key.ID); err != nil {
			t.Fatal(err)
		}
	}
	expectError(t, s.do("GET", "/v1/orders/"+orderID, readOnly, nil), 401, "unauthorized")
}

func TestListPagination(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 100_000))
	for range 5 {
		if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 100}); r.status != 201 {
			t.Fatal(r.raw)
		}
	}
	// Every refund once, newest first or, with order=oldest, in the
	// order they were asked for (an approvals queue).
	walk := func(order string) []string {
		var seen []string
		cursor := ""
		for page := 0; ; page++ {
			path := "/v1/refunds?limit=2&order_id=" + orderID + order
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := s.do("GET", path, s.key, nil)
			for _, d := range r.get("data").([]any) {
				seen = append(seen, d.(map[string]any)["id"].(string))
			}
			if r.get("has_more") != true {
				return seen
			}
			cursor = r.str("next_cursor")
			if page > 5 {
				t.Fatal("pagination does not end")
			}
		}
	}
	newest, oldest := walk(""), walk("&order=oldest")
	if len(newest) != 5 || !slices.IsSortedFunc(newest, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Fatalf("paged through %v, want 5 refunds newest first", newest)
	}
	if slices.Reverse(oldest); !slices.Equal(oldest, newest) {
		t.Fatalf("order=oldest paged through %v, want %v reversed", oldest, newest)
	}
	if r := s.do("GET", "/v1/refunds?order=newest&limit=1", s.key, nil); r.status != 200 || !strings.Contains(r.raw, newest[0]) {
		t.Fatalf("order=newest: %d %s", r.status, r.raw)
	}
	if r := s.do("GET", "/v1/refunds?status=succeeded&limit=100", s.key, nil); len(r.get("data").([]any)) != 5 {
		t.Fatal(r.raw)
	}
	if r := s.do("GET", "/v1/refunds?status=failed", s.key, nil); len(r.get("data").([]any)) != 0 {
		t.Fatal(r.raw)
	}
	from := s.clock.Now().Add(time.Minute).Format(time.RFC3339)
	if r := s.do("GET", "/v1/refunds?created_gte="+from, s.key, nil); len(r.get("data").([]any)) != 0 {
		t.Fatal(r.raw)
	}
	if r := s.do("GET", fmt.Sprintf("/v1/orders?reference=%s", "nope"), s.key, nil); len(r.get("data").([]any)) != 0 {
		t.Fatal(r.raw)
	}
}

// TestListRefunds_CreatedBoundsFarFromNow filters refunds by times the
// document accepts (RFC 3339 of any year, unix seconds of up to 12 digits)
// that lie outside what int64 nanoseconds hold (1677 to 2262): a refund of
// today is after 1600 and before 2300 on every store.
func TestListRefunds_CreatedBoundsFarFromNow(t *testing.T) {
	backends := []struct {
		name string
		opts []serverOpt
	}{{"SQLite", nil}}
	if os.Getenv("REFUNDD_TEST_POSTGRES") != "" {
		backends = append(backends, struct {
			name string
			opts []serverOpt
		}{"Postgres", []serverOpt{onDB(pgSchema(t, 0))}})
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := mustStart(t, b.opts...)
			orderID := s.mustOrder(cardOrder("4444", 10_000))
			if r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 100}); r.status != 201 {
				t.Fatal(r.raw)
			}
			for _, tc := range []struct {
				query string
				want  int
			}{
				{"created_gte=1600-01-01T00:00:00Z", 1},
				{"created_lt=1600-01-01T00:00:00Z", 0},
				{"created_gte=2300-01-01T00:00:00Z", 0},
				{"created_lt=2300-01-01T00:00:00Z", 1},
				{"created_gte=99999999999", 0}, // year 5138
				{"created_lt=99999999999", 1},
			} {
				r := s.do("GET", "/v1/refunds?"+tc.query, s.key, nil)
				data, _ := r.get("data").([]any)
				if r.status != 200 || len(data) != tc.want {
					t.Errorf("%s: want %d refunds, got %d %s", tc.query, tc.want, r.status, r.raw)
				}
			}
		})
	}
}

// TestListCursorsNotGivenByTheList sends every native list a cursor none
// of its pages gave: a made-up one and another list's id. The document
// promises 400 invalid_request for them; taken as an id to page below,
// "zzz" lists the first page again and an order id lists refunds from
// wherever it sorts.
func TestListCursorsNotGivenByTheList(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(cardOrder("4444", 10_000))
	refundID := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 100}).str("id")
	ep := s.do("POST", "/v1/webhook_endpoints", s.key, map[string]any{"url": "https://hooks.example.com/cursor"})
	if ep.status != 201 {
		t.Fatal(ep.raw)
	}
	for _, list := range []string{"/v1/orders", "/v1/refunds", "/v1/events", "/v1/audit", "/v1/discrepancies",
		"/v1/webhook_endpoints/" + ep.str("id") + "/deliveries"} {
		for _, cursor := range []string{"zzz", orderID, refundID} {
			if strings.HasPrefix(list, "/v1/orders") && cursor == orderID || strings.HasPrefix(list, "/v1/refunds") && cursor == refundID {
				continue // this list's own id
			}
			t.Run(list+"/"+cursor, func(t *testing.T) {
				r := s.do("GET", list+"?cursor="+cursor, s.key, nil)
				expectError(t, r, 400, "invalid_request")
				if r.str("error", "param") != "cursor" {
					t.Fatalf("param: want cursor, got %s", r.raw)
				}
			})
		}
	}
}

// TestTextLimitsCountCharacters sends Arabic text (two bytes a letter in
// UTF-8) within the limits the document gives in characters: a refund
// reason of 300 letters (limit 500), an order description of 600 (1000),
// a customer, card holder, line and vendor name within theirs. Counted
// in bytes they were refused at half their length, with a message
// naming the limit in characters.
func TestTextLimitsCountCharacters(t *testing.T) {
	s := mustStart(t)
	ar := func(n int) string { return strings.Repeat("ع", n) }
	o := s.do("POST", "/v1/orders", s.key, map[string]any{"currency": "SAR", "amount": 10_000, "description": ar(600),
		"customer": map[string]any{"name": ar(150)}, "source": map[string]any{"name": ar(80)},
		"items":   []any{map[string]any{"id": "l1", "qty": 1, "unit_amount": 10_000, "name_en": "Dates", "name_ar": ar(150)}},
		"vendors": []any{map[string]any{"id": "v1", "amount": 10_000, "name": ar(150)}}})
	if o.status != 201 {
		t.Fatalf("order with Arabic text within the limits: %d %s", o.status, o.raw)
	}
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": o.str("id"), "amount": 100, "reason": ar(300),
		"vendors": []any{map[string]any{"vendor_id": "v1", "amount": 100}}})
	if r.status != 201 || r.str("reason") != ar(300) {
		t.Fatalf("refund with a 300-letter Arabic reason: %d %s", r.status, r.raw)
	}
	// The limits still hold, in characters.
	r = s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": o.str("id"), "amount": 100, "reason": ar(501),
		"vendors": []any{map[string]any{"vendor_id": "v1", "amount": 100}}})
	expectError(t, r, 400, "invalid_request")
	r = s.do("POST", "/v1/orders", s.key, map[string]any{"currency": "SAR", "amount": 100, "description": ar(1001)})
	expectError(t, r, 400, "invalid_request")
	// The other texts a person writes: a void's reason, an endpoint's
	// description (limits 500), within and past their limits.
	for _, tc := range []struct {
		path string
		body func(n int) map[string]any
	}{
		{"/v1/orders/" + o.str("id") + "/voids", func(n int) map[string]any { return map[string]any{"amount": 1, "reason": ar(n)} }},
		{"/v1/webhook_endpoints", func(n int) map[string]any {
			return map[string]any{"url": "https://hooks.example/" + fmt.Sprint(n), "description": ar(n)}
		}},
	} {
		if r := s.do("POST", tc.path, s.key, tc.body(300)); r.status != 201 {
			t.Errorf("%s with 300 Arabic letters: %d %s", tc.path, r.status, r.raw)
		}
		expectError(t, s.do("POST", tc.path, s.key, tc.body(501)), 400, "invalid_request")
	}
}

// TestTextLimitsCountCharacters_Decisions: the reasons of the steps after
// a refund is made (a rejection's, a void's) are limited in characters
// too (a resolution's note by the same rule, untested here); counted in bytes, 300
// Arabic letters were refused with "at most 500 characters".
func TestTextLimitsCountCharacters_Decisions(t *testing.T) {
	s := mustStart(t)
	ar := func(n int) string { return strings.Repeat("ع", n) }
	_, approver, err := s.Service.CreateKey(context.Background(), s.mer.ID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
	if err != nil {
		t.Fatal(err)
	}
	if pol := s.do("PUT", "/v1/refund_policy", s.key, map[string]any{"approval_threshold": map[string]any{"SAR": 5000}}); pol.status != 200 {
		t.Fatalf("policy: %d %s", pol.status, pol.raw)
	}
	order := s.mustOrder(cardOrder("4444", 10_000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 5_000})
	if r.str("status") != "requires_approval" {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	if got := s.do("POST", "/v1/refunds/"+r.str("id")+"/reject", approver, map[string]any{"reason": ar(300)}); got.status != 200 {
		t.Errorf("reject with a 300-letter reason: %d %s", got.status, got.raw)
	}
	if got := s.do("POST", "/v1/orders/"+order+"/voids", s.key, map[string]any{"amount": 100, "reason": ar(300)}); got.status != 201 && got.status != 200 {
		t.Errorf("void with a 300-letter reason: %d %s", got.status, got.raw)
	}
	got := s.do("POST", "/v1/refunds/"+r.str("id")+"/reject", approver, map[string]any{"reason": ar(501)})
	expectError(t, got, 400, "invalid_request")
}

// TestOrderLineTextLimits: an order line's sku is at most 64 characters
// and its names 200, counted in characters as the API reference says
// (an Arabic sku of 40 letters is 80 bytes), and a text past its limit
// is refused naming that field, so a client can point at it.
func TestOrderLineTextLimits(t *testing.T) {
	s := mustStart(t)
	ar := func(n int) string { return strings.Repeat("ع", n) }
	for _, tc := range []struct {
		name      string
		line      map[string]any
		wantParam string // "" when the order is taken
	}{
		{"OK", map[string]any{"sku": ar(64), "name_en": strings.Repeat("d", 200), "name_ar": ar(200)}, ""},
		{"SKUTooLong", map[string]any{"sku": strings.Repeat("s", 65)}, "items[0].sku"},
		{"ArabicSKUTooLong", map[string]any{"sku": ar(65)}, "items[0].sku"},
		{"NameENTooLong", map[string]any{"name_en": strings.Repeat("d", 201)}, "items[0].name_en"},
		{"NameARTooLong", map[string]any{"name_ar": ar(201)}, "items[0].name_ar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := map[string]any{"id": "l1", "qty": 1, "unit_amount": 1_000}
			for k, v := range tc.line {
				line[k] = v
			}
			r := s.do("POST", "/v1/orders", s.key, map[string]any{"currency": "SAR", "amount": 1_000, "items": []any{line}})
			if tc.wantParam == "" {
				if r.status != 201 {
					t.Fatalf("order within the limits: %d %s", r.status, r.raw)
				}
				return
			}
			expectError(t, r, 400, "invalid_request")
			if got := r.str("error", "param"); got != tc.wantParam {
				t.Errorf("param %q, want %q (%s)", got, tc.wantParam, r.raw)
			}
		})
	}
}

// TestUPaymentsCustomerNameCountsCharacters: the seed gives
// customerFirstName a length of 255 and the refusal says characters; an
// Arabic name (two bytes a letter) within it is taken, one past it
// refused naming the field.
func TestUPaymentsCustomerNameCountsCharacters(t *testing.T) {
	s := mustStart(t)
	order := s.mustOrder(cardOrder("4444", 100_000))
	for _, tc := range []struct {
		name    string
		letters int
		want    int
	}{
		{"OK", 200, 200},
		{"AtTheLimit", 255, 200},
		{"TooLong", 256, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", "/api/v1/create-refund", s.key, map[string]any{"orderId": order, "totalPrice": "1.00",
				"customerFirstName": strings.Repeat("ن", tc.letters)})
			if r.status != tc.want {
				t.Fatalf("a %d-letter Arabic customerFirstName: %d %s, want %d", tc.letters, r.status, r.raw, tc.want)
			}
			if tc.want == 400 && !strings.Contains(r.str("message"), "customerFirstName") {
				t.Errorf("refusal does not name the field: %s", r.raw)
			}
		})
	}
}

// TestListsAnswerTheListShape: every list answers the envelope the API
// reference gives all lists, {"object":"list","data",has_more,
// next_cursor}, the short ones held whole (a merchant's webhook endpoints,
// processor accounts and a refund's transitions) too, so a client reads
// every list one way.
func TestListsAnswerTheListShape(t *testing.T) {
	s := mustStart(t)
	order := s.mustOrder(cardOrder("4444", 10_000))
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100})
	if r.status != 201 {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	for _, tc := range []struct{ name, path string }{
		{"Refunds", "/v1/refunds"},
		{"Transitions", "/v1/refunds/" + r.str("id") + "/transitions"},
		{"WebhookEndpoints", "/v1/webhook_endpoints"},
		{"Processors", "/v1/processors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.do("GET", tc.path, s.key, nil)
			if got.status != 200 || got.str("object") != "list" {
				t.Fatalf("%s: %d %s", tc.path, got.status, got.raw)
			}
			for _, k := range []string{"data", "has_more", "next_cursor"} {
				if _, ok := got.body[k]; !ok {
					t.Errorf("%s: no %q in %s", tc.path, k, got.raw)
				}
			}
		})
	}
}

// TestRefund_TransitionsPage: a refund's transitions page like every list
// (DESIGN.md section 7): limit and cursor, next_cursor to follow; they
// came in one page whatever the limit, and a bad limit or cursor was not
// refused.
func TestRefund_TransitionsPage(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 1_000})
	if r.status != 201 || r.str("status") != "succeeded" {
		t.Fatalf("refund: %s", r.raw)
	}
	path := "/v1/refunds/" + r.str("id") + "/transitions"
	whole := s.do("GET", path, s.key, nil)
	all, _ := whole.get("data").([]any)
	if whole.status != 200 || len(all) != 3 || whole.get("has_more") != false || whole.get("next_cursor") != nil {
		t.Fatalf("one page: %s", whole.raw)
	}
	for _, limit := range []int{1, 2} {
		var got []any
		query := fmt.Sprintf("?limit=%d", limit)
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatalf("limit %d: more pages than transitions", limit)
			}
			p := s.do("GET", path+query, s.key, nil)
			data, _ := p.get("data").([]any)
			if p.status != 200 || len(data) == 0 || len(data) > limit {
				t.Fatalf("limit %d, %s: %s", limit, query, p.raw)
			}
			got = append(got, data...)
			if p.get("has_more") == false {
				if p.get("next_cursor") != nil {
					t.Fatalf("last page with a next_cursor: %s", p.raw)
				}
				break
			}
			query = fmt.Sprintf("?limit=%d&cursor=%s", limit, p.str("next_cursor"))
		}
		if !reflect.DeepEqual(got, all) {
			t.Fatalf("limit %d: pages hold %v, the whole list %v", limit, got, all)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?cursor=zzz", "?cursor=re_1", "?cursor=trn_-1", "?cursor=trn_ffffffffffff"} {
		expectError(t, s.do("GET", path+q, s.key, nil), 400, "invalid_request")
	}
	if p := s.do("GET", path+"?cursor=trn_9", s.key, nil); p.status != 200 || len(p.get("data").([]any)) != 0 {
		t.Fatalf("a cursor past the end: %s", p.raw)
	}
}
