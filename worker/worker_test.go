package worker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
	"github.com/refundd/refundd/worker"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	ctx context.Context
	clk *clock
	acq *sandbox.Acquirer
	svc *refund.Service
	p   refund.Principal
}

func newFixture(t *testing.T, lateRate float64) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	acq := sandbox.New(sandbox.Config{Now: clk.Now, LateRate: lateRate, LateDelay: time.Minute})
	var n atomic.Int64
	svc, err := refund.NewService(refund.Config{Store: st, Processor: acq, Now: clk.Now,
		NewID:            func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) },
		ProcessorTimeout: 50 * time.Millisecond, QueueHold: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ctx: ctx, clk: clk, acq: acq, svc: svc, p: p}
}

func (f *fixture) refund(t *testing.T, queue bool) *refund.Refund {
	t.Helper()
	o, err := f.svc.CreateOrder(f.ctx, f.p, refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
		Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.CreateRefund(f.ctx, f.p, refund.RefundInput{OrderID: o.ID, Queue: queue, IdempotencyKey: "k-" + o.ID})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) status(t *testing.T, id string) refund.Status {
	t.Helper()
	r, err := f.svc.GetRefund(f.ctx, f.p, id)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// A queued refund waits out its hold, then one pass submits it.
func TestRunOnce_SubmitsAQueuedRefundAfterItsHold(t *testing.T) {
	f := newFixture(t, 0)
	w := worker.New(f.svc, worker.Config{})
	r := f.refund(t, true)
	if n, err := w.RunOnce(f.ctx); err != nil || n != 0 {
		t.Fatalf("pass during the hold claimed %d (%v), want 0", n, err)
	}
	f.clk.Advance(time.Minute)
	if n, err := w.RunOnce(f.ctx); err != nil || n != 1 {
		t.Fatalf("pass after the hold claimed %d (%v), want 1", n, err)
	}
	if s := f.status(t, r.ID); s != refund.StatusSucceeded {
		t.Fatalf("refund is %s, want succeeded", s)
	}
}

// A refund whose submission went unanswered is finished by the worker: it
// asks for the status first, and the acquirer executes it once.
func TestRunOnce_FinishesAnUnansweredRefundOnce(t *testing.T) {
	f := newFixture(t, 1) // every refund executes a minute late, unanswered
	w := worker.New(f.svc, worker.Config{})
	r := f.refund(t, false)
	if s := f.status(t, r.ID); s != refund.StatusProcessing {
		t.Fatalf("refund is %s after an unanswered submission, want processing", s)
	}
	for range 5 {
		f.clk.Advance(20 * time.Second)
		if _, err := w.RunOnce(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s := f.status(t, r.ID); s != refund.StatusSucceeded {
		t.Fatalf("refund is %s, want succeeded", s)
	}
	log := f.acq.Executions()
	if len(log) != 1 || log[0].Key != r.ID || sandbox.DoubleExecutions(log) != nil {
		t.Fatalf("execution log %+v, want the refund once", log)
	}
}

// Start runs passes in the background; Stop waits for the pass under way,
// may be called twice, and on a worker never started.
func TestStartStop(t *testing.T) {
	f := newFixture(t, 0)
	worker.New(f.svc, worker.Config{}).Stop() // never started
	w := worker.New(f.svc, worker.Config{Interval: time.Millisecond})
	r := f.refund(t, true)
	f.clk.Advance(time.Minute)
	if err := w.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(f.ctx); err != nil { // a second Start does nothing
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.status(t, r.ID) != refund.StatusSucceeded {
		if time.Now().After(deadline) {
			t.Fatal("the background worker did not submit the due refund")
		}
		time.Sleep(5 * time.Millisecond) // polling for the loop's effect, bounded
	}
	w.Stop()
	w.Stop()
}

// Housekeeping deletes idempotency keys past their expiry (24 hours).
func TestHousekeeping(t *testing.T) {
	f := newFixture(t, 0)
	r := f.refund(t, false)
	f.clk.Advance(25 * time.Hour)
	n, err := f.svc.Housekeep(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("Housekeep deleted %d (%v), want 1", n, err)
	}
	// The key is gone: the same key now makes a new refund of what is
	// left (nothing: refused), not a replay of the first.
	_, err = f.svc.CreateRefund(f.ctx, f.p, refund.RefundInput{OrderID: r.OrderID, IdempotencyKey: "k-" + r.OrderID})
	if refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
		t.Fatalf("after the key expired: %v, want %s", err, refund.EAmountExceedsRefundable)
	}
}
