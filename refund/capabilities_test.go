package refund_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// capsProcessor is a lateProcessor that declares what its API can prove,
// as a connector does, and can be told to refuse calls before executing
// them (a 429, an open circuit) or to refuse its credentials.
type capsProcessor struct {
	*lateProcessor
	caps       processor.Capabilities
	refuse     int           // the next refuse submissions answer NotExecuted
	retryAfter time.Duration // what those refusals ask
	decline    string        // submissions answer this decline code
}

func (p *capsProcessor) Capabilities() processor.Capabilities { return p.caps }

func (p *capsProcessor) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	p.mu.Lock()
	if p.refuse > 0 {
		p.refuse--
		p.mu.Unlock()
		return processor.Result{}, &processor.TransientError{Code: "rate_limited", Message: "slow down", NotExecuted: true, RetryAfter: p.retryAfter}
	}
	if p.decline != "" {
		p.submitted[req.IdempotencyKey]++
		code := p.decline
		p.mu.Unlock()
		return processor.Result{Status: processor.Declined, ResponseCode: code, Message: "refused: " + code}, nil
	}
	p.mu.Unlock()
	return p.lateProcessor.Refund(ctx, req)
}

func (p *capsProcessor) Status(ctx context.Context, key string) (processor.Result, error) {
	if !p.caps.StatusByKey {
		return processor.Result{}, processor.ErrNoStatus
	}
	return p.lateProcessor.Status(ctx, key)
}

func (p *capsProcessor) submissions(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.submitted[key]
}

func newCaps(caps processor.Capabilities) *capsProcessor {
	return &capsProcessor{lateProcessor: newLateProcessor(), caps: caps}
}

// The rule: an unknown outcome at a processor that can neither be
// asked nor safely sent the refund again goes to review at once, and is
// never submitted again, however long the worker runs.
func TestCapabilities_NoStatusNoIdempotencyGoesToReview(t *testing.T) {
	proc := newCaps(processor.Capabilities{Partial: true})
	h := newHarness(t, proc, nil)
	o := h.order(10000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, refund.StatusRequiresReview)
	h.drive(100)
	wantStatus(t, h.refund(r.ID), refund.StatusRequiresReview)
	if n := proc.submissions(r.ID); n != 1 {
		t.Fatalf("submitted %d times, want 1: never resubmitted", n)
	}
	if o := h.getOrder(o.ID); o.PendingRefundAmount != 4000 {
		t.Fatalf("pending %d, want the amount still reserved", o.PendingRefundAmount)
	}
}

func TestCapabilities_UnknownOutcome(t *testing.T) {
	tests := []struct {
		name  string
		caps  processor.Capabilities
		late  bool // the lost first attempt executes before the worker looks
		want  refund.Status
		wantN int // submissions
	}{
		// Status by key, but a second submission would be a second refund:
		// "not found" proves nothing about the lost attempt: review.
		{"status, not idempotent", processor.Capabilities{StatusByKey: true, Partial: true}, false, refund.StatusRequiresReview, 1},
		// Status by key finds the late execution.
		{"status finds it", processor.Capabilities{StatusByKey: true, Partial: true}, true, refund.StatusSucceeded, 1},
		// No lookup, but the processor answers a resubmission of the key
		// with the first result: resubmitting is the lookup, executed once.
		{"idempotent, no status, executed", processor.Capabilities{IdempotentSubmit: true, Partial: true}, true, refund.StatusSucceeded, 2},
		{"idempotent and status", processor.Capabilities{IdempotentSubmit: true, StatusByKey: true, Partial: true}, true, refund.StatusSucceeded, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proc := newCaps(tc.caps)
			h := newHarness(t, proc, nil)
			o := h.order(10000)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](2500)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.late {
				proc.execute(r.ID)
			}
			h.drive(30)
			r = h.refund(r.ID)
			wantStatus(t, r, tc.want)
			if n := proc.submissions(r.ID); n != tc.wantN {
				t.Fatalf("submitted %d times, want %d", n, tc.wantN)
			}
			if n := proc.executions(r.ID); tc.late && n != 1 {
				t.Fatalf("executed %d times, want 1", n)
			}
		})
	}
}

// TestCapabilities_PendingWhereResubmittingIsTheLookup: at a processor
// without status lookup that answers a second submission of a key with
// the first's result, "pending" is the processor saying it holds the
// refund. It is asked again at the poll interval, as a processor with a
// lookup is, and such looks are not attempts: counted, they sent the
// refund to review as "not executed" after MaxAttempts, where nothing
// asks again and a person had to settle a refund the processor was
// paying.
func TestCapabilities_PendingWhereResubmittingIsTheLookup(t *testing.T) {
	proc := newCaps(processor.Capabilities{IdempotentSubmit: true, Partial: true})
	h := newHarness(t, proc, nil)
	o := h.order(10000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](2500)})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, refund.StatusProcessing)
	proc.mu.Lock()
	proc.results[r.ID] = processor.Result{Status: processor.Pending, ResponseCode: "001"}
	proc.mu.Unlock()
	h.drive(30)
	got := h.refund(r.ID)
	wantStatus(t, got, refund.StatusProcessing)
	if n := proc.submissions(r.ID); n < 10 || got.Attempts != 1 {
		t.Fatalf("submitted %d times, %d attempts counted; want it asked at every pass, 1 attempt (the unanswered first)", n, got.Attempts)
	}
	proc.mu.Lock()
	proc.results[r.ID] = processor.Result{Status: processor.Approved, ResponseCode: "00", RRN: "632700000001"}
	proc.mu.Unlock()
	h.drive(1)
	wantStatus(t, h.refund(r.ID), refund.StatusSucceeded)
	if o := h.getOrder(o.ID); o.RefundedAmount != 2500 || o.PendingRefundAmount != 0 {
		t.Fatalf("order refunded %d pending %d", o.RefundedAmount, o.PendingRefundAmount)
	}
}

// A refusal that proves nothing executed (429, open circuit) gives the
// attempt back: the refund waits as pending (cancelable), honours
// Retry-After, and goes out when the processor takes calls again.
func TestCapabilities_NotExecutedWaitsAsPending(t *testing.T) {
	proc := newCaps(processor.All)
	proc.refuse, proc.retryAfter = 2, 90*time.Second
	h := newHarness(t, proc, nil)
	o := h.order(10000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](1000)})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, refund.StatusPending)
	if r.Attempts != 0 || r.NextAttemptAt.Before(h.clk.Now().Add(90*time.Second)) {
		t.Fatalf("attempts %d next %v; want 0 and not before Retry-After", r.Attempts, r.NextAttemptAt.Sub(h.clk.Now()))
	}
	// A second refund refused the same way can still be canceled.
	r2, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](500)})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r2, refund.StatusPending)
	if r2, err = h.svc.CancelRefund(h.ctx, h.p, r2.ID); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r2, refund.StatusCanceled)
	proc.mu.Lock()
	proc.results[r.ID] = processor.Result{Status: processor.Approved, ResponseCode: "00"}
	proc.mu.Unlock()
	h.drive(5)
	wantStatus(t, h.refund(r.ID), refund.StatusSucceeded)
	if o := h.getOrder(o.ID); o.RefundedAmount != 1000 || o.PendingRefundAmount != 0 {
		t.Fatalf("order refunded %d pending %d; want 1000 and 0", o.RefundedAmount, o.PendingRefundAmount)
	}
}

// Refused credentials, no room left on the order, or no such order are
// final on a first attempt (the money goes back to the order), but say
// nothing about an earlier attempt whose answer was lost (no room may be
// that attempt's doing; an order it refunded exists): then the refund
// stays open, its amount reserved.
func TestCapabilities_DeclinesAfterALostAttempt(t *testing.T) {
	for _, code := range []string{processor.CodeAuthFailed, processor.CodeNothingLeft, processor.CodeNoSuchOrder} {
		t.Run(code+", first attempt fails", func(t *testing.T) {
			proc := newCaps(processor.All)
			proc.decline = code
			h := newHarness(t, proc, nil)
			o := h.order(10000)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](1000)})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, refund.StatusFailed)
			if r.FailureCode != code {
				t.Fatalf("failure code %q, want %s", r.FailureCode, code)
			}
			if o := h.getOrder(o.ID); o.PendingRefundAmount != 0 || o.Refundable() != 10000 {
				t.Fatalf("order pending %d refundable %d; want the money back", o.PendingRefundAmount, o.Refundable())
			}
		})
		t.Run(code+", after a lost attempt", func(t *testing.T) {
			proc := newCaps(processor.All)
			h := newHarness(t, proc, nil)
			o := h.order(10000)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](1000)})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, r, refund.StatusProcessing)
			proc.mu.Lock()
			proc.decline = code
			proc.mu.Unlock()
			h.drive(30)
			r = h.refund(r.ID)
			if r.Status == refund.StatusFailed {
				t.Fatalf("refund failed on %s after a lost attempt; its first attempt may have executed", code)
			}
			if n := proc.submissions(r.ID); n < 2 {
				t.Fatalf("submitted %d times: the decline was never answered to a resubmission", n)
			}
			if o := h.getOrder(o.ID); o.PendingRefundAmount != 1000 {
				t.Fatalf("pending %d, want the amount still reserved", o.PendingRefundAmount)
			}
		})
	}
}

// What a processor cannot express is refused when the refund is created,
// with nothing reserved.
func TestCapabilities_RefusedAtCreation(t *testing.T) {
	tests := []struct {
		name  string
		caps  processor.Capabilities
		in    refund.RefundInput
		param string
	}{
		{"partial at a whole-order processor", processor.Capabilities{IdempotentSubmit: true}, refund.RefundInput{Amount: ptr[int64](999)}, "amount"},
		{"vendors at a processor without splits", processor.Capabilities{Partial: true}, refund.RefundInput{Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 100}}}, "vendors"},
		{"lines at a processor without lines", processor.Capabilities{Partial: true}, refund.RefundInput{Items: []refund.RefundItemInput{{ItemID: "i1", Qty: 1}}}, "items"},
		{"no lines where lines are required", processor.Capabilities{Partial: true, Lines: true, LinesRequired: true}, refund.RefundInput{Amount: ptr[int64](100)}, "items"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proc := newCaps(tc.caps)
			h := newHarness(t, proc, nil)
			oi := refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
				Items: []refund.ItemInput{{ID: "i1", SKU: "S1", NameEN: "Lamp", Qty: 2, UnitAmount: 5000}}}
			if tc.param == "vendors" {
				oi.Vendors = []refund.VendorInput{{ID: "v1", Name: "Vendor", Amount: 10000}}
			}
			o, err := h.svc.CreateOrder(h.ctx, h.p, oi)
			if err != nil {
				t.Fatal(err)
			}
			in := tc.in
			in.OrderID = o.ID
			_, err = h.svc.CreateRefund(h.ctx, h.p, in)
			if refund.ErrorCode(err) != refund.EProcessorUnsupported || refund.ErrorParam(err) != tc.param {
				t.Fatalf("err = %v (%s, param %q), want %s on %s", err, refund.ErrorCode(err), refund.ErrorParam(err), refund.EProcessorUnsupported, tc.param)
			}
			if got := h.getOrder(o.ID); got.PendingRefundAmount != 0 || got.RefundCount != 0 {
				t.Fatalf("order pending %d refunds %d after a refused refund; want nothing reserved", got.PendingRefundAmount, got.RefundCount)
			}
			if n := len(proc.submitted); n != 0 {
				t.Fatalf("the processor was called %d times", n)
			}
		})
	}
	// The whole order in one refund goes to a whole-order processor.
	proc := newCaps(processor.Capabilities{IdempotentSubmit: true, StatusByKey: true})
	h := newHarness(t, proc, nil)
	o := h.order(10000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
	if err != nil {
		t.Fatalf("a whole-order refund was refused: %v", err)
	}
	if r.Amount != 10000 {
		t.Fatalf("amount %d, want the whole order", r.Amount)
	}
	// The refusals say what can be done: on a fresh order, the amount to
	// refund, in the order's money; once refunded, that no refund is left
	// (advice to refund "all of what is refundable (0)" helped nobody).
	partial := h.order(10000)
	_, err = h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: partial.ID, Amount: ptr[int64](999)})
	if refund.ErrorCode(err) != refund.EProcessorUnsupported || !strings.Contains(err.Error(), "refund all of the 10.000 KWD refundable") {
		t.Fatalf("a partial refund at a whole-order processor: %v; want the 10.000 KWD to refund named", err)
	}
	_, err = h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](1)})
	if refund.ErrorCode(err) != refund.EProcessorUnsupported || !strings.Contains(err.Error(), "has a refund already (") || !strings.Contains(err.Error(), "10.000 KWD") {
		t.Fatalf("a second refund at a whole-order processor: %v; want its one refund named as taken", err)
	}
}

// flakyView fails the next View once armed: a transient read error (a
// dropped connection, a busy database).
type flakyView struct {
	refund.Store
	armed atomic.Bool
}

func (s *flakyView) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	if s.armed.CompareAndSwap(true, false) {
		return errors.New("read failed: connection reset by peer")
	}
	return s.Store.View(ctx, fn)
}

// plainSealer keeps processor credentials as they are: these tests are
// about routing, not sealing.
type plainSealer struct{}

func (plainSealer) Seal(p, _ []byte) (string, error)        { return string(p), nil }
func (plainSealer) Open(s string, _ []byte) ([]byte, error) { return []byte(s), nil }
func (plainSealer) Current(string) bool                     { return true }
func (plainSealer) Prefixes() []string                      { return []string{""} }

// A refund routed to a processor account that can be asked but does not
// deduplicate (Techrar's connector) whose answer was lost, when the
// worker's read of its route fails: the worker must not guess what the
// processor can prove. Guessing everything, it resubmitted to it after
// "not found" (a second refund); from review it voided the key at the
// node's default processor, which never had it, and released the money
// the account's processor may still pay out.
func TestCapabilities_UnreadableRouteIsLeftForTheNextPass(t *testing.T) {
	tests := []struct {
		name   string
		review bool // the refund already waits for review when the read fails
	}{
		{"processing", false},
		{"requires review", true},
	}
	onEachStore(t, func(t *testing.T, open opener) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				conn := newCaps(processor.Capabilities{StatusByKey: true, StatusByReference: true, Partial: true})
				node := voidingProcessor{newLateProcessor()} // the node's default processor can void
				var st *flakyView
				h := newHarnessOn(t, func(t *testing.T) refund.Store {
					st = &flakyView{Store: open(t)}
					return st
				}, node, func(c *refund.Config) {
					c.Sealer = plainSealer{}
					c.Connect = func(processor.Account) (processor.Processor, error) { return conn, nil }
				})
				if _, err := h.svc.AddProcessorAccount(h.ctx, h.p.MerchantID, refund.ProcessorAccountInput{Name: "tr", Kind: "techrar",
					URL: "https://api.example.com", Credential: "tok"}); err != nil {
					t.Fatal(err)
				}
				o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 10000, PaymentMethod: "card",
					Processor: "tr", ProcessorOrderID: "77"})
				if err != nil {
					t.Fatal(err)
				}
				r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
				if err != nil {
					t.Fatal(err)
				}
				wantStatus(t, r, refund.StatusProcessing) // the answer was lost
				if tc.review {
					h.drive(1) // "not found", and it cannot be sent again safely
					wantStatus(t, h.refund(r.ID), refund.StatusRequiresReview)
					h.clk.Advance(25 * time.Hour) // its next look is due
				}
				st.armed.Store(true) // the worker's next read of the route fails once
				h.drive(1)
				if st.armed.Load() {
					t.Fatal("no read failed: the pass never read the route")
				}
				if n := conn.submissions(r.ID); n != 1 {
					t.Fatalf("submitted %d times to a processor that does not deduplicate; want 1", n)
				}
				node.mu.Lock()
				voided := len(node.voided)
				node.mu.Unlock()
				if voided != 0 {
					t.Fatalf("the node's default processor voided %d keys it never had", voided)
				}
				h.drive(3) // the read works again: the refund goes on from where it was
				r = h.refund(r.ID)
				wantStatus(t, r, refund.StatusRequiresReview)
				if got := h.getOrder(o.ID); got.PendingRefundAmount != 4000 || conn.submissions(r.ID) != 1 {
					t.Fatalf("pending %d after %d submissions; want 4000 still reserved, one submission",
						got.PendingRefundAmount, conn.submissions(r.ID))
				}
			})
		}
	})
}
