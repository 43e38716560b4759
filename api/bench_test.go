package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkDecodeRefundRequest measures the native request decode, the
// part of the request path every refund pays before the core.
func BenchmarkDecodeRefundRequest(b *testing.B) {
	const body = `{"order_id":"ord_0195c2b1-7d7a-7cc4-9c3e-1f2e3d4c5b6a","amount":1005,"reason":"damaged item","merchant_reference":"RMA-2026-000123"}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/refunds", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req refundRequest
		if err := decode(r, &req); err != nil {
			b.Fatal(err)
		}
	}
}
