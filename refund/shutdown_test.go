package refund_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// stopping is a processor whose first call stops the worker (its context
// is canceled, as Worker.Stop does on shutdown) and goes unanswered.
type stopping struct {
	mu   sync.Mutex
	stop context.CancelFunc
	seen []string
}

func (p *stopping) Refund(_ context.Context, req processor.Request) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, req.IdempotencyKey)
	p.stop()
	return processor.Result{}, &processor.TransientError{Code: "timeout", Message: "no answer"}
}

func (p *stopping) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNotFound
}

func (p *stopping) Capabilities() processor.Capabilities {
	return processor.Capabilities{IdempotentSubmit: true, StatusByKey: true, Partial: true}
}

// TestShutdownHandsClaimedRefundsBack: a worker pass stopped by shutdown
// hands back the refunds it claimed and had not begun, so that the next
// node takes them at once. The hand-back ran on the pass's context, which
// shutdown had just canceled: it failed, and each such refund sat out its
// whole lease (ProcessorTimeout + 20s) before anyone took it.
func TestShutdownHandsClaimedRefundsBack(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := &stopping{}
		h := newHarnessOn(t, open, proc, nil)
		o := h.order(10_000)
		var ids []string
		for range 2 {
			amount := int64(100)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount, Queue: true})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		h.clk.Advance(2 * time.Minute) // past the queue hold
		ctx, stop := context.WithCancel(h.ctx)
		proc.stop = stop
		if n, err := h.svc.ProcessDue(ctx, 10, 1); err != nil || n != 2 {
			t.Fatalf("stopped pass: claimed %d, %v; want both", n, err)
		}
		if len(proc.seen) != 1 {
			t.Fatalf("the processor saw %v; want the first refund only", proc.seen)
		}
		left := ids[0]
		if left == proc.seen[0] {
			left = ids[1]
		}
		// Another node's pass, at the same moment: the refund not begun is
		// due (the one sent waits for its backoff).
		if n, err := h.node(proc, nil).ProcessDue(h.ctx, 10, 1); err != nil || n != 1 {
			t.Fatalf("next pass: claimed %d, %v; want the refund %s handed back", n, err, left)
		}
		if len(proc.seen) != 2 || proc.seen[1] != left {
			t.Fatalf("the processor saw %v; want %s second", proc.seen, left)
		}
	})
}
