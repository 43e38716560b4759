package refund_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres/pgtest"
)

type chargebackKey struct{}

// firstLockStore runs during, once armed, inside the first write
// transaction whose ctx carries chargebackKey, just after the first read
// that locks a row (a refund's or the order's).
type firstLockStore struct {
	refund.Store
	during atomic.Pointer[func()]
}

func (s *firstLockStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	if ctx.Value(chargebackKey{}) == nil {
		return s.Store.Update(ctx, fn)
	}
	return s.Store.Update(ctx, func(tx refund.Tx) error { return fn(firstLockTx{tx, s}) })
}

type firstLockTx struct {
	refund.Tx
	s *firstLockStore
}

func (tx firstLockTx) locked() {
	if during := tx.s.during.Swap(nil); during != nil {
		(*during)()
	}
}

func (tx firstLockTx) GetRefund(ctx context.Context, merchantID, id string) (*refund.Refund, error) {
	r, err := tx.Tx.GetRefund(ctx, merchantID, id)
	tx.locked()
	return r, err
}

func (tx firstLockTx) GetOrderForRefund(ctx context.Context, merchantID, id string) (*refund.Order, error) {
	o, err := tx.Tx.GetOrderForRefund(ctx, merchantID, id)
	tx.locked()
	return o, err
}

func (tx firstLockTx) LockOrderRefunds(ctx context.Context, merchantID, orderID string, statuses ...refund.Status) ([]*refund.Refund, error) {
	rs, err := tx.Tx.LockOrderRefunds(ctx, merchantID, orderID, statuses...)
	tx.locked()
	return rs, err
}

// A chargeback that does not fit cancels the order's queued refunds; a
// merchant cancels one of them at the same moment on another node. The
// cancel locks the refund, then the order (its release); the chargeback
// locked the order, then the refund: on PostgreSQL each held one row and
// waited for the other, a deadlock that the server breaks only after
// deadlock_timeout (a second) by failing one of them, whose batch then
// ran again (with every other Update that shared it). The chargeback now
// takes the refunds it may cancel before the order, as a cancel does: the
// cancel waits for it, and finds the refund canceled. (SQLite runs one
// writer at a time: no deadlock to have.)
func TestChargeback_TakesLocksInACancelsOrder(t *testing.T) {
	url := pgtest.URL(t, 8)
	b := make([]byte, 6)
	rand.Read(b)
	app := "refundd_cancel_" + hex.EncodeToString(b)
	ctx := context.Background()
	a := &firstLockStore{Store: openPostgresURL(t, url)}
	other := openPostgresURL(t, url+"&application_name="+app)
	var n atomic.Int64
	newID := func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) }
	var svcs [2]*refund.Service
	for i, st := range []refund.Store{a, other} {
		svc, err := refund.NewService(refund.Config{Store: st, Processor: &instantProcessor{}, NewID: newID})
		if err != nil {
			t.Fatal(err)
		}
		svcs[i] = svc
	}
	_, key, err := svcs[0].CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	var ps [2]refund.Principal
	for i, svc := range svcs {
		if ps[i], err = svc.Authenticate(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	o, err := svcs[0].CreateOrder(ctx, ps[0], refund.OrderInput{Currency: "SAR", Amount: 10000})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svcs[0].CreateRefund(ctx, ps[0], refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000), Queue: true})
	if err != nil || r.Status != refund.StatusPending {
		t.Fatalf("%v %v, want a queued refund", r, err)
	}

	watch, err := pgx.Connect(ctx, pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	var cancelErr error
	canceled := make(chan struct{})
	var once sync.Once
	during := func() {
		once.Do(func() {
			go func() {
				defer close(canceled)
				_, cancelErr = svcs[1].CancelRefund(ctx, ps[1], r.ID)
			}()
			// Until the cancel waits for a row lock: the refund's, or,
			// holding the refund, the order's. One that never waited (it
			// ran first) is for the checks below.
			waitsForLock(t, watch, app, canceled)
		})
	}
	a.during.Store(&during)
	cb, _, err := svcs[0].ChargebackOrder(context.WithValue(ctx, chargebackKey{}, true), ps[0], o.ID,
		refund.AdjustmentInput{Amount: 7000, ProcessorReference: "CB-1"})
	if err != nil {
		t.Fatal(err)
	}
	<-canceled
	if a.during.Load() != nil {
		t.Fatal("the chargeback locked nothing")
	}
	retries := a.Store.(refund.CountingStore).Counts().Retries + other.(refund.CountingStore).Counts().Retries
	if retries != 0 {
		t.Errorf("%d transactions ran again (a deadlock between the chargeback and the cancel), want none", retries)
	}
	got, err := svcs[0].GetRefund(ctx, ps[0], r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != refund.StatusCanceled || cb.Applied != 7000 {
		t.Fatalf("refund %s, chargeback applied %d; want canceled, 7000", got.Status, cb.Applied)
	}
	if cancelErr != nil && refund.ErrorCode(cancelErr) != refund.ERefundNotCancelable {
		t.Fatalf("cancel: %v", cancelErr)
	}
	if o, err = svcs[0].GetOrder(ctx, ps[0], o.ID); err != nil || o.ChargedBackAmount != 7000 || o.PendingRefundAmount != 0 || o.Refundable() != 3000 {
		t.Fatalf("order charged back %d, pending %d, refundable %d (%v); want 7000, 0, 3000", o.ChargedBackAmount, o.PendingRefundAmount, o.Refundable(), err)
	}
}

// A refund of 40.00 at the processor when a chargeback of 70.00 came on a
// 100.00 order: 60.00 fitted, 10.00 is owed (the refund was counted as
// sent). The processor then answers that it executed nothing (a 429): the
// refund, back to pending, gives way whole, though the chargeback needs
// only 10.00 of the 40.00 it holds. That is the safe answer: kept and sent
// again, it would pay the cardholder 10.00 the bank already returned, and
// a refund's amount is what the merchant asked and the processor is sent,
// never cut. Nothing is lost: the chargeback takes its 10.00, its
// discrepancy goes to zero, and the other 30.00 can be refunded again.
func TestChargeback_OwedLessThanTheRefundReturnedToPendingHolds(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := &heldRefusal{entered: make(chan struct{}, 1), release: make(chan struct{})}
		h := newHarnessOn(t, open, proc, nil)
		o := sarOrder(t, h, 10000)
		done := make(chan *refund.Refund, 1)
		go func() {
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
			if err != nil {
				t.Error(err)
			}
			done <- r
		}()
		waitFor(t, proc.entered, "the refund at the processor")
		cb, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 7000, ProcessorReference: "CB-1"})
		if err != nil || cb.Applied != 6000 {
			t.Fatalf("chargeback during the call: %+v %v, want 6000 applied", cb, err)
		}
		close(proc.release)
		r := <-done
		if r == nil {
			t.FailNow()
		}
		h.drive(10)
		if got := h.refund(r.ID); got.Status != refund.StatusCanceled || got.FailureCode != "charged_back" || proc.calls.Load() != 1 {
			t.Fatalf("refund %s %s after %d calls; want canceled, charged_back, never sent again", got.Status, got.FailureCode, proc.calls.Load())
		}
		got := h.getOrder(o.ID)
		if got.ChargedBackAmount != 7000 || got.PendingRefundAmount != 0 || got.RefundedAmount != 0 || got.Refundable() != 3000 {
			t.Fatalf("order charged back %d, pending %d, refunded %d, refundable %d; want 7000, 0, 0, 3000",
				got.ChargedBackAmount, got.PendingRefundAmount, got.RefundedAmount, got.Refundable())
		}
		ds, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{Kind: refund.DiscrepancyChargebackAfterRefund})
		if err != nil || len(ds.Data) != 1 || ds.Data[0].Amount != 0 {
			t.Fatalf("discrepancies %+v (%v); want the chargeback's, down to 0", ds.Data, err)
		}
		again, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](3000)})
		if err != nil || again.Status != refund.StatusSucceeded {
			t.Fatalf("refund of the 3000 left: %v %v", again, err)
		}
	})
}

// waitsForLock waits until a session of application app waits for a
// lock (true) or done is closed (false), polling pg_stat_activity through
// watch; after 30 s it reports an error and answers false.
func waitsForLock(t *testing.T, watch *pgx.Conn, app string, done <-chan struct{}) bool {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waits bool
		if err := watch.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock')`, app).Scan(&waits); err != nil {
			t.Error(err)
			return false
		}
		if waits {
			return true
		}
		select {
		case <-done:
			return false
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Errorf("session %s neither finished nor waited for a lock", app)
			return false
		}
	}
}
