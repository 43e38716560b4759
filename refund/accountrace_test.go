package refund_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// pausingStore runs during, once armed, inside the first write
// transaction that reads a processor account, just after the read: what
// another node does while a refund of the account is being reserved.
type pausingStore struct {
	refund.Store
	during atomic.Pointer[func()]
}

func (s *pausingStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	return s.Store.Update(ctx, func(tx refund.Tx) error { return fn(pausingTx{tx, s}) })
}

type pausingTx struct {
	refund.Tx
	s *pausingStore
}

func (tx pausingTx) GetProcessorAccount(ctx context.Context, merchantID, idOrName string) (*refund.ProcessorAccount, error) {
	a, err := tx.Tx.GetProcessorAccount(ctx, merchantID, idOrName)
	if during := tx.s.during.Swap(nil); during != nil {
		(*during)()
	}
	return a, err
}

// An operator removing a processor account while a refund of one of its
// orders was being reserved: the removal looked for open refunds before
// the refund committed, and the refund committed after the account was
// gone. On PostgreSQL (READ COMMITTED) both went through: the refund,
// 40.000 KWD reserved, went to the processor, which paid it with its
// answer lost, and from then on no node could read its route: the worker
// never asked the processor again, the refund stayed processing for ever,
// its money reserved and nobody told that it was paid. Now the removal is
// refused while the reservation holds the account, and the worker finds
// the refund paid. On SQLite, whose writers run one at a time, the
// removal runs after the reservation and is refused, as it always was.
func TestProcessorAccount_RemovedWhileARefundIsReserved(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			// Another writer runs during a transaction only where writers run
			// at once; on SQLite it would wait for this one to commit.
			concurrent := k.name == "postgres"
			conn := newCaps(processor.Capabilities{IdempotentSubmit: true, StatusByKey: true, StatusByReference: true, Partial: true})
			ps := &pausingStore{}
			h := newHarnessOn(t, func(t *testing.T) refund.Store { ps.Store = k.open(t); return ps }, &instantProcessor{}, func(c *refund.Config) {
				c.Sealer = plainSealer{}
				c.Connect = func(processor.Account) (processor.Processor, error) { return conn, nil }
			})
			if _, err := h.svc.AddProcessorAccount(h.ctx, h.p.MerchantID, refund.ProcessorAccountInput{Name: "acq", Kind: "acquirer",
				URL: "https://acq.example.com", Credential: "tok"}); err != nil {
				t.Fatal(err)
			}
			o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 100000, PaymentMethod: "card", Processor: "acq",
				ProcessorOrderID: "pay_1"})
			if err != nil {
				t.Fatal(err)
			}
			removed := make(chan error, 1)
			var removal error
			during := func() {
				go func() {
					_, err := h.svc.RemoveProcessorAccount(h.ctx, h.p.MerchantID, "acq")
					removed <- err
				}()
				if concurrent {
					removal = <-removed
				}
			}
			ps.during.Store(&during)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](40000)})
			if !concurrent {
				removal = <-removed
			}
			if err != nil {
				t.Fatalf("refund: %v (removal: %v)", err, removal)
			}
			if ps.during.Load() != nil {
				t.Fatal("the reservation read no processor account")
			}
			wantStatus(t, r, refund.StatusProcessing) // paid, the answer lost
			if refund.ErrorCode(removal) != refund.EConflict {
				t.Errorf("removal during the refund's reservation: %v, want %s", removal, refund.EConflict)
			}
			conn.execute(r.ID)
			h.drive(3)
			r = h.refund(r.ID)
			if r.Status != refund.StatusSucceeded || conn.executions(r.ID) != 1 {
				t.Fatalf("refund paid once by the processor is %s after the worker's passes (order pending %d); want succeeded",
					r.Status, h.getOrder(o.ID).PendingRefundAmount)
			}
		})
	}
}
