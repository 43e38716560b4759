package server_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/refundd/refundd/metrics"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/tracing"
)

// byRequest is a processor that answers only by the request
// (processor.RequestStatuser) and declares what it can do.
type byRequest struct{ statusOf, status int }

func (p *byRequest) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Approved}, nil
}

func (p *byRequest) Status(context.Context, string) (processor.Result, error) {
	p.status++
	return processor.Result{}, processor.ErrNoStatus
}

func (p *byRequest) StatusOf(context.Context, processor.Request) (processor.Result, error) {
	p.statusOf++
	return processor.Result{Status: processor.Declined}, nil
}

func (p *byRequest) Capabilities() processor.Capabilities {
	return processor.Capabilities{StatusByKey: true}
}

// byKey is a processor with neither: it answers by the key and declares
// nothing (processor.All).
type byKey struct{ status int }

func (p *byKey) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Approved}, nil
}

func (p *byKey) Status(context.Context, string) (processor.Result, error) {
	p.status++
	return processor.Result{Status: processor.Approved}, nil
}

// TestProcessorWrappersAskAndDeclareAsTheProcessor: the core reads a
// processor's capabilities and asks it by the request through whatever
// wraps it (metrics, tracing, both as the server stacks them). A wrapper
// that declared more than the processor could send again what it cannot
// prove unexecuted; one that asked by the key a processor that needs the
// request would never learn its answer.
func TestProcessorWrappersAskAndDeclareAsTheProcessor(t *testing.T) {
	wrappers := map[string]func(processor.Processor) processor.Processor{
		"Metrics": func(p processor.Processor) processor.Processor { return metrics.New().Processor(p) },
		"Tracing": func(p processor.Processor) processor.Processor { return tracing.Processor(noop.NewTracerProvider(), p) },
		"Both": func(p processor.Processor) processor.Processor {
			return tracing.Processor(noop.NewTracerProvider(), metrics.New().Processor(p))
		},
	}
	for name, wrap := range wrappers {
		t.Run(name, func(t *testing.T) {
			inner := &byRequest{}
			w := wrap(inner)
			if got := processor.CapabilitiesOf(w); got != inner.Capabilities() {
				t.Errorf("declares %+v, the processor %+v", got, inner.Capabilities())
			}
			rs, ok := w.(processor.RequestStatuser)
			if !ok {
				t.Fatal("the wrapper cannot be asked by the request")
			}
			if res, err := rs.StatusOf(context.Background(), processor.Request{IdempotencyKey: "re_1"}); err != nil ||
				res.Status != processor.Declined || inner.statusOf != 1 || inner.status != 0 {
				t.Errorf("StatusOf: %+v, %v; the processor was asked %d by request, %d by key", res, err, inner.statusOf, inner.status)
			}

			plain := &byKey{}
			w = wrap(plain)
			if got := processor.CapabilitiesOf(w); got != processor.All {
				t.Errorf("over a processor that declares nothing: declares %+v, want %+v", got, processor.All)
			}
			if _, ok := w.(processor.Voider); ok {
				t.Error("over a processor that cannot void: the wrapper voids")
			}
			if res, err := w.(processor.RequestStatuser).StatusOf(context.Background(), processor.Request{IdempotencyKey: "re_1"}); err != nil ||
				res.Status != processor.Approved || plain.status != 1 {
				t.Errorf("StatusOf over a processor asked by the key: %+v, %v, asked %d times", res, err, plain.status)
			}
		})
	}
}
