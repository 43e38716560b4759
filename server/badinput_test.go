package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInput sends malformed requests to every native endpoint: each must
// answer 4xx with the error envelope and change nothing.
func TestBadInput(t *testing.T) {
	s := mustStart(t)
	orderID := s.mustOrder(map[string]any{"reference": "ORD-BAD", "amount": 10_000, "payment_method": "card",
		"items":   []any{map[string]any{"id": "line-1", "qty": 2, "unit_amount": 1000}},
		"vendors": []any{map[string]any{"id": "v1", "amount": 10_000, "iban": "SA0380000000608010167519"}}})
	refundID := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": orderID, "amount": 1000,
		"vendors": []any{map[string]any{"vendor_id": "v1", "amount": 1000}}}).str("id")
	before := s.do("GET", "/v1/orders/"+orderID, s.key, nil).raw
	refundsBefore := s.do("GET", "/v1/refunds?limit=100", s.key, nil).raw

	long := strings.Repeat("x", 600)
	huge := `{"reference":"` + strings.Repeat("a", 1<<20) + `"}`
	tests := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code, param        string
	}{
		{"Order/EmptyBody", "POST", "/v1/orders", "", nil, 400, "invalid_request", ""},
		{"Order/NotJSON", "POST", "/v1/orders", "amount=5", nil, 400, "invalid_request", ""},
		{"Order/Array", "POST", "/v1/orders", `[1,2]`, nil, 400, "invalid_request", ""},
		{"Order/TrailingData", "POST", "/v1/orders", `{"currency":"SAR","amount":5}{}`, nil, 400, "invalid_request", ""},
		{"Order/UnknownField", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"amout":5}`, nil, 400, "invalid_request", "amout"},
		{"Order/FloatAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":10.5}`, nil, 400, "invalid_amount", "amount"},
		{"Order/ExponentAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":1e3}`, nil, 400, "invalid_amount", "amount"},
		{"Order/StringAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":"10"}`, nil, 400, "invalid_amount", "amount"},
		{"Order/OverflowAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":99999999999999999999}`, nil, 400, "invalid_amount", "amount"},
		{"Order/NegativeAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":-5}`, nil, 400, "invalid_amount", "amount"},
		{"Order/ZeroAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":0}`, nil, 400, "invalid_amount", "amount"},
		{"Order/UnknownCurrency", "POST", "/v1/orders", `{"currency":"XYZ","amount":5}`, nil, 400, "invalid_request", "currency"},
		{"Order/LowercaseCurrency", "POST", "/v1/orders", `{"currency":"sar","amount":5}`, nil, 400, "invalid_request", "currency"},
		{"Order/DuplicateReference", "POST", "/v1/orders", `{"reference":"ORD-BAD","currency":"SAR","amount":5}`, nil, 409, "order_reference_exists", "reference"},
		{"Order/CapturedOverAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"captured_amount":6}`, nil, 400, "invalid_amount", "captured_amount"},
		{"Order/BadLast4", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"source":{"last_digits":"12a4"}}`, nil, 400, "invalid_request", "source.last_digits"},
		{"Order/ItemsOverAmount", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"items":[{"id":"a","qty":1,"unit_amount":6}]}`, nil, 400, "invalid_amount", "items"},
		{"Order/ItemZeroQty", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"items":[{"id":"a","qty":0,"unit_amount":1}]}`, nil, 400, "invalid_request", "items[0].qty"},
		{"Order/BadTaxRate", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"items":[{"id":"a","qty":1,"unit_amount":1,"tax_rate":"abc"}]}`, nil, 400, "invalid_request", "items[0].tax_rate"},
		{"Order/VendorsDontAddUp", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"vendors":[{"id":"a","amount":4}]}`, nil, 400, "invalid_amount", "vendors"},
		{"Order/BadIBAN", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"vendors":[{"id":"a","amount":5,"iban":"SA0380000000608010167518"}]}`, nil, 400, "invalid_request", "vendors[0].iban"},
		{"Order/BadEmail", "POST", "/v1/orders", `{"currency":"SAR","amount":5,"customer":{"email":"nope"}}`, nil, 400, "invalid_request", "customer.email"},
		{"Order/WrongContentType", "POST", "/v1/orders", `{"currency":"SAR","amount":5}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"Order/TooLarge", "POST", "/v1/orders", huge, nil, 413, "request_too_large", ""},
		{"Order/WrongType", "POST", "/v1/orders", `{"currency":5,"amount":5}`, nil, 400, "invalid_request", "currency"},
		{"Orders/BadLimit", "GET", "/v1/orders?limit=0", nil, nil, 400, "invalid_request", "limit"},
		{"Orders/HugeLimit", "GET", "/v1/orders?limit=1000", nil, nil, 400, "invalid_request", "limit"},
		{"Order/MethodNotAllowed", "DELETE", "/v1/orders/" + orderID, nil, nil, 405, "method_not_allowed", ""},
		{"UnknownRoute", "GET", "/v1/nothing", nil, nil, 404, "not_found", ""},
		{"Refund/MissingOrder", "POST", "/v1/refunds", `{"amount":5}`, nil, 400, "invalid_request", "order_id"},
		{"Refund/ZeroAmount", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":0}`, nil, 400, "invalid_amount", "amount"},
		{"Refund/NegativeAmount", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":-1}`, nil, 400, "invalid_amount", "amount"},
		{"Refund/FloatAmount", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":1.5}`, nil, 400, "invalid_amount", "amount"},
		{"Refund/NullBody", "POST", "/v1/refunds", `null`, nil, 400, "invalid_request", "order_id"},
		{"Refund/Exceeds", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":9001,"vendors":[{"vendor_id":"v1","amount":9001}]}`, nil, 422, "amount_exceeds_refundable", "amount"},
		{"Refund/VendorMissing", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":100}`, nil, 400, "invalid_request", "vendors"},
		{"Refund/UnknownVendor", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","vendors":[{"vendor_id":"zz","amount":1}]}`, nil, 400, "invalid_request", "vendors[0].vendor_id"},
		{"Refund/VendorSumMismatch", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":5,"vendors":[{"vendor_id":"v1","amount":4}]}`, nil, 400, "invalid_amount", "vendors"},
		{"Refund/UnknownItem", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","items":[{"item_id":"zz","qty":1}],"vendors":[{"vendor_id":"v1","amount":1000}]}`, nil, 400, "invalid_request", "items[0].item_id"},
		{"Refund/ItemQtyOverSold", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","items":[{"item_id":"line-1","qty":3}],"vendors":[{"vendor_id":"v1","amount":3000}]}`, nil, 422, "amount_exceeds_refundable", "items[0]"},
		{"Refund/NegativeQty", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","items":[{"item_id":"line-1","qty":-1}]}`, nil, 400, "invalid_request", "items[0].qty"},
		{"Refund/BadCapture", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":1,"transaction_id":"txn_nope","vendors":[{"vendor_id":"v1","amount":1}]}`, nil, 400, "invalid_request", "transaction_id"},
		{"Refund/LongReason", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":1,"reason":"` + long + `"}`, nil, 400, "invalid_request", "reason"},
		{"Refund/BadNotifyURL", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":1,"notify_url":"ftp://x"}`, nil, 400, "invalid_request", "notify_url"},
		{"Refund/BadReference", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":1,"merchant_reference":"has space"}`, nil, 400, "invalid_request", "merchant_reference"},
		{"Refund/LongIdempotencyKey", "POST", "/v1/refunds", `{"order_id":"` + orderID + `","amount":1}`, []string{"Idempotency-Key", long}, 400, "invalid_request", "Idempotency-Key"},
		{"Refund/UnknownOrder", "POST", "/v1/refunds", `{"order_id":"ord_missing","amount":1}`, nil, 404, "order_not_found", ""},
		{"Refunds/BadStatus", "GET", "/v1/refunds?status=done", nil, nil, 400, "invalid_request", "status"},
		{"Refunds/BadOrder", "GET", "/v1/refunds?order=asc", nil, nil, 400, "invalid_request", "order"},
		{"Refunds/BadTime", "GET", "/v1/refunds?created_gte=yesterday", nil, nil, 400, "invalid_request", "created_gte"},
		{"Refunds/SignedUnixTime", "GET", "/v1/refunds?created_gte=%2B1767225600", nil, nil, 400, "invalid_request", "created_gte"},
		{"Refunds/LongUnixTime", "GET", "/v1/refunds?created_lt=1234567890123", nil, nil, 400, "invalid_request", "created_lt"},
		{"Refund/Unknown", "GET", "/v1/refunds/re_missing", nil, nil, 404, "refund_not_found", ""},
		{"Refund/CancelSucceeded", "POST", "/v1/refunds/" + refundID + "/cancel", nil, nil, 409, "refund_not_cancelable", ""},
		{"Refund/CancelUnknown", "POST", "/v1/refunds/re_missing/cancel", nil, nil, 404, "refund_not_found", ""},
		{"Refund/SyncUnknown", "POST", "/v1/refunds/re_missing/sync", nil, nil, 404, "refund_not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(tt.method, tt.path, s.key, tt.body, tt.headers...)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("want 4xx, got %d %s", r.status, r.raw)
			}
			expectError(t, r, tt.status, tt.code)
			if got := r.str("error", "param"); got != tt.param {
				t.Fatalf("param: want %q, got %q (%s)", tt.param, got, r.raw)
			}
		})
	}
	if after := s.do("GET", "/v1/orders/"+orderID, s.key, nil).raw; after != before {
		t.Fatalf("rejected requests changed the order:\nbefore %s\nafter  %s", before, after)
	}
	if after := s.do("GET", "/v1/refunds?limit=100", s.key, nil).raw; after != refundsBefore {
		t.Fatalf("rejected requests changed refunds")
	}
	if r := s.do("GET", "/v1/orders?limit=100", s.key, nil); len(r.get("data").([]any)) != 1 {
		t.Fatalf("rejected requests created orders: %s", r.raw)
	}
	_ = http.StatusOK
}
