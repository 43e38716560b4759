package refund_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// phaseLog is a refund.Tracer that keeps what it is told.
type phaseLog struct {
	mu     sync.Mutex
	names  []string
	totals map[string]time.Duration
}

func (l *phaseLog) Phase(name string, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.totals == nil {
		l.totals = map[string]time.Duration{}
	}
	l.names = append(l.names, name)
	l.totals[name] += d
}

// A traced refund reports its phases in the order they happen, each
// transaction as queue, exec and commit, and they fit within the call.
func TestCreateRefund_Traced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, &instantProcessor{}, nil)
	o := h.order(10_000)
	var log phaseLog
	amount := int64(100)
	start := time.Now()
	r, err := h.svc.CreateRefund(refund.WithTracer(h.ctx, &log), h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
	took := time.Since(start)
	if err != nil || r.Status != refund.StatusSucceeded {
		t.Fatalf("refund: %v %v", r, err)
	}
	// No "route": the call uses the order the reservation read.
	want := []string{"reserve_queue", "reserve_exec", "reserve_commit", "processor_queue", "processor",
		"result_queue", "result_exec", "result_commit"}
	if !slices.Equal(log.names, want) {
		t.Errorf("phases %v, want %v", log.names, want)
	}
	var sum time.Duration
	for _, d := range log.totals {
		if d < 0 {
			t.Errorf("negative phase in %v", log.totals)
		}
		sum += d
	}
	if sum > took {
		t.Errorf("phases add up to %v, more than the call's %v", sum, took)
	}
	// Untraced, nothing is reported and nothing breaks.
	if r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount}); err != nil || r.Status != refund.StatusSucceeded {
		t.Fatalf("untraced refund: %v %v", r, err)
	}
}

// hangingUpProcessor approves, and meanwhile the caller hangs up.
type hangingUpProcessor struct {
	instantProcessor
	hangUp context.CancelFunc
}

func (p *hangingUpProcessor) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	p.hangUp()
	return p.instantProcessor.Refund(ctx, req)
}

// A caller that hangs up during the processor call does not keep the
// answer from being recorded: the refund is succeeded at once, not left
// processing for the worker.
func TestCreateRefund_CallerHangsUp(t *testing.T) {
	t.Parallel()
	proc := &hangingUpProcessor{}
	h := newHarness(t, proc, nil)
	o := h.order(10_000)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	proc.hangUp = cancel
	amount := int64(100)
	r, err := h.svc.CreateRefund(ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.refund(r.ID); got.Status != refund.StatusSucceeded || r.Status != refund.StatusSucceeded {
		t.Fatalf("answered %s, stored %s: want succeeded", r.Status, got.Status)
	}
}
