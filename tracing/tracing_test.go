package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The acquirer call carries the trace: the traceparent header names the
// current span's trace.
func TestTransportPropagates(t *testing.T) {
	got := make(chan string, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Get("traceparent") }))
	defer ts.Close()
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "call")
	defer span.End()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL, nil)
	res, err := (&http.Client{Transport: Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if h := <-got; !strings.Contains(h, span.SpanContext().TraceID().String()) {
		t.Fatalf("traceparent %q does not carry trace %s", h, span.SpanContext().TraceID())
	}
	if req.Header.Get("traceparent") != "" {
		t.Fatal("the caller's request was modified")
	}
}

// Without an endpoint nothing is exported and nothing fails.
func TestSetupOff(t *testing.T) {
	tp, shutdown, err := Setup(context.Background(), "")
	if err != nil || tp == nil {
		t.Fatalf("Setup(\"\") = %v, %v", tp, err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
