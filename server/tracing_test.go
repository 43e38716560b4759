package server_test

import (
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/refundd/refundd/server"
)

// TestTracing: with tracing configured, a refund request continues the
// caller's trace in a server span named by its route, with the processor
// call as its child; ids never become span names.
func TestTracing(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s := mustStart(t, func(c *server.Config) { c.TracerProvider = tp })
	order := s.mustOrder(cardOrder("4444", 10_000))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 100},
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01", "X-Request-Id", "req_traced")
	if r.status != http.StatusCreated {
		t.Fatalf("refund: %d %s", r.status, r.raw)
	}
	s.do("GET", "/v1/refunds/"+r.str("id"), s.key, nil)

	var server, proc sdktrace.ReadOnlySpan
	names := map[string]bool{}
	for _, sp := range rec.Ended() {
		names[sp.Name()] = true
		switch {
		case sp.Name() == "POST /v1/refunds":
			server = sp
		case sp.Name() == "processor refund" && sp.SpanContext().TraceID().String() == traceID:
			proc = sp
		}
	}
	if server == nil || proc == nil {
		t.Fatalf("spans %v: want a POST /v1/refunds server span and its processor call", names)
	}
	if server.SpanContext().TraceID().String() != traceID || server.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("server span does not continue the caller's trace: %v parent %v", server.SpanContext(), server.Parent())
	}
	if proc.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("processor span's parent is %v, want the request's span", proc.Parent())
	}
	attrs := map[string]string{}
	for _, a := range server.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["http.response.status_code"] != "201" || attrs["refundd.request_id"] != "req_traced" {
		t.Errorf("server span attributes %v", attrs)
	}
	if !names["GET /v1/refunds/{id}"] || names["GET /v1/refunds/"+r.str("id")] {
		t.Errorf("span names %v: want route patterns, never raw paths", names)
	}
}
