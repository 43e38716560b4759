package refund

import (
	"context"
	"time"
)

// Tracer learns how long each phase of a request took inside the core, so
// that whoever measures a refund's latency sees where it went (refundd
// bench --trace reads them back from a Server-Timing header) instead of
// guessing. A refund asked for over HTTP goes through, in order:
//
//	auth                 the API key lookup (a read transaction, unless cached)
//	reserve_*            the reservation (a write transaction), which claims
//	                     a fresh Idempotency-Key: it is not looked up first
//	idem_lookup          looking the key up (one statement, no transaction)
//	                     when the request did not claim it: a retry, or a
//	                     refusal before any write (see ClaimIdempotent)
//	idem_begin_*         taking over the key of a request that died (a write
//	                     transaction)
//	route                reading the order and its processor for the call
//	                     (the worker's calls; a request's own call uses the
//	                     order its reservation read)
//	processor_queue      waiting for one of the node's processor call slots
//	processor            the processor call
//	result_*             recording the processor's answer, and the request's
//	                     answer with its key (a write transaction)
//	idem_complete_*      storing the answer with the key when no write of the
//	                     request carried it (a write transaction)
//
// Each write transaction is three phases: _queue (from asking the store
// until the store runs it: waiting for the committer and for the Updates
// ahead of it in its batch), _exec (running it) and _commit (from its end
// until the store answers: the rest of its batch and the commit's disk
// flush). A phase met twice in one request (a retried reservation) is
// reported twice; implementations add them up.
//
// Phases are measured on the monotonic clock, not Config.Now: they are
// durations of real work, which an injected test clock would not see.
type Tracer interface {
	Phase(name string, d time.Duration)
}

type tracerKey struct{}

// WithTracer returns ctx carrying t: the Service reports the phases of the
// request that ctx belongs to.
func WithTracer(ctx context.Context, t Tracer) context.Context {
	return context.WithValue(ctx, tracerKey{}, t)
}

func tracerFrom(ctx context.Context) Tracer {
	t, _ := ctx.Value(tracerKey{}).(Tracer)
	return t
}

// traceSince reports the phase that began at start to ctx's tracer.
func traceSince(ctx context.Context, phase string, start time.Time) {
	if t := tracerFrom(ctx); t != nil {
		t.Phase(phase, time.Since(start))
	}
}

// tracedUpdate is Store.Update for a phase of a traced request: it reports
// phase_queue, phase_exec and phase_commit (see Tracer). Untraced, it is
// Store.Update.
func (s *Service) tracedUpdate(ctx context.Context, phase string, fn func(tx Tx) error) error {
	t := tracerFrom(ctx)
	if t == nil {
		return s.write(ctx, fn)
	}
	// Set on the store's committer goroutine; read once Update has
	// returned, which it does only after fn has (Store.Update's contract).
	// A retried fn counts from its first start to its last end.
	var began, ended time.Time
	start := time.Now()
	err := s.write(ctx, func(tx Tx) error {
		if began.IsZero() {
			began = time.Now()
		}
		err := fn(tx)
		ended = time.Now()
		return err
	})
	done := time.Now()
	if began.IsZero() { // never ran: canceled while queued, or the store closed
		t.Phase(phase+"_queue", done.Sub(start))
		return err
	}
	t.Phase(phase+"_queue", began.Sub(start))
	t.Phase(phase+"_exec", ended.Sub(began))
	t.Phase(phase+"_commit", done.Sub(ended))
	return err
}
