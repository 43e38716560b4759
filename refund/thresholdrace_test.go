package refund_test

import (
	"sync"
	"testing"

	"github.com/refundd/refundd/refund"
)

// The approval threshold counts an order's earlier refunds, so that a
// large refund split into small ones still waits for a second person.
// Small refunds made at once on two nodes must count each other too:
// of ten refunds of 10.00 on a 100.00 order with a threshold of 50.00,
// only those that keep the order's refunds under 50.00 go straight to
// the processor (four), and every other one waits for approval,
// whatever the interleaving.
func TestApproval_ThresholdCountsRefundsMadeAtOnce(t *testing.T) {
	for _, k := range twoNodes {
		t.Run(k.name, func(t *testing.T) {
			proc := &instantProcessor{}
			th := newTwoNodes(t, k.open(t), proc, nil)
			limits := map[string]int64{"SAR": 5_000}
			if _, err := th.svc.PutRefundPolicy(th.ctx, th.p, refund.RefundPolicyInput{ApprovalThreshold: &limits}); err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				o := sarOrder(t, th.harness, 10_000)
				var wg sync.WaitGroup
				var mu sync.Mutex
				statuses := map[refund.Status]int{}
				for i := range 10 {
					wg.Go(func() {
						n := i % 2
						r, err := th.nodes[n].CreateRefund(th.ctx, th.ps[n], refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](1_000)})
						if err != nil {
							t.Errorf("refund %d: %v", i, err)
							return
						}
						mu.Lock()
						statuses[r.Status]++
						mu.Unlock()
					})
				}
				wg.Wait()
				if statuses[refund.StatusSucceeded] != 4 || statuses[refund.StatusRequiresApproval] != 6 {
					t.Fatalf("round %d: %v; want 4 succeeded and 6 waiting for approval", round, statuses)
				}
				proc.mu.Lock()
				executed := len(proc.executed)
				proc.mu.Unlock()
				if executed != 4*(round+1) {
					t.Fatalf("round %d: the processor executed %d refunds in all, want %d", round, executed, 4*(round+1))
				}
			}
		})
	}
}
