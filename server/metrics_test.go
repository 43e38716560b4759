package server_test

import (
	"io"
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
