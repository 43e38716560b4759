package refund_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// wordyProcessor answers every submission with a message longer than
// refundd keeps, in Arabic: in an error (the outcome unknown, or the
// attempt not sent), or in a decline that also holds a NUL.
type wordyProcessor struct{ notExecuted, declined bool }

// wordy is 401 bytes: cut at 300, it would end in half a letter.
var wordy = "x" + strings.Repeat("ع", 200)

func (p wordyProcessor) Refund(context.Context, processor.Request) (processor.Result, error) {
	if p.declined {
		return processor.Result{Status: processor.Declined, ResponseCode: "05\x00", Message: "\x00" + wordy}, nil
	}
	return processor.Result{}, &processor.TransientError{Code: "timeout", Message: wordy, NotExecuted: p.notExecuted}
}

func (wordyProcessor) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNotFound
}

// TestLongProcessorMessageIsKeptWhole: a processor's message longer than
// what a refund keeps is cut between letters, never inside one: cut
// inside, it is not UTF-8, PostgreSQL refuses to store it, and the
// refund's outcome (an unknown one, an attempt not sent, a decline) is
// never recorded; a NUL is dropped for the same reason.
func TestLongProcessorMessageIsKeptWhole(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		for _, p := range []wordyProcessor{{}, {notExecuted: true}, {declined: true}} {
			h := newHarnessOn(t, open, p, nil)
			o := h.order(10_000)
			amount := int64(1_000)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
			if err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
			got := h.refund(r.ID)
			want := refund.StatusProcessing // outcome unknown
			switch {
			case p.declined:
				want = refund.StatusFailed
			case p.notExecuted:
				want = refund.StatusPending // the attempt given back
			}
			if got.Status != want || !utf8.ValidString(got.FailureMessage) || !strings.HasPrefix(wordy, got.FailureMessage) || len(got.FailureMessage) < 290 {
				t.Fatalf("%+v: %s (want %s), message %q", p, got.Status, want, got.FailureMessage)
			}
			if p.declined && got.FailureCode != "05" {
				t.Fatalf("declined with code %q", got.FailureCode)
			}
		}
	})
}
