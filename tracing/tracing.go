// Package tracing is refundd's optional OpenTelemetry tracing. It is off
// unless an OTLP/HTTP endpoint is configured (--otel-endpoint or
// OTEL_EXPORTER_OTLP_ENDPOINT): then every HTTP request gets a server span
// named by its route pattern, every processor call a child span, and the
// calls to an acquirer service carry the W3C traceparent header, so one
// trace follows a refund from the client to the acquirer.
package tracing

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/refundd/refundd/processor"
)

const scope = "github.com/refundd/refundd"

// propagator writes and reads W3C trace context headers.
var propagator = propagation.TraceContext{}

// Setup returns a tracer provider exporting to the OTLP/HTTP endpoint (for
// example http://127.0.0.1:4318), and its shutdown. An empty endpoint
// returns a provider that records nothing.
func Setup(ctx context.Context, endpoint string) (trace.TracerProvider, func(context.Context) error, error) {
	if endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	// A base URL ends in at most a slash: the exporter adds /v1/traces to
	// one without a path, but would post to "/" (a collector's 404, every
	// span lost without a word) for http://collector:4318/.
	if u, err := url.Parse(endpoint); err == nil && u.Path == "/" {
		u.Path = ""
		endpoint = u.String()
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)))
	return tp, tp.Shutdown, nil
}

// Middleware opens a server span per request, continuing a trace the
// caller sent, and names it by the route pattern (never the raw path) once
// the ServeMux has chosen one: next must hand the request it is given to
// the mux, which records the pattern in it.
func Middleware(tp trace.TracerProvider, next http.Handler) http.Handler {
	tracer := tp.Tracer(scope)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method)))
		defer span.End()
		rec := &status{ResponseWriter: w, code: http.StatusOK}
		r = r.WithContext(ctx)
		defer func() {
			// A panic is the 500 the recovering middleware outside
			// answers (api.Middleware): the span says so, then the panic
			// goes on to it.
			v := recover()
			if v != nil && !rec.wrote {
				rec.code = http.StatusInternalServerError
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			span.SetName(route)
			span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", rec.code),
				attribute.String("refundd.request_id", w.Header().Get("X-Request-Id")))
			if rec.code >= 500 {
				span.SetStatus(codes.Error, strconv.Itoa(rec.code))
			}
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

type status struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *status) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *status) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *status) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Processor wraps p so that each call is a client span.
// The wrapper can void keys exactly when p can (processor.Voider), and
// declares p's capabilities and asks by the request as p does: the core
// reads both from what it is given.
func Processor(tp trace.TracerProvider, p processor.Processor) processor.Processor {
	t := &traced{p: p, tracer: tp.Tracer(scope)}
	if v, ok := p.(processor.Voider); ok {
		return &tracedVoider{traced: t, v: v}
	}
	return t
}

type tracedVoider struct {
	*traced
	v processor.Voider
}

func (t *tracedVoider) Void(ctx context.Context, key string) (processor.Result, error) {
	ctx, span := t.tracer.Start(ctx, "processor void", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("refundd.refund_id", key)))
	defer span.End()
	res, err := t.v.Void(ctx, key)
	end(span, res, err)
	return res, err
}

type traced struct {
	p      processor.Processor
	tracer trace.Tracer
}

func (t *traced) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	ctx, span := t.tracer.Start(ctx, "processor refund", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("refundd.refund_id", req.IdempotencyKey), attribute.Int64("refundd.amount", req.Amount),
			attribute.String("refundd.currency", req.Currency)))
	defer span.End()
	res, err := t.p.Refund(ctx, req)
	end(span, res, err)
	return res, err
}

func (t *traced) Status(ctx context.Context, key string) (processor.Result, error) {
	ctx, span := t.tracer.Start(ctx, "processor status", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("refundd.refund_id", key)))
	defer span.End()
	res, err := t.p.Status(ctx, key)
	end(span, res, err)
	return res, err
}

// StatusOf asks by the request when p does, by the key otherwise, as the
// core would ask p itself.
func (t *traced) StatusOf(ctx context.Context, req processor.Request) (processor.Result, error) {
	rs, ok := t.p.(processor.RequestStatuser)
	if !ok {
		return t.Status(ctx, req.IdempotencyKey)
	}
	ctx, span := t.tracer.Start(ctx, "processor status", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("refundd.refund_id", req.IdempotencyKey)))
	defer span.End()
	res, err := rs.StatusOf(ctx, req)
	end(span, res, err)
	return res, err
}

// Capabilities are p's.
func (t *traced) Capabilities() processor.Capabilities { return processor.CapabilitiesOf(t.p) }

func end(span trace.Span, res processor.Result, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return
	}
	span.SetAttributes(attribute.String("refundd.processor_status", string(res.Status)),
		attribute.String("refundd.response_code", res.ResponseCode))
}

// Transport sends the current trace context with every request, so the
// acquirer service can join the trace.
func Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		propagator.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
		return base.RoundTrip(r)
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
