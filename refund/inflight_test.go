package refund_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// gateProcessor holds every refund call until release is closed, so a test
// can keep a refund in flight for as long as it needs.
type gateProcessor struct {
	entered chan struct{} // signalled when a call arrives
	release chan struct{} // closed to let calls answer approved
}

func (g *gateProcessor) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
		return processor.Result{Status: processor.Approved, ResponseCode: "00", Message: "Approved"}, nil
	case <-ctx.Done():
		return processor.Result{}, ctx.Err()
	}
}

func (g *gateProcessor) Status(ctx context.Context, key string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNotFound
}

// viewSignalStore signals every finished read transaction, so a test knows
// a waiting request has looked at the order at least once.
type viewSignalStore struct {
	refund.Store
	views chan struct{}
}

func (s *viewSignalStore) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	err := s.Store.View(ctx, fn)
	select {
	case s.views <- struct{}{}:
	default:
	}
	return err
}

func TestCreateRefund_AwaitInFlight(t *testing.T) {
	tests := []struct {
		name     string
		wait     time.Duration
		wantCode string // "" when the second refund must succeed
	}{
		{"SettlesWithinWait", 30 * time.Second, ""},
		{"ErrRefundInProgressOnOrder", 20 * time.Millisecond, refund.ERefundInProgressOnOrder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := sqlite.Open(ctx, sqlitetest.Path(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			store := &viewSignalStore{Store: st, views: make(chan struct{}, 1)}
			proc := &gateProcessor{entered: make(chan struct{}, 1), release: make(chan struct{})}
			var n atomic.Int64
			svc, err := refund.NewService(refund.Config{Store: store, Processor: proc,
				NewID:            func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) },
				ProcessorTimeout: time.Minute, InFlightWait: tt.wait})
			if err != nil {
				t.Fatal(err)
			}
			_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "M"})
			if err != nil {
				t.Fatal(err)
			}
			p, err := svc.Authenticate(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 10_000})
			if err != nil {
				t.Fatal(err)
			}
			amount := func(v int64) *int64 { return &v }

			// The first refund finds nothing in flight and then stays in
			// the processor until released.
			first := make(chan error, 1)
			go func() {
				_, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: amount(1000), AwaitInFlight: true})
				first <- err
			}()
			waitFor(t, proc.entered, "the first refund to reach the processor")
			drain(store.views)

			second := make(chan error, 1)
			var got *refund.Refund
			go func() {
				var err error
				got, err = svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: amount(2000), AwaitInFlight: true})
				second <- err
			}()
			waitFor(t, store.views, "the second refund to look at the order")

			if tt.wantCode != "" {
				err := <-second
				if refund.ErrorCode(err) != tt.wantCode {
					t.Fatalf("second refund: want %s, got %v", tt.wantCode, err)
				}
				cur, err := svc.GetOrder(ctx, p, o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if cur.PendingRefundAmount != 1000 || cur.RefundCount != 1 {
					t.Fatalf("a refused refund changed the order: pending %d, refunds %d", cur.PendingRefundAmount, cur.RefundCount)
				}
				close(proc.release)
				if err := <-first; err != nil {
					t.Fatal(err)
				}
				return
			}
			close(proc.release)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if err := <-second; err != nil {
				t.Fatalf("second refund should run once the first settled: %v", err)
			}
			if got.Status != refund.StatusSucceeded || got.Seq != 2 {
				t.Fatalf("second refund: status %s seq %d", got.Status, got.Seq)
			}
		})
	}
}

func TestCreateRefund_AwaitInFlightUnknownOrder(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := refund.NewService(refund.Config{Store: st, Processor: &gateProcessor{},
		NewID: func(p string) string { return p + "_1" }})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "M"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := svc.Authenticate(ctx, key)
	one := int64(1)
	_, err = svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: "ord_missing", Amount: &one, AwaitInFlight: true})
	if refund.ErrorCode(err) != refund.EOrderNotFound {
		t.Fatalf("want %s, got %v", refund.EOrderNotFound, err)
	}
}

// waitFor receives from ch, failing the test if nothing arrives in time
// (a deadline against a hang, not a sleep).
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func drain(ch chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
