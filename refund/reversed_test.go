package refund_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// alreadyReversed answers a submission with an execution that was reversed
// before the answer came back.
type alreadyReversed struct{}

func (alreadyReversed) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Reversed, ResponseCode: "00", RRN: "632700000001"}, nil
}

func (alreadyReversed) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{Status: processor.Reversed, ResponseCode: "00"}, nil
}

// A processing refund the processor reports reversed is not left
// processing forever: it goes succeeded, then reversed, and the order's
// counters come back to where they were.
func TestApplyReversedWhileProcessing(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var n atomic.Int64
	svc, err := refund.NewService(refund.Config{Store: st, Processor: alreadyReversed{},
		NewID: func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) }})
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
	o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "KWD", Amount: 5000, PaymentMethod: "card",
		Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
	if err != nil {
		t.Fatal(err)
	}
	amount := int64(1005)
	r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != refund.StatusReversed {
		t.Fatalf("refund is %s, want reversed", r.Status)
	}
	trs, err := svc.Transitions(ctx, p, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := trs[len(trs)-1]; last.From != refund.StatusSucceeded || last.To != refund.StatusReversed {
		t.Fatalf("last transition %+v, want succeeded -> reversed", last)
	}
	o, err = svc.GetOrder(ctx, p, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.RefundedAmount != 0 || o.PendingRefundAmount != 0 {
		t.Fatalf("order after a reversed refund: refunded %d, pending %d; want 0 and 0", o.RefundedAmount, o.PendingRefundAmount)
	}
}
