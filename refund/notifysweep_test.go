package refund_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// sweptProcessor approves at once; the next status lookup, once armed,
// runs during before it answers what it found. A key it was told is
// reversed answers so from then on.
type sweptProcessor struct {
	instantProcessor
	mu       sync.Mutex
	during   func()
	reversed map[string]bool
}

func (p *sweptProcessor) Status(ctx context.Context, key string) (processor.Result, error) {
	res, err := p.instantProcessor.Status(ctx, key)
	p.mu.Lock()
	during := p.during
	p.during = nil
	if p.reversed[key] && err == nil {
		res.Status = processor.Reversed
	}
	p.mu.Unlock()
	if during != nil {
		during()
	}
	return res, err
}

func (p *sweptProcessor) reverse(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reversed == nil {
		p.reversed = map[string]bool{}
	}
	p.reversed[key] = true
}

type notificationKey struct{}

// heldNotification holds the writes of a notification (its ctx marked
// with notificationKey) until release is closed, and closes read once the
// notification has read the refund.
type heldNotification struct {
	refund.Store
	read, release chan struct{}
	once          sync.Once
}

func (s *heldNotification) View(ctx context.Context, fn func(refund.Tx) error) error {
	err := s.Store.View(ctx, fn)
	if ctx.Value(notificationKey{}) != nil {
		s.once.Do(func() { close(s.read) })
	}
	return err
}

func (s *heldNotification) Update(ctx context.Context, fn func(refund.Tx) error) error {
	if ctx.Value(notificationKey{}) != nil {
		<-s.release
	}
	return s.Store.Update(ctx, fn)
}

// A reversal notified while the worker's last status sweep of the refund
// was out: the sweep asked before the issuer returned the money and heard
// "approved"; the notification read the refund after the sweep's claim and
// wrote after the sweep had recorded its look. Fenced by the version it
// had read, the notification changed nothing and was answered "the refund
// is succeeded; a refund.reversed notification changes nothing", which the
// processor takes as delivered: 40.00 SAR the issuer returned stayed
// refunded in refundd for good (no sweep was left), the customer unpaid
// and the order unable to refund it again. A notification is the
// processor's word, asked under no lease: it now applies to the refund as
// it stands when it is written.
func TestProcessorNotifications_ReversalDuringTheLastSweep(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			proc := &sweptProcessor{}
			hold := &heldNotification{read: make(chan struct{}), release: make(chan struct{})}
			h := newHarnessOn(t, func(t *testing.T) refund.Store { hold.Store = k.open(t); return hold }, proc,
				func(c *refund.Config) { c.SweepAges = []time.Duration{time.Hour} })
			o := sarOrder(t, h, 10000)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, refund.StatusSucceeded)
			var outcome refund.NotificationOutcome
			var notifyErr error
			notified := make(chan struct{})
			proc.during = func() {
				// The issuer returns the money after the lookup found it paid;
				// the processor tells refundd.
				go func() {
					defer close(notified)
					ctx := context.WithValue(h.ctx, notificationKey{}, true)
					outcome, notifyErr = h.svc.ApplyNotification(ctx, refund.Notification{ID: "msg_1",
						Type: refund.NotifyRefundReversed, RefundID: r.ID, ResponseCode: "00"})
				}()
				<-hold.read
			}
			h.clk.Advance(61 * time.Minute)
			if n, err := h.svc.ProcessDue(h.ctx, 10, 1); n != 1 || err != nil {
				t.Fatalf("the sweep claimed %d refunds: %v", n, err)
			}
			close(hold.release)
			<-notified
			if notifyErr != nil {
				t.Fatal(notifyErr)
			}
			got := h.refund(r.ID)
			if !outcome.Applied || got.Status != refund.StatusReversed {
				t.Fatalf("reversal notified during the last sweep: applied %v (%s), refund %s; want reversed",
					outcome.Applied, outcome.Note, got.Status)
			}
			if got := h.getOrder(o.ID); got.RefundedAmount != 0 {
				t.Fatalf("order refunded %d after its only refund was reversed, want 0", got.RefundedAmount)
			}
		})
	}
}

// A sync forced while the worker's last status sweep of the refund was
// out: the sweep heard "approved" just before the issuer returned the
// money, the sync asked after and heard "reversed", and the sweep
// recorded its look first. Fenced by the version its first read found,
// the sync recorded nothing and answered the refund succeeded: the repair
// the merchant asked for answered that nothing needed repairing, and with
// no sweep left 40.00 SAR the issuer returned stayed refunded. A sync
// now records the processor's answer on the refund as it stands.
func TestSync_ReversalDuringTheLastSweep(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			proc := &sweptProcessor{}
			hold := &heldNotification{read: make(chan struct{}), release: make(chan struct{})}
			h := newHarnessOn(t, func(t *testing.T) refund.Store { hold.Store = k.open(t); return hold }, proc,
				func(c *refund.Config) { c.SweepAges = []time.Duration{time.Hour} })
			o := sarOrder(t, h, 10000)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, refund.StatusSucceeded)
			var synced *refund.Refund
			var syncErr error
			done := make(chan struct{})
			proc.during = func() {
				proc.reverse(r.ID) // the issuer returns the money after the sweep's lookup
				go func() {
					defer close(done)
					synced, syncErr = h.svc.SyncRefund(context.WithValue(h.ctx, notificationKey{}, true), h.p, r.ID)
				}()
				<-hold.read
			}
			h.clk.Advance(61 * time.Minute)
			if n, err := h.svc.ProcessDue(h.ctx, 10, 1); n != 1 || err != nil {
				t.Fatalf("the sweep claimed %d refunds: %v", n, err)
			}
			close(hold.release)
			<-done
			if syncErr != nil {
				t.Fatal(syncErr)
			}
			got := h.refund(r.ID)
			if synced.Status != refund.StatusReversed || got.Status != refund.StatusReversed {
				t.Fatalf("sync during the last sweep answered %s, the refund is %s; want reversed", synced.Status, got.Status)
			}
			if got := h.getOrder(o.ID); got.RefundedAmount != 0 {
				t.Fatalf("order refunded %d after its only refund was reversed, want 0", got.RefundedAmount)
			}
		})
	}
}
