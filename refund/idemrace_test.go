package refund_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// stallingProcessor holds the first refund call until released, then
// answers late (first), as a processor that executed or timed out while
// the caller's retry went elsewhere; later calls of the key answer at
// once. It executes each key at most once, as an idempotent processor
// does, and counts its calls.
type stallingProcessor struct {
	entered, release chan struct{}
	first            processor.Result
	firstErr         error
	mu               sync.Mutex
	calls            int
	executed         map[string]bool
}

func (p *stallingProcessor) Refund(_ context.Context, req processor.Request) (processor.Result, error) {
	p.mu.Lock()
	p.calls++
	n := p.calls
	p.mu.Unlock()
	if n == 1 {
		p.entered <- struct{}{}
		<-p.release
		if p.firstErr != nil {
			return processor.Result{}, p.firstErr
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.executed[req.IdempotencyKey] = true
	return approved, nil
}

func (p *stallingProcessor) Status(_ context.Context, key string) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.executed[key] {
		return approved, nil
	}
	return processor.Result{}, processor.ErrNotFound
}

// A client sends a refund with an Idempotency-Key (or a dialect's merchant
// reference: the same holds, per DESIGN.md section 4) to one node, whose
// processor call hangs; it gives up and sends the same request to another
// node: while the first request holds the key the retry is told so
// (idempotency_key_in_use), and once the first request's lease has run
// out it is answered the refund the first request made, never a second
// one. The other node's worker takes the refund over, asks the processor
// (nothing executed yet) and submits it again under the same key; the
// first call's late answer (a timeout, or the approval of the first
// submission) then changes nothing recorded twice: one refund, executed
// once, succeeded once, the order refunded its amount once, and the key
// replays that refund on both nodes.
func TestIdempotency_RetryOnAnotherNodeWhileTheCallIsOut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		firstErr error
		// byReference: the request names itself by a dialect's merchant
		// reference (SGate's merchantRefundId), not an Idempotency-Key.
		byReference bool
	}{
		{"FirstCallTimesOut", errNoAnswer, false},
		{"FirstCallApprovesLate", nil, false},
		{"ByReferenceFirstCallTimesOut", errNoAnswer, true},
		{"ByReferenceFirstCallApprovesLate", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range twoNodes {
				t.Run(k.name, func(t *testing.T) {
					proc := &stallingProcessor{entered: make(chan struct{}), release: make(chan struct{}), firstErr: tc.firstErr,
						executed: map[string]bool{}}
					th := newTwoNodes(t, k.open(t), proc, nil)
					ctx := th.ctx
					o := sarOrder(t, th.harness, 10_000)
					in := refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4_000), IdempotencyKey: "retry-1"}
					if tc.byReference {
						in.IdempotencyKey, in.MerchantReference, in.Surface = "", "REF-retry-1", "sgate"
					}
					var first *refund.Refund
					var firstErr error
					done := make(chan struct{})
					go func() {
						defer close(done)
						first, firstErr = th.nodes[0].CreateRefund(ctx, th.ps[0], in)
					}()
					<-proc.entered // the first node's call is out

					_, err := th.nodes[1].CreateRefund(ctx, th.ps[1], in)
					if refund.ErrorCode(err) != refund.EIdempotencyKeyInUse {
						t.Fatalf("the retry while the first request holds the key: %v, want %s", err, refund.EIdempotencyKeyInUse)
					}
					if e := (*refund.Error)(nil); tc.byReference && (!errors.As(err, &e) || e.Param != "merchant_reference") {
						t.Fatalf("the retry by reference was refused as %#v; want the refusal to name merchant_reference", err)
					}
					if rs := th.allRefunds(o.ID); len(rs) != 1 || rs[0].Version != 1 {
						t.Fatalf("the refused retry left %d refunds (%+v); want the first request's, untouched", len(rs), rs)
					}
					th.clk.Advance(time.Minute) // past the first request's lease
					retry, err := th.nodes[1].CreateRefund(ctx, th.ps[1], in)
					if err != nil {
						t.Fatalf("the retry after the lease: %v", err)
					}
					wantStatus(t, retry, refund.StatusProcessing)
					if n, err := th.nodes[1].ProcessDue(ctx, 10, 1); err != nil || n != 1 {
						t.Fatalf("the other node's worker claimed %d (%v), want the refund", n, err)
					}
					if r := th.refund(retry.ID); r.Status != refund.StatusSucceeded || r.Attempts != 2 {
						t.Fatalf("after the other node's worker: %s after %d attempts, want succeeded after 2", r.Status, r.Attempts)
					}
					close(proc.release)
					<-done
					if firstErr != nil || first.ID != retry.ID {
						t.Fatalf("the first request answered %v; want the refund %s", firstErr, retry.ID)
					}

					rs := th.allRefunds(o.ID)
					got := th.getOrder(o.ID)
					if len(rs) != 1 || rs[0].Status != refund.StatusSucceeded || got.RefundedAmount != 4_000 || got.PendingRefundAmount != 0 {
						t.Fatalf("%d refunds, order refunded %d pending %d; want one succeeded refund of 4000", len(rs), got.RefundedAmount, got.PendingRefundAmount)
					}
					if proc.calls != 2 || len(proc.executed) != 1 {
						t.Fatalf("the processor had %d calls and executed %d keys; want 2 calls of one key, executed once", proc.calls, len(proc.executed))
					}
					events := th.eventsOf()
					if events[rs[0].ID+" refund.succeeded"] != 1 || events[rs[0].ID+" refund.created"] != 1 {
						t.Fatalf("events of the refund: %v; want one refund.created and one refund.succeeded", events)
					}
					for n := range th.nodes {
						r, err := th.nodes[n].CreateRefund(ctx, th.ps[n], in)
						if err != nil || r.ID != rs[0].ID || r.Status != refund.StatusSucceeded {
							t.Fatalf("node %d replaying the key: %v, want %s succeeded", n, err, rs[0].ID)
						}
					}
				})
			}
		})
	}
}
