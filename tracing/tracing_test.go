package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
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

// TestMiddlewarePanicIsAnError: a handler that panics answers 500 through
// the recovering middleware outside; its span ends named by its route,
// with that status and as an error, where the panic left it unnamed and
// without a status.
func TestMiddlewarePanicIsAnError(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom/{id}", func(http.ResponseWriter, *http.Request) { panic("boom") })
	recovering := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if recover() != nil {
					w.WriteHeader(http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(recovering(Middleware(tp, mux)))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/boom/1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	spans := rec.Ended()
	if res.StatusCode != 500 || len(spans) != 1 {
		t.Fatalf("GET: %d, %d spans; want 500 and one span", res.StatusCode, len(spans))
	}
	s := spans[0]
	var code int64
	for _, a := range s.Attributes() {
		if a.Key == "http.response.status_code" {
			code = a.Value.AsInt64()
		}
	}
	if s.Name() != "GET /boom/{id}" || code != 500 || s.Status().Code != codes.Error {
		t.Fatalf("span %q, status code %d, status %v; want GET /boom/{id}, 500, Error", s.Name(), code, s.Status())
	}
}

// TestSetupExportsToTheTracesPath: the endpoint is the collector's base
// URL (--otel-endpoint http://collector:4318): spans go to its /v1/traces.
// Given with a trailing slash, they went to its root, which a collector
// answers 404, so nothing was ever exported. A URL with a path of its own
// is used as it is.
func TestSetupExportsToTheTracesPath(t *testing.T) {
	for _, tc := range []struct{ name, path, want string }{
		{"Base", "", "/v1/traces"},
		{"BaseSlash", "/", "/v1/traces"},
		{"FullPath", "/otlp/v1/traces", "/otlp/v1/traces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan string, 10)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.URL.Path
				w.WriteHeader(http.StatusOK)
			}))
			defer ts.Close()
			tp, shutdown, err := Setup(context.Background(), ts.URL+tc.path)
			if err != nil {
				t.Fatal(err)
			}
			_, span := tp.Tracer("test").Start(context.Background(), "refund")
			span.End()
			if err := shutdown(context.Background()); err != nil { // flushes
				t.Fatal(err)
			}
			select {
			case p := <-got:
				if p != tc.want {
					t.Fatalf("spans posted to %q, want %q", p, tc.want)
				}
			default:
				t.Fatal("no span was exported")
			}
		})
	}
}
