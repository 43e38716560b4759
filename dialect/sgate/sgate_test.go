package sgate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// seedOrderID is the seed's example order id, recorded as the merchant's
// own order reference, as a client migrating from SGate would.
const seedOrderID = "M948164T2023072607034709567189"

func cardOrder(ref, currency, last4 string, amount int64) refund.OrderInput {
	return refund.OrderInput{Reference: ref, Currency: currency, Amount: amount, PaymentMethod: "card",
		Source: refund.Card{Scheme: "mastercard", FirstDigits: "555555", LastDigits: last4, Month: 12, Year: 2027}}
}

func refundsPath(orderID string) string { return "/orders/" + orderID + "/refunds" }

func sameShape(t *testing.T, got any) {
	t.Helper()
	seed := dialecttest.Decode(t, dialecttest.Testdata(t, "reply_200.json"))
	if d := dialecttest.ShapeDiff(seed, got); len(d) > 0 {
		t.Fatalf("reply differs from the seed's example:\n  %s", strings.Join(d, "\n  "))
	}
}

func TestCreateRefund_SeedExample(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(cardOrder(seedOrderID, "SAR", "4444", 10_000))
	r := s.Do("POST", refundsPath(seedOrderID), s.Key, dialecttest.Testdata(t, "request.json"))
	if r.Status != 200 {
		t.Fatalf("want 200, got %d %s", r.Status, r.Raw)
	}
	sameShape(t, r.Body)
	want := map[string]string{"amount": "1.35", "status": "success", "id": o.ID + "_R1", "orderId": seedOrderID,
		"paymentMethod": "mastercard", "merchantRefundId": "TEST934759263495634", "merchantId": s.Merchant.ID,
		"originTransactionId": o.ID + "_1", "currency": "SAR",
		"createdAt": "2026-03-01T09:00:00.123Z", "updatedAt": "2026-03-01T09:00:00.123Z"}
	for k, v := range want {
		if got := r.Str(k); got != v {
			t.Errorf("%s: want %q, got %q", k, v, got)
		}
	}
	if !strings.Contains(r.Raw, `"amount":1.35,`) {
		t.Errorf("amount must be the JSON number 1.35: %s", r.Raw)
	}
	if snap := s.Snap(o.ID); snap.Refunded != 135 || snap.Refunds != 1 {
		t.Fatalf("order after the refund: %+v", snap)
	}

	t.Run("ReplaySameMerchantRefundID", func(t *testing.T) {
		again := s.Do("POST", refundsPath(seedOrderID), s.Key, dialecttest.Testdata(t, "request.json"))
		if again.Status != 200 || again.Raw != r.Raw {
			t.Fatalf("a replay answers the first refund:\n got %d %s\nwant %s", again.Status, again.Raw, r.Raw)
		}
		if snap := s.Snap(o.ID); snap.Refunded != 135 || snap.Refunds != 1 {
			t.Fatalf("a replay refunded again: %+v", snap)
		}
	})
	t.Run("ByRefunddOrderID", func(t *testing.T) {
		got := s.Do("GET", refundsPath(o.ID)+"/"+o.ID+"_R1", s.Key, "")
		if got.Status != 200 || got.Str("id") != o.ID+"_R1" || got.Str("orderId") != o.ID || got.Str("originTransactionId") != o.ID+"_1" {
			t.Fatalf("GET by refundd's order id: %d %s", got.Status, got.Raw)
		}
		sameShape(t, got.Body)
	})
}

// TestRefund_KWD: amounts are exact decimals in the currency's minor unit;
// a 1.005 KWD refund (made on another surface) prints 1.005, never a float.
func TestRefund_KWD(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(refund.OrderInput{Reference: "ORD-KW-1", Currency: "KWD", Amount: 50_000, PaymentMethod: "knet"})
	r := s.Do("POST", refundsPath("ORD-KW-1"), s.Key, `{"amount":"12.5","reason":"size"}`)
	if r.Status != 200 || !strings.Contains(r.Raw, `"amount":12.500,`) || r.Str("currency") != "KWD" || r.Str("paymentMethod") != "knet" {
		t.Fatalf("want 12.500 KWD, got %d %s", r.Status, r.Raw)
	}
	fils := int64(1005)
	if _, err := s.Service.CreateRefund(context.Background(), s.Principal, refund.RefundInput{OrderID: o.ID, Amount: &fils}); err != nil {
		t.Fatal(err)
	}
	got := s.Do("GET", refundsPath("ORD-KW-1")+"/ORD-KW-1_R2", s.Key, "")
	if got.Status != 200 || !strings.Contains(got.Raw, `"amount":1.005,`) {
		t.Fatalf("want 1.005 exactly, got %d %s", got.Status, got.Raw)
	}
	if snap := s.Snap(o.ID); snap.Refunded != 12_500+1005 {
		t.Fatalf("refunded %d fils, want %d", snap.Refunded, 12_500+1005)
	}
}

// TestRefund_PollPending: a wallet refund answers pending, and GET follows
// it to success.
func TestRefund_PollPending(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	s.Order(refund.OrderInput{Reference: "ORD-STC", Currency: "SAR", Amount: 9900, PaymentMethod: "stcpay"})
	r := s.Do("POST", refundsPath("ORD-STC"), s.Key, `{"amount":"99","reason":"cancelled order"}`)
	if r.Status != 200 || r.Str("status") != "pending" || r.Str("paymentMethod") != "stcpay" || !strings.Contains(r.Raw, `"amount":99.00,`) {
		t.Fatalf("want a pending 99.00 stcpay refund, got %d %s", r.Status, r.Raw)
	}
	path := refundsPath("ORD-STC") + "/ORD-STC_R1"
	if got := s.Do("GET", path, s.Key, ""); got.Status != 200 || got.Str("status") != "pending" {
		t.Fatalf("before settling: %d %s", got.Status, got.Raw)
	}
	s.RunWorker(time.Minute)
	got := s.Do("GET", path, s.Key, "")
	if got.Status != 200 || got.Str("status") != "success" || got.Str("updatedAt") == got.Str("createdAt") {
		t.Fatalf("after settling: %d %s", got.Status, got.Raw)
	}
	sameShape(t, got.Body)
}

func TestRefund_Declined(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(cardOrder("ORD-1051", "SAR", "0051", 15_000))
	r := s.Do("POST", refundsPath("ORD-1051"), s.Key, `{"amount":"50","reason":"r"}`)
	if r.Status != 200 || r.Str("status") != "fail" {
		t.Fatalf("a declined refund answers fail: %d %s", r.Status, r.Raw)
	}
	if snap := s.Snap(o.ID); snap.Refunded != 0 || snap.Pending != 0 {
		t.Fatalf("a declined refund holds nothing: %+v", snap)
	}
}

// TestRefundIDsGloballyUnique: two merchants with the same order reference
// get different refund ids, and each id finds its refund.
func TestRefundIDsGloballyUnique(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	_, otherKey, err := s.Service.CreateMerchant(context.Background(), refund.MerchantInput{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Service.Authenticate(context.Background(), otherKey)
	if err != nil {
		t.Fatal(err)
	}
	s.Order(cardOrder("ORD-SAME", "SAR", "4444", 10_000))
	if _, err := s.Service.CreateOrder(context.Background(), other, cardOrder("ORD-SAME", "SAR", "4444", 10_000)); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, key := range []string{s.Key, otherKey} {
		r := s.Do("POST", refundsPath("ORD-SAME"), key, `{"amount":"1","reason":"a"}`)
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		if prev, dup := ids[r.Str("id")]; dup {
			t.Fatalf("refund id %s given to two merchants (%s)", r.Str("id"), prev)
		}
		ids[r.Str("id")] = key
		if r.Str("orderId") != "ORD-SAME" || strings.HasPrefix(r.Str("id"), "ORD-SAME") {
			t.Fatalf("orderId echoes the reference, id is built on refundd's order id: %s", r.Raw)
		}
		for _, path := range []string{refundsPath("ORD-SAME") + "/" + r.Str("id"), refundsPath("ORD-SAME") + "/ORD-SAME_R1"} {
			if got := s.Do("GET", path, key, ""); got.Status != 200 || got.Str("id") != r.Str("id") {
				t.Fatalf("GET %s: %d %s", path, got.Status, got.Raw)
			}
		}
	}
}

func TestListRefunds(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(cardOrder("ORD-L", "SAR", "4444", 10_000))
	if r := s.Do("GET", refundsPath("ORD-L"), s.Key, ""); r.Status != 200 || strings.TrimSpace(r.Raw) != "[]" {
		t.Fatalf("no refunds yet: want [], got %d %s", r.Status, r.Raw)
	}
	for _, body := range []string{`{"amount":"1","reason":"a"}`, `{"amount":"2.5","reason":"b","merchantRefundId":"MR-2"}`} {
		if r := s.Do("POST", refundsPath("ORD-L"), s.Key, body); r.Status != 200 {
			t.Fatalf("%s: %d %s", body, r.Status, r.Raw)
		}
	}
	r := s.Do("GET", refundsPath("ORD-L"), s.Key, "")
	list, ok := r.Body.([]any)
	if r.Status != 200 || !ok || len(list) != 2 {
		t.Fatalf("want two refunds, got %d %s", r.Status, r.Raw)
	}
	for i, want := range []string{o.ID + "_R1", o.ID + "_R2"} {
		sameShape(t, list[i])
		if id := list[i].(map[string]any)["id"]; id != want {
			t.Fatalf("refund %d: want %s, got %v", i, want, id)
		}
	}
	if !strings.Contains(r.Raw, `"amount":1.00,`) || !strings.Contains(r.Raw, `"amount":2.50,`) || !strings.Contains(r.Raw, `"merchantRefundId":"",`) {
		t.Fatalf("amounts or empty merchantRefundId: %s", r.Raw)
	}
}

// TestErrors produces every error status of the dialect; none of them
// changes the order.
func TestErrors(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(cardOrder("ORD-ERR", "SAR", "4444", 10_000))
	s.Order(refund.OrderInput{Reference: "ORD-KWD", Currency: "KWD", Amount: 10_000})
	s.Order(refund.OrderInput{Reference: "ORD-JPY", Currency: "JPY", Amount: 10_000})
	if r := s.Do("POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"10","reason":"first","merchantRefundId":"MR-1"}`); r.Status != 200 {
		t.Fatalf("setup refund: %d %s", r.Status, r.Raw)
	}
	other := s.NewMerchant("Other")
	readOnly := s.NewKey(refund.ScopeOrdersRead, refund.ScopeRefundsRead)
	before := s.Snap(o.ID)
	huge := `{"reason":"` + strings.Repeat("x", 1<<20) + `","amount":"1"}`

	tests := []struct {
		name, method, path, key, body string
		status                        int
		code, field                   string
	}{
		{"NoKey", "POST", refundsPath("ORD-ERR"), "", `{"amount":"1","reason":"r"}`, 401, "unauthorized", ""},
		{"BadKey", "POST", refundsPath("ORD-ERR"), "rk_000000000000_00000000000000000000000000000000", `{"amount":"1","reason":"r"}`, 401, "unauthorized", ""},
		{"NoRefundsWrite", "POST", refundsPath("ORD-ERR"), readOnly, `{"amount":"1","reason":"r"}`, 403, "forbidden", ""},
		{"MissingOrder", "POST", refundsPath("ORD-NOPE"), s.Key, `{"amount":"1","reason":"r"}`, 404, "order_not_found", ""},
		{"ForeignOrder", "POST", refundsPath("ORD-ERR"), other, `{"amount":"1","reason":"r"}`, 404, "order_not_found", ""},
		{"ForeignOrderGet", "GET", refundsPath("ORD-ERR") + "/ORD-ERR_R1", other, "", 404, "order_not_found", ""},
		{"ForeignOrderList", "GET", refundsPath(o.ID), other, "", 404, "order_not_found", ""},
		{"AmountMissing", "POST", refundsPath("ORD-ERR"), s.Key, `{"reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountNumber", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":1.35,"reason":"r"}`, 400, "invalid_request", "amount"},
		{"AmountThreeDecimalsSAR", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1.355","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountThreeDecimalsKWD", "POST", refundsPath("ORD-KWD"), s.Key, `{"amount":"1.005","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountDecimalsJPY", "POST", refundsPath("ORD-JPY"), s.Key, `{"amount":"1.5","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountNegative", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"-1","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountExponent", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1e3","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountWord", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"ten","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountZero", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"0.00","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"AmountOverflow", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"99999999999999999999","reason":"r"}`, 400, "invalid_amount", "amount"},
		{"ReasonMissing", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1"}`, 400, "invalid_request", "reason"},
		{"ReasonBlank", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1","reason":"  "}`, 400, "invalid_request", "reason"},
		{"ReasonNotString", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1","reason":5}`, 400, "invalid_request", "reason"},
		{"ReasonTooLong", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1","reason":"` + strings.Repeat("x", 501) + `"}`, 400, "invalid_request", "reason"},
		{"MerchantRefundIDBadChars", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1","reason":"r","merchantRefundId":"has space"}`, 400, "invalid_request", "merchantRefundId"},
		{"MerchantRefundIDNotString", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1","reason":"r","merchantRefundId":7}`, 400, "invalid_request", "merchantRefundId"},
		{"MerchantRefundIDReused", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"11","reason":"first","merchantRefundId":"MR-1"}`, 409, "merchant_reference_reused", "merchantRefundId"},
		{"NotJSON", "POST", refundsPath("ORD-ERR"), s.Key, `amount=1`, 400, "invalid_request", ""},
		{"TrailingData", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"1","reason":"r"}[]`, 400, "invalid_request", ""},
		{"TooLarge", "POST", refundsPath("ORD-ERR"), s.Key, huge, 413, "request_too_large", ""},
		{"MoreThanRefundable", "POST", refundsPath("ORD-ERR"), s.Key, `{"amount":"90.01","reason":"r"}`, 422, "amount_exceeds_refundable", "amount"},
		{"UnknownRefund", "GET", refundsPath("ORD-ERR") + "/ORD-ERR_R9", s.Key, "", 404, "refund_not_found", ""},
		{"ListUnknownQuery", "GET", refundsPath("ORD-ERR") + "?stauts=success", s.Key, "", 400, "invalid_request", "stauts"},
		{"RefundOfAnotherOrder", "GET", refundsPath("ORD-KWD") + "/ORD-ERR_R1", s.Key, "", 404, "refund_not_found", ""},
		{"MalformedRefundID", "GET", refundsPath("ORD-ERR") + "/R1", s.Key, "", 404, "refund_not_found", ""},
		{"LeadingZeroRefundID", "GET", refundsPath("ORD-ERR") + "/ORD-ERR_R01", s.Key, "", 404, "refund_not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Do(tt.method, tt.path, tt.key, tt.body)
			if r.Status != tt.status || r.Str("code") != tt.code || r.Str("field") != tt.field || r.Str("message") == "" {
				t.Fatalf("want %d %s (field %q), got %d %s", tt.status, tt.code, tt.field, r.Status, r.Raw)
			}
			if got := s.Snap(o.ID); got != before {
				t.Fatalf("a refused request changed the order: %+v, was %+v", got, before)
			}
		})
	}
	// A foreign order answers exactly as a missing one.
	foreign := s.Do("GET", refundsPath("ORD-X"), other, "")
	missing := s.Do("GET", refundsPath("ORD-X"), s.Key, "")
	if foreign.Status != 404 || foreign.Raw != missing.Raw {
		t.Fatalf("foreign %d %s, missing %d %s", foreign.Status, foreign.Raw, missing.Status, missing.Raw)
	}
}

// TestRoutes_AnswerInTheShape: a path under /orders/ that is no route, or
// a method its route does not take, is answered in SGate's error shape,
// not in the mux's text, and a wrong method names the ones that work.
func TestRoutes_AnswerInTheShape(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(cardOrder("ORD-RT", "SAR", "4444", 10_000))
	body := `{"amount":"1","reason":"r"}`
	for _, tc := range []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"RefundsByPut", "PUT", refundsPath("ORD-RT"), 405, "GET, POST"},
		{"RefundsByDelete", "DELETE", refundsPath("ORD-RT"), 405, "GET, POST"},
		{"RefundByPost", "POST", refundsPath("ORD-RT") + "/ORD-RT_R1", 405, "GET"},
		{"RefundByPatch", "PATCH", refundsPath("ORD-RT") + "/ORD-RT_R1", 405, "GET"},
		{"BelowARefund", "POST", refundsPath("ORD-RT") + "/ORD-RT_R1/cancel", 404, ""},
		{"TrailingSlash", "POST", refundsPath("ORD-RT") + "/", 404, ""},
		{"OrderAlone", "GET", "/orders/ORD-RT", 404, ""},
		{"Prefix", "GET", "/orders/", 404, ""},
		{"EscapedSlashOrder", "POST", refundsPath("%2F"), 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snap(o.ID)
			r := s.Do(tc.method, tc.path, s.Key, body)
			want := map[int]string{404: "route_not_found", 405: "method_not_allowed"}[tc.status]
			if r.Status != tc.status || r.Str("code") != want || r.Str("message") == "" {
				t.Fatalf("want %d %s, got %d %s", tc.status, want, r.Status, r.Raw)
			}
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow: %q, want %q", got, tc.allow)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if after := s.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v -> %+v", before, after)
			}
		})
	}
}

// TestRefund_LongReference: {order_id} may be the merchant's order
// reference, which may be up to 255 characters; an order with a long one
// is refunded, listed and polled as any other, and an id longer than any
// reference is an unknown order.
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
			o := s.Order(cardOrder(tt.ref, "SAR", "4444", 10_000))
			r := s.Do("POST", refundsPath(tt.ref), s.Key, `{"amount":"1.35","reason":"Return shipping fee"}`)
			if r.Status != 200 || r.Str("orderId") != tt.ref || r.Str("id") != o.ID+"_R1" {
				t.Fatalf("want 200 with refund %s_R1, got %d %s", o.ID, r.Status, r.Raw)
			}
			sameShape(t, r.Body)
			for _, path := range []string{refundsPath(tt.ref) + "/" + o.ID + "_R1", refundsPath(tt.ref) + "/" + tt.ref + "_R1"} {
				if got := s.Do("GET", path, s.Key, ""); got.Status != 200 || got.Str("id") != o.ID+"_R1" {
					t.Fatalf("GET %s: %d %s", path, got.Status, got.Raw)
				}
			}
			if got := s.Do("GET", refundsPath(tt.ref), s.Key, ""); got.Status != 200 || len(got.Body.([]any)) != 1 {
				t.Fatalf("list: %d %s", got.Status, got.Raw)
			}
			if snap := s.Snap(o.ID); snap.Refunds != 1 || snap.Refunded != 135 {
				t.Fatalf("order after the refund: %+v", snap)
			}
		})
	}
	r := s.Do("POST", refundsPath("ORD-"+strings.Repeat("6", 252)), s.Key, `{"amount":"1.35","reason":"r"}`)
	if r.Status != 404 || r.Str("code") != "order_not_found" {
		t.Fatalf("an id longer than any reference: want 404 order_not_found, got %d %s", r.Status, r.Raw)
	}
}

// TestListRefunds_AuthenticatesFirst: a caller without valid credentials
// is told so (401), whatever the query string holds; only a known caller
// hears that a query parameter is not taken (400).
func TestListRefunds_AuthenticatesFirst(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	s.Order(cardOrder("ORD-LQ", "SAR", "4444", 10_000))
	noScope := s.NewKey(refund.ScopeRefundsWrite)
	tests := []struct {
		name, key   string
		status      int
		code, field string
	}{
		{"NoKey", "", 401, "unauthorized", ""},
		{"BadKey", "rk_000000000000_00000000000000000000000000000000", 401, "unauthorized", ""},
		{"KeyWithoutRead", noScope, 403, "forbidden", ""},
		{"Known", s.Key, 400, "invalid_request", "stauts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Do("GET", refundsPath("ORD-LQ")+"?stauts=success", tt.key, "")
			if r.Status != tt.status || r.Str("code") != tt.code || r.Str("field") != tt.field {
				t.Fatalf("want %d %s (field %q), got %d %s", tt.status, tt.code, tt.field, r.Status, r.Raw)
			}
		})
	}
}

// TestRefund_ReferenceInFlight: the same merchantRefundId while its first
// request is still waiting on the processor is refused 409, as an
// Idempotency-Key in flight is (DESIGN.md section 4), and makes nothing;
// once the first request has answered, the same request replays that
// refund.
func TestRefund_ReferenceInFlight(t *testing.T) {
	t.Parallel()
	// The acquirer holds the refund call until the test releases it.
	acq, err := service.New(sandbox.New(sandbox.Config{}), service.Faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}, 1), make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
		}
		acq.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s := dialecttest.Start(t, func(c *server.Config) { c.Processor, c.ProcessorTimeout = ts.URL, time.Minute })
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the servers stop: they wait for the held call

	o := s.Order(cardOrder("ORD-INFLIGHT", "SAR", "4444", 10_000))
	const body = `{"amount":"25","reason":"damaged","merchantRefundId":"MR-INFLIGHT"}`
	first := make(chan dialecttest.Reply, 1)
	go func() { first <- s.Do("POST", refundsPath("ORD-INFLIGHT"), s.Key, body) }()
	select { // the first request's call is at the acquirer
	case <-entered:
	case a := <-first:
		t.Fatalf("the first request answered before reaching the acquirer: %d %s", a.Status, a.Raw)
	case <-time.After(30 * time.Second):
		t.Fatal("the first request never reached the acquirer")
	}
	held := s.Snap(o.ID)
	r := s.Do("POST", refundsPath("ORD-INFLIGHT"), s.Key, body)
	if r.Status != 409 || r.Str("code") != refund.EIdempotencyKeyInUse || r.Str("field") != "merchantRefundId" || r.Str("message") == "" {
		t.Fatalf("the same merchantRefundId in flight: %d %s; want 409 idempotency_key_in_use naming merchantRefundId", r.Status, r.Raw)
	}
	if got := s.Snap(o.ID); got != held || got.Refunds != 1 {
		t.Fatalf("the refused retry changed the order: %+v, was %+v", got, held)
	}
	free()
	answered := <-first
	if answered.Status != 200 || answered.Str("status") != "success" {
		t.Fatalf("the first request: %d %s; want 200 success", answered.Status, answered.Raw)
	}
	again := s.Do("POST", refundsPath("ORD-INFLIGHT"), s.Key, body)
	if again.Status != 200 || again.Raw != answered.Raw {
		t.Fatalf("the same request after the first answered: %d %s; want the first answer replayed: %s", again.Status, again.Raw, answered.Raw)
	}
	if got := s.Snap(o.ID); got.Refunds != 1 || got.Refunded != 2500 {
		t.Fatalf("order after the replay: %+v; want one refund of 25.00", got)
	}
}

// TestRefund_PaymentMethodAsTheSeedSpellsIt: the seed's paymentMethod
// words are "stcpay mastercard applePay tap"; an order recorded with
// another spelling of one of them (apple_pay, as the Techrar surface
// reads it, STC_PAY, a scheme in capitals) answers the seed's spelling,
// and any other method as recorded.
func TestRefund_PaymentMethodAsTheSeedSpellsIt(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	tests := []struct{ ref, method, scheme, want string }{
		{"ORD-PM-1", "apple_pay", "", "applePay"},
		{"ORD-PM-2", "ApplePay", "", "applePay"},
		{"ORD-PM-3", "applepay", "", "applePay"},
		{"ORD-PM-4", "applePay", "", "applePay"},
		{"ORD-PM-5", "Tap", "", "tap"},
		{"ORD-PM-6", "card", "MasterCard", "mastercard"},
		{"ORD-PM-7", "mada", "", "mada"},
		{"ORD-PM-8", "knet", "", "knet"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			in := refund.OrderInput{Reference: tt.ref, Currency: "SAR", Amount: 10_000, PaymentMethod: tt.method}
			if tt.scheme != "" {
				in.Source = refund.Card{Scheme: tt.scheme, FirstDigits: "555555", LastDigits: "4444", Month: 12, Year: 2027}
			}
			s.Order(in)
			r := s.Do("POST", refundsPath(tt.ref), s.Key, `{"amount":"1.00","reason":"size"}`)
			if r.Status != 200 || r.Str("paymentMethod") != tt.want {
				t.Fatalf("want 200 with paymentMethod %q, got %d %s", tt.want, r.Status, r.Raw)
			}
			sameShape(t, r.Body)
			got := s.Do("GET", refundsPath(tt.ref), s.Key, "")
			if got.Status != 200 || (dialecttest.Reply{Body: got.Get().([]any)[0]}).Str("paymentMethod") != tt.want {
				t.Fatalf("list: want paymentMethod %q, got %d %s", tt.want, got.Status, got.Raw)
			}
		})
	}
}
