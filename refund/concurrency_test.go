package refund_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// ledgerProcessor is an idempotent processor with its own ledger, shared
// by two nodes: the first submission of a key decides what becomes of it
// (approved, declined, executed with its answer lost, not executed with
// no answer, or accepted as pending and executed when asked), and later
// ones answer what the key became. What it executed, declined and
// reversed is the truth the books are checked against.
type ledgerProcessor struct {
	mu        sync.Mutex
	rng       *rand.Rand
	fate      map[string]string // the first submission's: approve, decline, lost, notyet, pending
	submitted map[string]int
	amount    map[string]int64 // what each key was sent for
	resent    []string         // keys sent again with another amount
	executed  map[string]bool
	declined  map[string]bool
	reversed  map[string]bool
}

func newLedgerProcessor(seed uint64) *ledgerProcessor {
	return &ledgerProcessor{rng: rand.New(rand.NewPCG(seed, 1)), fate: map[string]string{}, submitted: map[string]int{},
		amount: map[string]int64{}, executed: map[string]bool{}, declined: map[string]bool{}, reversed: map[string]bool{}}
}

var approved = processor.Result{Status: processor.Approved, ResponseCode: "00", RRN: "632700000001"}

var declined = processor.Result{Status: processor.Declined, ResponseCode: "05", Message: "do not honor"}

func (p *ledgerProcessor) Refund(_ context.Context, req processor.Request) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := req.IdempotencyKey
	p.submitted[key]++
	if a, ok := p.amount[key]; ok && a != req.Amount {
		p.resent = append(p.resent, key)
	}
	p.amount[key] = req.Amount
	if _, ok := p.fate[key]; !ok {
		p.fate[key] = []string{"approve", "approve", "approve", "approve", "decline", "lost", "lost", "notyet", "pending", "pending"}[p.rng.IntN(10)]
		switch p.fate[key] {
		case "approve":
			p.executed[key] = true
			return approved, nil
		case "decline":
			p.declined[key] = true
			return declined, nil
		case "lost":
			p.executed[key] = true
			return processor.Result{}, errNoAnswer
		case "notyet":
			return processor.Result{}, errNoAnswer
		case "pending":
			return processor.Result{Status: processor.Pending}, nil
		}
	}
	switch {
	case p.declined[key]:
		return declined, nil
	case p.fate[key] == "pending" && !p.executed[key]:
		return processor.Result{Status: processor.Pending}, nil
	}
	p.executed[key] = true // a key not executed yet is now; one executed stays once
	return p.status(key), nil
}

func (p *ledgerProcessor) status(key string) processor.Result {
	if p.reversed[key] {
		return processor.Result{Status: processor.Reversed, ResponseCode: "00"}
	}
	return approved
}

func (p *ledgerProcessor) Status(_ context.Context, key string) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.declined[key]:
		return declined, nil
	case p.fate[key] == "pending":
		p.executed[key] = true // held pending until asked: it settles
		return p.status(key), nil
	case p.executed[key]:
		return p.status(key), nil
	}
	return processor.Result{}, processor.ErrNotFound
}

// keys are the keys it executed (declined: those it declined), sorted,
// and the notification that says so.
func (p *ledgerProcessor) keys(declined bool) ([]string, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []string
	typ := refund.NotifyRefundSucceeded
	if declined {
		typ = refund.NotifyRefundFailed
		for k := range p.declined {
			keys = append(keys, k)
		}
	} else {
		for k := range p.executed {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, typ
}

// reverse reverses an executed key, once.
func (p *ledgerProcessor) reverse(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.executed[key] || p.reversed[key] {
		return false
	}
	p.reversed[key] = true
	return true
}

// lossyStore, once armed, loses the answer of one Update in eight after
// it committed: a node that crashed, or whose connection broke, before it
// heard the COMMIT's answer. Whoever called sees an error for a change
// that was made.
type lossyStore struct {
	refund.Store
	armed atomic.Bool
	mu    sync.Mutex
	rng   *rand.Rand
	lost  int
}

var errLostCommit = errors.New("connection lost during COMMIT")

func (s *lossyStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	if err != nil || !s.armed.Load() {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng.IntN(8) > 0 {
		return nil
	}
	s.lost++
	return errLostCommit
}

// twoNodeHarness is one merchant on two Services sharing one database
// and one fake clock: two nodes.
type twoNodeHarness struct {
	*harness
	nodes   [2]*refund.Service
	ps      [2]refund.Principal
	checker refund.Principal // may approve: not the refunds' creator
}

func newTwoNodes(t *testing.T, stores [2]refund.Store, proc processor.Processor, mod func(*refund.Config)) *twoNodeHarness {
	t.Helper()
	h := newHarnessOn(t, func(*testing.T) refund.Store { return stores[0] }, proc, mod)
	th := &twoNodeHarness{harness: h}
	th.nodes[0] = h.svc
	th.nodes[1] = h.node(proc, func(c *refund.Config) {
		c.Store = stores[1]
		if mod != nil {
			mod(c)
		}
	})
	_, key, err := h.svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeRefundsWrite, refund.ScopeRefundsRead,
		refund.ScopeOrdersWrite, refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	th.ps[0] = h.p
	if th.ps[1], err = th.nodes[1].Authenticate(h.ctx, key); err != nil {
		t.Fatal(err)
	}
	_, key, err = h.svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
	if err != nil {
		t.Fatal(err)
	}
	if th.checker, err = th.nodes[1].Authenticate(h.ctx, key); err != nil {
		t.Fatal(err)
	}
	return th
}

// allRefunds lists an order's refunds, all of them.
func (th *twoNodeHarness) allRefunds(orderID string) []*refund.Refund {
	th.t.Helper()
	var out []*refund.Refund
	cursor := ""
	for {
		page, err := th.svc.ListRefunds(th.ctx, th.p, refund.RefundFilter{OrderID: orderID, Cursor: cursor, Limit: refund.MaxPageSize})
		if err != nil {
			th.t.Fatal(err)
		}
		out = append(out, page.Data...)
		if !page.HasMore {
			return out
		}
		cursor = page.NextCursor
	}
}

// wantBooksAgree checks an order against its refunds and adjustments: each
// counter is the sum of what it counts, refunded + pending + voided +
// charged back never exceeds the capture, and each vendor's share adds up
// the same way.
func (th *twoNodeHarness) wantBooksAgree(orderID, name string) (*refund.Order, []*refund.Refund) {
	th.t.Helper()
	t := th.t
	o := th.getOrder(orderID)
	rs := th.allRefunds(orderID)
	var refunded, pending int64
	vRefunded, vPending := map[string]int64{}, map[string]int64{}
	for _, r := range rs {
		var vto map[string]int64
		switch r.Status {
		case refund.StatusSucceeded:
			refunded += r.Amount
			vto = vRefunded
		case refund.StatusRequiresApproval, refund.StatusPending, refund.StatusProcessing, refund.StatusRequiresReview:
			pending += r.Amount
			vto = vPending
		}
		var vsum int64
		for _, v := range r.Vendors {
			vsum += v.Amount
			if vto != nil {
				vto[v.VendorID] += v.Amount
			}
		}
		if len(o.Vendors) > 0 && vsum != r.Amount {
			t.Fatalf("%s: refund %s of %d has vendor parts adding up to %d", name, r.ID, r.Amount, vsum)
		}
	}
	adjs, err := th.svc.ListOrderAdjustments(th.ctx, th.p, orderID)
	if err != nil {
		t.Fatal(err)
	}
	var voided, chargedBack int64
	for _, a := range adjs.Data {
		if a.Applied < 0 || a.Applied > a.Amount {
			t.Fatalf("%s: %s %s applied %d of %d", name, a.Kind, a.ID, a.Applied, a.Amount)
		}
		if a.Applied < a.Amount && o.Refundable() > 0 {
			// What the processor voided or charged back is never
			// refundable: room is free only once it has all it is owed.
			t.Fatalf("%s: %s %s of %d has %d applied, and %d is free to refund", name, a.Kind, a.ID, a.Amount, a.Applied, o.Refundable())
		}
		if a.Kind == refund.AdjustmentVoid {
			voided += a.Applied
		} else {
			chargedBack += a.Applied
		}
	}
	th.wantAdjustmentsTold(adjs.Data, name)
	if o.RefundedAmount != refunded || o.PendingRefundAmount != pending || o.VoidedAmount != voided || o.ChargedBackAmount != chargedBack {
		t.Fatalf("%s: order says refunded %d pending %d voided %d charged back %d; its refunds and adjustments add up to %d, %d, %d, %d",
			name, o.RefundedAmount, o.PendingRefundAmount, o.VoidedAmount, o.ChargedBackAmount, refunded, pending, voided, chargedBack)
	}
	if o.RefundedAmount+o.PendingRefundAmount+o.VoidedAmount+o.ChargedBackAmount > o.CapturedAmount {
		t.Fatalf("%s: refunded %d + pending %d + voided %d + charged back %d exceed the capture %d", name,
			o.RefundedAmount, o.PendingRefundAmount, o.VoidedAmount, o.ChargedBackAmount, o.CapturedAmount)
	}
	for _, v := range o.Vendors {
		if v.RefundedAmount != vRefunded[v.ID] || v.PendingAmount != vPending[v.ID] || v.RefundedAmount+v.PendingAmount > v.Amount {
			t.Fatalf("%s: vendor %s of %d says refunded %d pending %d; its refunds' parts add up to %d, %d", name, v.ID, v.Amount,
				v.RefundedAmount, v.PendingAmount, vRefunded[v.ID], vPending[v.ID])
		}
	}
	return o, rs
}

// wantAdjustmentsTold checks that what each void and chargeback of adjs
// has applied is what was told of it: the largest applied_amount of its
// events (order.voided, order.charged_back, refund.discrepancy,
// order.void_applied, order.chargeback_applied) is its Applied, and what
// it lacks is its void_not_applied or chargeback_after_refund
// discrepancy's amount (none when it lacked nothing when recorded).
func (th *twoNodeHarness) wantAdjustmentsTold(adjs []*refund.OrderAdjustment, name string) {
	th.t.Helper()
	t := th.t
	told := map[string]int64{}
	for cursor := ""; ; {
		page, err := th.svc.ListEvents(th.ctx, th.p, refund.EventFilter{Cursor: cursor, Limit: refund.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Data {
			var d struct {
				ID      string `json:"id"`
				Applied *int64 `json:"applied_amount"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Applied != nil {
				told[d.ID] = max(told[d.ID], *d.Applied)
			}
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	lacks := map[string]int64{}
	for cursor := ""; ; {
		page, err := th.svc.ListDiscrepancies(th.ctx, th.p, refund.DiscrepancyFilter{Cursor: cursor, Limit: refund.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Data {
			if d.Kind == refund.DiscrepancyVoidNotApplied || d.Kind == refund.DiscrepancyChargebackAfterRefund {
				lacks[d.Reference] += d.Amount
			}
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	for _, a := range adjs {
		if got, ok := told[a.ID]; !ok || got != a.Applied {
			t.Fatalf("%s: %s %s has %d of %d applied; its events told %d (any: %v)", name, a.Kind, a.ID, a.Applied, a.Amount, got, ok)
		}
		if lacks[a.ID] != a.Amount-a.Applied {
			t.Fatalf("%s: %s %s has %d of %d applied; its discrepancy lists %d not applied", name, a.Kind, a.ID, a.Applied, a.Amount, lacks[a.ID])
		}
	}
}

// eventsOf counts the merchant's events by refund and type.
func (h *harness) eventsOf() map[string]int {
	h.t.Helper()
	n := map[string]int{}
	cursor := ""
	for {
		page, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Cursor: cursor, Limit: refund.MaxPageSize})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, e := range page.Data {
			if e.RefundID != "" {
				n[e.RefundID+" "+e.Type]++
			}
		}
		if !page.HasMore {
			return n
		}
		cursor = page.NextCursor
	}
}

// TestConcurrency_OrderOperationsOnTwoNodes mixes, on one marketplace
// order and on two nodes at once, what the existing tests run one at a
// time or in pairs: refunds created (some queued, some over the approval
// threshold, some retried with one Idempotency-Key on both nodes), the
// processor answering, losing answers, holding refunds pending and
// notifying their success and reversal, voids and chargebacks notified
// (redelivered to both nodes) and asked for through the API, cancels,
// approvals and rejections, syncs, and both nodes' workers (retries,
// approval expiries, status sweeps) while the clock moves, the second
// node losing the answers of some of its commits (the client retries a
// refund it sent with a key, the processor redelivers). After the
// workers have settled everything, the books must agree with the
// processor's ledger: every refund it executed is succeeded (reversed
// when it reversed it), none it did not is, no refund canceled or
// rejected reached it, the order's and each vendor's counters are the sums
// of their refunds and adjustments and never exceed the capture, and each
// refund's final event was emitted once.
func TestConcurrency_OrderOperationsOnTwoNodes(t *testing.T) {
	rounds := 12
	if raceEnabled {
		rounds = 4
	}
	for _, k := range twoNodes {
		t.Run(k.name, func(t *testing.T) {
			// Another seed, for a longer walk or to replay one that failed:
			// REFUNDD_CONCURRENCY_SEED=N go test ./refund -run TestConcurrency_ -v
			seed := uint64(20261207)
			if v := os.Getenv("REFUNDD_CONCURRENCY_SEED"); v != "" {
				var err error
				if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
					t.Fatalf("REFUNDD_CONCURRENCY_SEED: %v", err)
				}
				rounds = 40
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("walk it again with REFUNDD_CONCURRENCY_SEED=%d go test ./refund -run 'TestConcurrency_OrderOperationsOnTwoNodes/%s' -v (the interleavings vary from run to run; the operations do not)", seed, k.name)
				}
			})
			proc := newLedgerProcessor(seed)
			// The second node loses answers of its commits.
			stores := k.open(t)
			lossy := &lossyStore{Store: stores[1], rng: rand.New(rand.NewPCG(seed, 3))}
			stores[1] = lossy
			th := newTwoNodes(t, stores, proc, func(c *refund.Config) {
				c.SweepAges = []time.Duration{time.Minute, 3 * time.Minute}
				c.ReviewPoll = time.Minute
				c.MaxAttempts = 3
			})
			limits := map[string]int64{"SAR": 6000}
			expiry := time.Minute // runs out during the race too
			if _, err := th.svc.PutRefundPolicy(th.ctx, th.p, refund.RefundPolicyInput{ApprovalThreshold: &limits, ApprovalExpiry: &expiry}); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(seed, 2))
			for round := range rounds {
				name := fmt.Sprintf("%s round %d (seed %d)", k.name, round, seed)
				o, err := th.svc.CreateOrder(th.ctx, th.p, refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
					Source:  refund.Card{Scheme: "visa", LastDigits: "4444"},
					Vendors: []refund.VendorInput{{ID: "v1", Name: "One", Amount: 6000}, {ID: "v2", Name: "Two", Amount: 4000}}})
				if err != nil {
					t.Fatal(err)
				}
				th.runRound(t, rng, proc, lossy, o.ID, name)
			}
		})
	}
}

// runRound races one round's operations on orderID, chosen from rng, then
// lets both nodes' workers settle everything and checks the books against
// proc's ledger (see TestConcurrency_OrderOperationsOnTwoNodes).
func (th *twoNodeHarness) runRound(t *testing.T, rng *rand.Rand, proc *ledgerProcessor, lossy *lossyStore, orderID, name string) {
	ctx := th.ctx
	var mu sync.Mutex
	var ids []string
	known := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(ids) }
	var fail atomic.Pointer[string]
	unexpected := func(n int, what string, err error, allowed ...string) {
		if err == nil || slices.Contains(allowed, refund.ErrorCode(err)) || n == 1 && errors.Is(err, errLostCommit) {
			return
		}
		msg := fmt.Sprintf("%s: %s: %v", name, what, err)
		fail.CompareAndSwap(nil, &msg)
	}
	// A refund may be refused for want of room, or for now (its key's first
	// request still runs; another refund of the order counted first).
	refusals := []string{refund.EAmountExceedsRefundable, refund.EIdempotencyKeyInUse, refund.EConflict}
	var ops []func()
	firstCreated := make(chan struct{})
	var once sync.Once
	// Refunds, each on a random node; a few sent twice with one key, one
	// copy on each node.
	for i := range 5 {
		amount := 300 + rng.Int64N(3500)
		v1 := amount * int64(rng.IntN(11)) / 10
		in := refund.RefundInput{OrderID: orderID, Amount: &amount, Queue: rng.IntN(3) == 0,
			Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: v1}, {VendorID: "v2", Amount: amount - v1}}}
		if in.Vendors[0].Amount == 0 {
			in.Vendors = in.Vendors[1:]
		} else if in.Vendors[1].Amount == 0 {
			in.Vendors = in.Vendors[:1]
		}
		copies := 1
		if rng.IntN(3) == 0 {
			in.IdempotencyKey, copies = fmt.Sprintf("%s-key-%d", orderID, i), 2
		}
		node := rng.IntN(2)
		for c := range copies {
			n := (node + c) % 2
			ops = append(ops, func() {
				r, err := th.nodes[n].CreateRefund(ctx, th.ps[n], in)
				if errors.Is(err, errLostCommit) && in.IdempotencyKey != "" {
					// The client, answered an error, retries with its key
					// on the other node: answered the refund its first try
					// made, never a second one.
					n = 0
					r, err = th.nodes[n].CreateRefund(ctx, th.ps[n], in)
				}
				defer once.Do(func() { close(firstCreated) })
				unexpected(n, "create refund", err, refusals...)
				if err == nil {
					mu.Lock()
					if !slices.Contains(ids, r.ID) {
						ids = append(ids, r.ID)
					}
					mu.Unlock()
				}
			})
		}
	}
	// Voids and chargebacks: notified (and redelivered to the other node)
	// or asked for through the API, under one reference or two.
	for i := range 1 + rng.IntN(3) {
		amount := 500 + rng.Int64N(4000)
		typ := []string{refund.NotifyOrderVoided, refund.NotifyOrderChargeback}[rng.IntN(2)]
		ref := fmt.Sprintf("ADJ-%d", i)
		switch rng.IntN(3) {
		case 0, 1:
			copies := 1 + rng.IntN(2)
			for c := range copies {
				n := (i + c) % 2
				ops = append(ops, func() {
					note := refund.Notification{ID: "msg_" + ref, Type: typ, OrderID: orderID, Amount: amount, ProcessorReference: ref}
					_, err := th.nodes[n].ApplyNotification(ctx, note)
					if errors.Is(err, errLostCommit) {
						// The sender, answered an error, delivers it again.
						_, err = th.nodes[0].ApplyNotification(ctx, note)
					}
					unexpected(n, "notified "+typ, err)
				})
			}
			if rng.IntN(3) == 0 {
				// The merchant records the same one through the API.
				n := rng.IntN(2)
				ops = append(ops, func() {
					adjust := th.nodes[n].VoidOrder
					if typ == refund.NotifyOrderChargeback {
						adjust = th.nodes[n].ChargebackOrder
					}
					_, _, err := adjust(ctx, th.ps[n], orderID, refund.AdjustmentInput{Amount: amount, ProcessorReference: ref})
					unexpected(n, "API "+typ, err, refund.EAmountExceedsRefundable)
				})
			}
		default:
			n := rng.IntN(2)
			ops = append(ops, func() {
				adjust := th.nodes[n].VoidOrder
				if typ == refund.NotifyOrderChargeback {
					adjust = th.nodes[n].ChargebackOrder
				}
				_, _, err := adjust(ctx, th.ps[n], orderID, refund.AdjustmentInput{Amount: amount})
				unexpected(n, "API "+typ, err, refund.EAmountExceedsRefundable)
			})
		}
	}
	// Decisions on whatever refunds exist by then: cancels, approvals,
	// rejections, syncs.
	for range 6 {
		n, what, pick := rng.IntN(2), rng.IntN(4), rng.Uint64()
		ops = append(ops, func() {
			<-firstCreated // something to decide on, most of the time
			got := known()
			if len(got) == 0 {
				return
			}
			id := got[pick%uint64(len(got))]
			var err error
			switch what {
			case 0:
				_, err = th.nodes[n].CancelRefund(ctx, th.ps[n], id)
				unexpected(n, "cancel", err, refund.ERefundNotCancelable, refund.EConflict)
			case 1:
				_, err = th.nodes[n].ApproveRefund(ctx, th.checker, id)
				unexpected(n, "approve", err, refund.ERefundNotAwaitingApproval, refund.EConflict)
			case 2:
				_, err = th.nodes[n].RejectRefund(ctx, th.checker, id, "no")
				unexpected(n, "reject", err, refund.ERefundNotAwaitingApproval, refund.EConflict)
			case 3:
				_, err = th.nodes[n].SyncRefund(ctx, th.ps[n], id)
				unexpected(n, "sync", err, refund.EProcessorUnavailable)
			}
		})
	}
	// The processor's notifications of what it executed, declined and
	// reversed.
	for range 4 {
		n, what, pick := rng.IntN(2), rng.IntN(4), rng.Uint64()
		ops = append(ops, func() {
			<-firstCreated
			keys, typ := proc.keys(what == 3)
			if len(keys) == 0 {
				return
			}
			key := keys[pick%uint64(len(keys))]
			switch {
			case what == 3:
				typ = refund.NotifyRefundFailed
			case what == 2 && proc.reverse(key):
				typ = refund.NotifyRefundReversed
			}
			_, err := th.nodes[n].ApplyNotification(ctx, refund.Notification{ID: "msg_" + key + typ, Type: typ, RefundID: key})
			unexpected(n, "notified "+typ, err)
		})
	}
	// Both nodes' workers, the clock moving under them.
	for range 4 {
		n := rng.IntN(2)
		ops = append(ops, func() {
			th.clk.Advance(40 * time.Second)
			_, err := th.nodes[n].ProcessDue(ctx, 20, 2)
			unexpected(n, "worker", err)
		})
	}
	rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
	var wg sync.WaitGroup
	lossy.armed.Store(true)
	for _, op := range ops {
		wg.Go(op)
	}
	wg.Wait()
	lossy.armed.Store(false)
	if msg := fail.Load(); msg != nil {
		t.Fatal(*msg)
	}
	th.wantBooksAgree(orderID, name+", after the race")

	// Settle everything: expiries, retries, reviews and sweeps.
	for range 30 {
		th.clk.Advance(time.Minute)
		for n := range th.nodes {
			if _, err := th.nodes[n].ProcessDue(ctx, 50, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, rs := th.wantBooksAgree(orderID, name+", settled")
	dscs, err := th.svc.ListDiscrepancies(ctx, th.p, refund.DiscrepancyFilter{Kind: refund.DiscrepancyExecutedNotRecorded})
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, d := range dscs.Data {
		listed[d.RefundID] = true
	}
	events := th.eventsOf()
	if os.Getenv("REFUNDD_CONCURRENCY_SEED") != "" {
		st := map[string]int{}
		for _, r := range rs {
			st[string(r.Status)+"/"+r.FailureCode]++
		}
		var retries uint64
		if cs, ok := th.st.(refund.CountingStore); ok {
			retries = cs.Counts().Retries
		}
		lossy.mu.Lock()
		lost := lossy.lost
		lossy.mu.Unlock()
		t.Logf("%s: %v; store retries %d, commits whose answer was lost %d", name, st, retries, lost)
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if len(proc.resent) > 0 {
		t.Fatalf("%s: keys sent again with another amount: %v", name, proc.resent)
	}
	for _, r := range rs {
		executed := proc.executed[r.ID]
		if a, ok := proc.amount[r.ID]; ok && a != r.Amount {
			t.Fatalf("%s: refund %s of %d was sent to the processor for %d", name, r.ID, r.Amount, a)
		}
		// Not executed: failed or canceled, or waiting for review with its
		// amount still held (a take of the refund whose commit's answer
		// was lost counts an attempt no call made, and attempts run out
		// before the processor is asked enough: nothing is assumed).
		want := []refund.Status{refund.StatusFailed, refund.StatusCanceled, refund.StatusRequiresReview}
		switch {
		case executed && proc.reversed[r.ID]:
			want = []refund.Status{refund.StatusReversed}
		case executed:
			want = []refund.Status{refund.StatusSucceeded}
		}
		if !slices.Contains(want, r.Status) && !listed[r.ID] {
			t.Fatalf("%s: refund %s (fate %q, submitted %d, executed %v, reversed %v) is %s, want one of %v",
				name, r.ID, proc.fate[r.ID], proc.submitted[r.ID], executed, proc.reversed[r.ID], r.Status, want)
		}
		if proc.submitted[r.ID] > 0 {
			// Never sent while it waited for approval, nor without one.
			ts, err := th.svc.Transitions(ctx, th.p, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			waited, approval := false, false
			for _, tr := range ts {
				waited = waited || tr.To == refund.StatusRequiresApproval
				approval = approval || tr.From == refund.StatusRequiresApproval && tr.To == refund.StatusPending
			}
			if waited && !approval {
				t.Fatalf("%s: refund %s waited for approval, was never approved, and was submitted %d times", name, r.ID, proc.submitted[r.ID])
			}
		}
		if r.Status == refund.StatusCanceled && proc.submitted[r.ID] > 0 {
			t.Fatalf("%s: refund %s is canceled (%s) and was submitted %d times", name, r.ID, r.FailureCode, proc.submitted[r.ID])
		}
		for _, typ := range []string{"refund.created", "refund.succeeded", "refund.failed", "refund.canceled", "refund.reversed"} {
			if n := events[r.ID+" "+typ]; n > 1 {
				t.Fatalf("%s: refund %s (%s) has %d %s events", name, r.ID, r.Status, n, typ)
			}
		}
	}
}
