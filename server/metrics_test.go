package server_test

import (
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 1_005})
	s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("0051", 10_000)), "amount": 700})
	s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 300, "queue": true})
	s.do("GET", "/v1/refunds/re_missing", s.key, nil)

	res, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	text := string(raw)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics: %d", res.StatusCode)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		`refundd_refunds{currency="SAR",failure_code="",status="succeeded",surface="native"} 1`,
		`refundd_refunds{currency="SAR",failure_code="51",status="failed",surface="native"} 1`,
		`refundd_refunds{currency="SAR",failure_code="",status="pending",surface="native"} 1`,
		`refundd_refund_amount_minor{currency="SAR",status="succeeded",surface="native"} 1005`,
		`refundd_worker_queue_depth{status="pending"} 1`,
		`refundd_worker_queue_depth{status="processing"} 0`,
		`refundd_worker_queue_depth{status="requires_review"} 0`,
		`refundd_discrepancies 0`,
		`refundd_oldest_processing_refund_age_seconds 0`,
		`refundd_webhook_delivery_overdue_seconds 0`,
		`refundd_processor_call_duration_seconds_count{op="refund",outcome="approved"} 1`,
		`refundd_processor_call_duration_seconds_count{op="refund",outcome="declined"} 1`,
		// Routes are labelled by pattern, never by raw path (one series per id).
		`refundd_http_request_duration_seconds_count{code="201",method="POST",route="POST /v1/refunds"} 3`,
		`refundd_http_request_duration_seconds_count{code="404",method="GET",route="GET /v1/refunds/{id}"} 1`,
		`refundd_stats_scrape_error 0`,
	} {
		if !lines[want] {
			t.Errorf("/metrics lacks the line %s", want)
		}
	}
	if !strings.Contains(text, "\ngo_goroutines ") {
		t.Error("/metrics lacks the Go runtime's metrics")
	}
	if strings.Contains(text, "re_missing") {
		t.Error("/metrics holds a raw path")
	}
}

// TestMetrics_AmountsBeyondInt64 refunds two orders of the largest amount
// an order may have, from two merchants: their refunds' sum exceeds an
// int64, which one merchant must not be able to turn into a scrape error
// hiding every installation gauge (the queue, the reviews), nor into a
// negative amount.
func TestMetrics_AmountsBeyondInt64(t *testing.T) {
	t.Parallel()
	s := mustStart(t)
	const most = int64(math.MaxInt64)
	other := s.newMerchant("Other")
	for _, key := range []string{s.key, other} {
		o := s.do("POST", "/v1/orders", key, map[string]any{"currency": "KWD", "amount": most, "payment_method": "card",
			"source": map[string]any{"scheme": "mastercard", "first_digits": "555555", "last_digits": "4444", "month": 12, "year": 2027}})
		if o.status != http.StatusCreated {
			t.Fatalf("order: %d %s", o.status, o.raw)
		}
		if r := s.do("POST", "/v1/refunds", key, map[string]any{"order_id": o.str("id")}); r.status != http.StatusCreated || r.str("status") != "succeeded" {
			t.Fatalf("refund: %d %s", r.status, r.raw)
		}
	}
	s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(cardOrder("4444", 10_000)), "amount": 300, "queue": true})

	res, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	lines := map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		`refundd_stats_scrape_error 0`,
		`refundd_refunds{currency="KWD",failure_code="",status="succeeded",surface="native"} 2`,
		// Saturated at the largest int64 (as a float64 gauge), never wrapped.
		`refundd_refund_amount_minor{currency="KWD",status="succeeded",surface="native"} 9.223372036854776e+18`,
		`refundd_worker_queue_depth{status="pending"} 1`,
	} {
		if !lines[want] {
			t.Errorf("/metrics lacks the line %s", want)
		}
	}
}
