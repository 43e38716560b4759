package refund_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// downProcessor never answers a submission, and its status lookup fails
// (a processor that is down) until up is set; then it reports the refund
// approved.
type downProcessor struct {
	mu        sync.Mutex
	up        bool
	submitted int
	looks     int
}

func (p *downProcessor) Refund(context.Context, processor.Request) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.submitted++
	return processor.Result{}, errNoAnswer
}

func (p *downProcessor) Status(context.Context, string) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.looks++
	if !p.up {
		return processor.Result{}, &processor.TransientError{Code: "unavailable", Message: "service unavailable"}
	}
	return processor.Result{Status: processor.Approved, ResponseCode: "00"}, nil
}

// A refund whose answer was lost is looked up before anything else; while
// the processor is down every look fails, and a failed look counts no
// attempt. The looks were made at the first retry's pace (RetryBase) for
// as long as the processor was down, every such refund at once; each now
// waits twice as long as the one before, up to RetryMax, and the refund
// stays processing, its money reserved, never sent again, until the
// processor answers.
func TestLookups_BackOffWhileTheProcessorIsDown(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := &downProcessor{}
		h := newHarnessOn(t, open, proc, func(c *refund.Config) {
			c.RetryBase, c.RetryMax, c.MaxAttempts = time.Second, 10*time.Minute, 3
		})
		o := h.order(10000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, refund.StatusProcessing)
		var waits []time.Duration
		start := h.clk.Now()
		for h.clk.Now().Sub(start) < time.Hour && len(waits) < 40 {
			h.clk.Advance(h.refund(r.ID).NextAttemptAt.Sub(h.clk.Now()))
			if _, err := h.svc.ProcessDue(h.ctx, 10, 1); err != nil {
				t.Fatal(err)
			}
			waits = append(waits, h.refund(r.ID).NextAttemptAt.Sub(h.clk.Now()))
		}
		want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second,
			64 * time.Second, 128 * time.Second, 256 * time.Second, 512 * time.Second, 10 * time.Minute}
		for i, w := range waits {
			if i < len(want) && w != want[i] || i >= len(want) && w != 10*time.Minute {
				t.Fatalf("look %d waits %v after the one before failed (the first: %v), want %v, then 10m", i+1, w, waits[:min(len(waits), 12)], want)
			}
		}
		if len(waits) > len(want)+6 {
			t.Fatalf("%d looks in an hour of outage, want at most %d", len(waits), len(want)+6)
		}
		wantStatus(t, h.refund(r.ID), refund.StatusProcessing)
		if got := h.getOrder(o.ID); got.PendingRefundAmount != 10000 {
			t.Fatalf("pending %d while the outcome is unknown, want 10000 reserved", got.PendingRefundAmount)
		}
		proc.mu.Lock()
		proc.up = true
		submitted := proc.submitted
		proc.mu.Unlock()
		if submitted != 1 {
			t.Fatalf("submitted %d times while lookups failed, want 1", submitted)
		}
		h.clk.Advance(h.refund(r.ID).NextAttemptAt.Sub(h.clk.Now()))
		if _, err := h.svc.ProcessDue(h.ctx, 10, 1); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, h.refund(r.ID), refund.StatusSucceeded)
	})
}
