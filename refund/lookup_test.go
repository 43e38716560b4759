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
// as long as the processor was down, every such refund at once: 3,600 an
// hour. Each now waits an eighth of the refund's age (at least the
// attempt's backoff, at most RetryMax), and the refund stays processing,
// its money reserved, never sent again, until the processor answers.
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
		looks := 0
		for h.clk.Now().Sub(r.CreatedAt) < 2*time.Hour {
			h.clk.Advance(h.refund(r.ID).NextAttemptAt.Sub(h.clk.Now()))
			if _, err := h.svc.ProcessDue(h.ctx, 10, 1); err != nil {
				t.Fatal(err)
			}
			looks++
			age := h.clk.Now().Sub(r.CreatedAt)
			want := max(time.Second, min(age/8, 10*time.Minute))
			if got := h.refund(r.ID).NextAttemptAt.Sub(h.clk.Now()); got < want-time.Millisecond || got > want+time.Millisecond {
				t.Fatalf("look %d, the refund %v old, waits %v after it failed, want %v", looks, age, got, want)
			}
			if looks > 200 {
				t.Fatalf("more than 200 looks in two hours of outage")
			}
		}
		// From 1 s apart to an eighth of the age: about 8 ln(age) looks
		// until the cap, then 6 an hour.
		if looks < 60 || looks > 100 {
			t.Fatalf("%d looks in two hours of outage, want 60-100", looks)
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
