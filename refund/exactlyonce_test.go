package refund_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// lateProcessor never answers a submission and executes nothing until the
// test says so: the processor that executes a request minutes after the
// caller gave up on it. Status says "not found" until then. Its execution
// log is append-only, so executing a key twice shows.
type lateProcessor struct {
	mu        sync.Mutex
	submitted map[string]int // submissions per key
	executed  []string       // execution log
	results   map[string]processor.Result
	voided    map[string]bool
	declineAt map[string]bool // keys the first submission declines (answered)
}

func newLateProcessor() *lateProcessor {
	return &lateProcessor{submitted: map[string]int{}, results: map[string]processor.Result{}, voided: map[string]bool{},
		declineAt: map[string]bool{}}
}

var errNoAnswer = errors.New("processor did not answer in time")

func (p *lateProcessor) Refund(_ context.Context, req processor.Request) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.submitted[req.IdempotencyKey]++
	if res, ok := p.results[req.IdempotencyKey]; ok {
		return res, nil
	}
	if p.declineAt[req.IdempotencyKey] {
		return processor.Result{Status: processor.Declined, ResponseCode: "05", Message: "do not honor"}, nil
	}
	return processor.Result{}, errNoAnswer
}

func (p *lateProcessor) Status(_ context.Context, key string) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if res, ok := p.results[key]; ok {
		return res, nil
	}
	if p.voided[key] {
		return processor.Result{Status: processor.Voided}, nil
	}
	return processor.Result{}, processor.ErrNotFound
}

// execute runs a submitted key late, once; a voided key never executes.
func (p *lateProcessor) execute(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.voided[key] || p.submitted[key] == 0 || p.results[key].Status == processor.Approved {
		return false
	}
	p.executed = append(p.executed, key)
	p.results[key] = processor.Result{Status: processor.Approved, ResponseCode: "00", RRN: "632700000001"}
	return true
}

func (p *lateProcessor) executions(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, k := range p.executed {
		if k == key {
			n++
		}
	}
	return n
}

// voidingProcessor is a lateProcessor that can void a key it has not
// executed.
type voidingProcessor struct{ *lateProcessor }

func (p voidingProcessor) Void(_ context.Context, key string) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if res, ok := p.results[key]; ok {
		return res, nil
	}
	p.voided[key] = true
	return processor.Result{Status: processor.Voided}, nil
}

// harness is one merchant on a real SQLite store with a fake clock.
type harness struct {
	t   *testing.T
	ctx context.Context
	clk *fakeClock
	st  refund.Store
	svc *refund.Service
	p   refund.Principal
	ids *atomic.Int64
}

func newHarness(t *testing.T, proc processor.Processor, mod func(*refund.Config)) *harness {
	t.Helper()
	return newHarnessOn(t, openSQLite, proc, mod)
}

// newHarnessOn is newHarness on a store that open opens.
func newHarnessOn(t *testing.T, open opener, proc processor.Processor, mod func(*refund.Config)) *harness {
	t.Helper()
	ctx := context.Background()
	st := open(t)
	h := &harness{t: t, ctx: ctx, clk: &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, st: st, ids: new(atomic.Int64)}
	h.svc = h.node(proc, mod)
	_, key, err := h.svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	if h.p, err = h.svc.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	return h
}

// node is another Service on the same store (another node, or the same
// one after a restart).
func (h *harness) node(proc processor.Processor, mod func(*refund.Config)) *refund.Service {
	cfg := refund.Config{Store: h.st, Processor: proc, Now: h.clk.Now,
		NewID:       func(p string) string { return fmt.Sprintf("%s_%012d", p, h.ids.Add(1)) },
		MaxAttempts: 3, RetryBase: time.Second, RetryMax: 4 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := refund.NewService(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	return svc
}

func (h *harness) order(amount int64) *refund.Order {
	h.t.Helper()
	o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: amount, PaymentMethod: "card",
		Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

// drive runs the worker for a simulated while, a minute per pass.
func (h *harness) drive(passes int) {
	for range passes {
		h.clk.Advance(time.Minute)
		if _, err := h.svc.ProcessDue(h.ctx, 10, 1); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) refund(id string) *refund.Refund {
	h.t.Helper()
	r, err := h.svc.GetRefund(h.ctx, h.p, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) getOrder(id string) *refund.Order {
	h.t.Helper()
	o, err := h.svc.GetOrder(h.ctx, h.p, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

func wantStatus(t *testing.T, r *refund.Refund, want refund.Status) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("refund %s is %s, want %s", r.ID, r.Status, want)
	}
}

// Finding 1: after the last attempt a refund the processor reported "not
// executed" was failed and its money released; a late execution then paid
// the customer twice. Now it waits for review with the money reserved, a
// second full refund is refused, and the late execution makes it
// succeeded: executed once, recorded once.
func TestGiveUp_KeepsMoneyReservedUntilTheProcessorSettles(t *testing.T) {
	proc := newLateProcessor()
	h := newHarness(t, proc, nil)
	o := h.order(10000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, refund.StatusProcessing)
	h.drive(20)
	r = h.refund(r.ID)
	wantStatus(t, r, refund.StatusRequiresReview)
	if got := proc.submitted[r.ID]; got != 3 {
		t.Fatalf("submitted %d times, want MaxAttempts = 3", got)
	}
	if o := h.getOrder(o.ID); o.PendingRefundAmount != 10000 || o.RefundedAmount != 0 {
		t.Fatalf("order pending %d refunded %d; want the whole amount still reserved", o.PendingRefundAmount, o.RefundedAmount)
	}
	if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
		t.Fatalf("a second full refund while the first waits for review: %v, want %s", err, refund.EAmountExceedsRefundable)
	}
	// Waiting for review, it is still polled, and never submitted again.
	h.drive(200)
	wantStatus(t, h.refund(r.ID), refund.StatusRequiresReview)
	if got := proc.submitted[r.ID]; got != 3 {
		t.Fatalf("submitted %d times after review began, want 3", got)
	}
	proc.execute(r.ID)
	r, err = h.svc.SyncRefund(h.ctx, h.p, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, r, refund.StatusSucceeded)
	if o := h.getOrder(o.ID); o.PendingRefundAmount != 0 || o.RefundedAmount != 10000 {
		t.Fatalf("order pending %d refunded %d after the late execution; want 0 and 10000", o.PendingRefundAmount, o.RefundedAmount)
	}
	if n := proc.executions(r.ID); n != 1 {
		t.Fatalf("executed %d times, want 1", n)
	}
}

// The worker's own polling finds the late execution too.
func TestReview_PollingFindsTheLateExecution(t *testing.T) {
	proc := newLateProcessor()
	h := newHarness(t, proc, func(c *refund.Config) { c.ReviewPoll = 30 * time.Minute })
	o := h.order(5000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
	if err != nil {
		t.Fatal(err)
	}
	h.drive(20)
	wantStatus(t, h.refund(r.ID), refund.StatusRequiresReview)
	proc.execute(r.ID)
	h.drive(31)
	wantStatus(t, h.refund(r.ID), refund.StatusSucceeded)
}

// A processor that can void a key makes "not executed" final: then, and
// only then, the money is released, and the late execution is dropped.
func TestGiveUp_VoidReleasesTheMoney(t *testing.T) {
	proc := voidingProcessor{newLateProcessor()}
	h := newHarness(t, proc, nil)
	o := h.order(10000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
	if err != nil {
		t.Fatal(err)
	}
	h.drive(30)
	r = h.refund(r.ID)
	wantStatus(t, r, refund.StatusFailed)
	if r.FailureCode != refund.EProcessorUnavailable {
		t.Fatalf("failure code %q", r.FailureCode)
	}
	if o := h.getOrder(o.ID); o.PendingRefundAmount != 0 {
		t.Fatalf("pending %d after a void, want 0", o.PendingRefundAmount)
	}
	if proc.execute(r.ID) {
		t.Fatal("the processor executed a voided key")
	}
}

// A failed refund found executed after all whose credit note no longer
// fits (a later refund credited one of its lines) succeeds with its note left
// void; reversed later, it takes nothing off what the invoice credited:
// the void note was taken off when it was voided, once.
func TestSync_RevivedWithoutItsNoteThenReversed(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := newLateProcessor()
		h := newHarnessOn(t, open, proc, func(c *refund.Config) { c.Invoicer = invoice.New(nil) })
		o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 10000, PaymentMethod: "card",
			Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 5000}, {ID: "b", Qty: 1, UnitAmount: 5000}}})
		if err != nil {
			t.Fatal(err)
		}
		lineA := []refund.RefundItemInput{{ItemID: "a", Qty: 1}}
		half := int64(5000) // spread: half of each line
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &half})
		if err != nil {
			t.Fatal(err)
		}
		proc.declineAt[r.ID] = true
		h.drive(5)
		wantStatus(t, h.refund(r.ID), refund.StatusFailed)
		r2, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Items: lineA})
		if err != nil {
			t.Fatal(err)
		}
		proc.execute(r2.ID)
		h.drive(5)
		wantStatus(t, h.refund(r2.ID), refund.StatusSucceeded)
		for _, step := range []struct {
			result processor.Result
			want   refund.Status
		}{
			{processor.Result{Status: processor.Approved, ResponseCode: "00"}, refund.StatusSucceeded}, // room on the order, none on line a
			{processor.Result{Status: processor.Reversed, ResponseCode: "00"}, refund.StatusReversed},
		} {
			proc.mu.Lock()
			proc.results[r.ID] = step.result
			proc.mu.Unlock()
			got, err := h.svc.SyncRefund(h.ctx, h.p, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, got, step.want)
			if live, void, _ := wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID); live != 1 || void != 1 {
				t.Fatalf("%s: %d live credit notes, %d void; want the second refund's live and the first's void", step.want, live, void)
			}
		}
	})
}

// Findings 1 and 7: a failed refund the processor later reports executed
// is never ignored. With room on the order it becomes succeeded; without
// (another refund took the room meanwhile) it is a discrepancy, listed
// with an event, and listed once however often it is synced.
func TestSync_FailedThenExecuted(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		for _, tc := range []struct {
			name         string
			secondRefund bool
			want         refund.Status
			discrepancy  bool
		}{
			{"room left: succeeded", false, refund.StatusSucceeded, false},
			{"no room: discrepancy", true, refund.StatusFailed, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				proc := newLateProcessor()
				// Invoiced, so the failed refund's credit note is voided and, if
				// the refund comes back, revived (or left void).
				h := newHarnessOn(t, open, proc, func(c *refund.Config) { c.Invoicer = invoice.New(nil) })
				o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 10000, PaymentMethod: "card",
					Items: []refund.ItemInput{{ID: "a", Qty: 1, UnitAmount: 8000}}}) // 2000 of shipping
				if err != nil {
					t.Fatal(err)
				}
				first := int64(6000)
				// The first submission is declined, as far as refundd can tell.
				r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &first, MerchantReference: "declined-1"})
				if err != nil {
					t.Fatal(err)
				}
				proc.declineAt[r.ID] = true
				// CreateRefund already called the processor (no answer); the
				// worker asks, then resubmits and gets the decline.
				h.drive(5)
				wantStatus(t, h.refund(r.ID), refund.StatusFailed)
				if tc.secondRefund {
					other := int64(5000)
					r2, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &other})
					if err != nil {
						t.Fatal(err)
					}
					proc.execute(r2.ID)
					h.drive(5)
					wantStatus(t, h.refund(r2.ID), refund.StatusSucceeded)
				}
				// The decline was wrong: the processor executed it after all.
				proc.mu.Lock()
				proc.executed = append(proc.executed, r.ID)
				proc.results[r.ID] = processor.Result{Status: processor.Approved, ResponseCode: "00"}
				proc.mu.Unlock()
				if live, void, _ := wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID); void != 1 {
					t.Fatalf("before the sync: %d live credit notes, %d void; want the failed refund's void", live, void)
				}
				for range 2 {
					got, err := h.svc.SyncRefund(h.ctx, h.p, r.ID)
					if err != nil {
						t.Fatal(err)
					}
					wantStatus(t, got, tc.want)
				}
				// Revived, its credit note counts again; left failed, it does not.
				live, void, _ := wantCreditedAsNotes(t, h.st, h.p.MerchantID, o.ID)
				if wantVoid := map[bool]int{true: 1}[tc.discrepancy]; void != wantVoid || live != 1 {
					t.Fatalf("after the sync: %d live credit notes, %d void; want 1 and %d", live, void, wantVoid)
				}
				page, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
				if err != nil {
					t.Fatal(err)
				}
				events, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: refund.EventRefundDiscrepancy})
				if err != nil {
					t.Fatal(err)
				}
				o = h.getOrder(o.ID)
				if !tc.discrepancy {
					if len(page.Data) != 0 || len(events.Data) != 0 {
						t.Fatalf("%d discrepancies, %d events; want none", len(page.Data), len(events.Data))
					}
					if o.RefundedAmount != first {
						t.Fatalf("refunded %d, want %d", o.RefundedAmount, first)
					}
					return
				}
				if len(page.Data) != 1 || len(events.Data) != 1 {
					t.Fatalf("%d discrepancies, %d events after two syncs; want one of each", len(page.Data), len(events.Data))
				}
				d := page.Data[0]
				if d.Kind != refund.DiscrepancyExecutedNotRecorded || d.RefundID != r.ID || d.Amount != first {
					t.Fatalf("discrepancy %+v", d)
				}
				if o.RefundedAmount+o.PendingRefundAmount > o.CapturedAmount {
					t.Fatalf("books over-refunded: refunded %d pending %d captured %d", o.RefundedAmount, o.PendingRefundAmount, o.CapturedAmount)
				}
			})
		}
	})
}

// failAfterStore fails the n-th Update after running it: a commit of
// unknown outcome (the transaction committed; the caller was told it
// failed).
type failAfterStore struct {
	refund.Store
	mu     sync.Mutex
	n, arm int
}

func (s *failAfterStore) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	err := s.Store.Update(ctx, fn)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.arm > 0 && s.n == s.arm {
		return errors.New("connection lost during COMMIT")
	}
	return err
}

// instantProcessor approves everything at once and logs each execution.
type instantProcessor struct {
	mu       sync.Mutex
	executed []string
}

func (p *instantProcessor) Refund(_ context.Context, req processor.Request) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.Contains(p.executed, req.IdempotencyKey) {
		p.executed = append(p.executed, req.IdempotencyKey)
	}
	return processor.Result{Status: processor.Approved, ResponseCode: "00"}, nil
}

func (p *instantProcessor) Status(_ context.Context, key string) (processor.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.Contains(p.executed, key) {
		return processor.Result{Status: processor.Approved, ResponseCode: "00"}, nil
	}
	return processor.Result{}, processor.ErrNotFound
}

// Finding 2: once the refund row is committed, a failure to record the
// processor's answer is not an error to the client (who would retry into
// a second refund): the refund comes back processing and the worker
// finishes it by asking the processor, which executed it once.
func TestCreateRefund_NoErrorAfterTheRowIsCommitted(t *testing.T) {
	proc := &instantProcessor{}
	h := newHarness(t, proc, nil)
	o := h.order(10000)
	wrapped := &failAfterStore{Store: h.st}
	svc := h.node(proc, func(c *refund.Config) { c.Store = wrapped })
	wrapped.mu.Lock()
	wrapped.arm = wrapped.n + 2 // the reservation commits; recording the answer "fails"
	wrapped.mu.Unlock()
	r, err := svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
	if err != nil {
		t.Fatalf("CreateRefund answered an error after the refund was committed: %v", err)
	}
	if r.ID == "" || (r.Status != refund.StatusProcessing && r.Status != refund.StatusSucceeded) {
		t.Fatalf("refund %+v", r)
	}
	h.clk.Advance(time.Hour)
	if _, err := h.svc.ProcessDue(h.ctx, 10, 1); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h.refund(r.ID), refund.StatusSucceeded)
	if len(proc.executed) != 1 {
		t.Fatalf("executed %v, want once", proc.executed)
	}
}

// A person settles a refund waiting for review, with scope refunds:review;
// only such a refund can be resolved, and the outcome moves the money.
func TestResolveRefund(t *testing.T) {
	for _, outcome := range []refund.Status{refund.StatusSucceeded, refund.StatusFailed} {
		t.Run(string(outcome), func(t *testing.T) {
			proc := newLateProcessor()
			h := newHarness(t, proc, nil)
			o := h.order(7000)
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
			if err != nil {
				t.Fatal(err)
			}
			noReview := h.p
			noReview.Scopes = slices.DeleteFunc(slices.Clone(h.p.Scopes), func(s string) bool { return s == refund.ScopeRefundsReview })
			if _, err := h.svc.ResolveRefund(h.ctx, noReview, r.ID, refund.ResolveInput{Outcome: outcome}); refund.ErrorCode(err) != refund.EForbidden {
				t.Fatalf("resolve without refunds:review: %v", err)
			}
			if _, err := h.svc.ResolveRefund(h.ctx, h.p, r.ID, refund.ResolveInput{Outcome: outcome}); refund.ErrorCode(err) != refund.ERefundNotReviewable {
				t.Fatalf("resolve of a processing refund: %v", err)
			}
			h.drive(20)
			if _, err := h.svc.ResolveRefund(h.ctx, h.p, r.ID, refund.ResolveInput{Outcome: "reversed"}); refund.ErrorCode(err) != refund.EInvalidRequest {
				t.Fatalf("resolve with outcome reversed: %v", err)
			}
			got, err := h.svc.ResolveRefund(h.ctx, h.p, r.ID, refund.ResolveInput{Outcome: outcome, Note: "acquirer confirmed by phone"})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, got, outcome)
			o = h.getOrder(o.ID)
			wantRefunded := map[refund.Status]int64{refund.StatusSucceeded: 7000, refund.StatusFailed: 0}[outcome]
			if o.RefundedAmount != wantRefunded || o.PendingRefundAmount != 0 {
				t.Fatalf("refunded %d pending %d, want %d and 0", o.RefundedAmount, o.PendingRefundAmount, wantRefunded)
			}
			trs, err := h.svc.Transitions(h.ctx, h.p, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := trs[len(trs)-1]
			if last.From != refund.StatusRequiresReview || last.To != outcome || last.Cause == "" {
				t.Fatalf("last transition %+v", last)
			}
			audit, err := h.svc.ListAudit(h.ctx, h.p, refund.AuditFilter{ObjectID: r.ID, Action: "refund.resolve"})
			if err != nil {
				t.Fatal(err)
			}
			if len(audit.Data) != 1 {
				t.Fatalf("%d audit entries for the resolve, want 1", len(audit.Data))
			}
		})
	}
}

// Finding 6: vendor shares that each fit but overflow int64 when added
// were accepted.
func TestVendorSumsDoNotOverflow(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	_, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: math.MaxInt64, PaymentMethod: "card",
		Vendors: []refund.VendorInput{{ID: "a", Amount: math.MaxInt64}, {ID: "b", Amount: math.MaxInt64}, {ID: "c", Amount: math.MaxInt64}, {ID: "d", Amount: 2}}})
	if refund.ErrorCode(err) != refund.EInvalidAmount {
		t.Fatalf("order with vendors [MaxInt64 x3, 2]: %v, want %s", err, refund.EInvalidAmount)
	}
	o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 100, PaymentMethod: "card",
		Vendors: []refund.VendorInput{{ID: "a", Amount: 60}, {ID: "b", Amount: 40}}})
	if err != nil {
		t.Fatal(err)
	}
	amount := int64(1)
	_, err = h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount,
		Vendors: []refund.RefundVendor{{VendorID: "a", Amount: math.MaxInt64}, {VendorID: "b", Amount: 2}}})
	if refund.ErrorCode(err) != refund.EInvalidAmount {
		t.Fatalf("refund with vendor shares overflowing: %v, want %s", err, refund.EInvalidAmount)
	}
}

// Finding 6: a queued refund left its idempotency key incomplete, so a
// retry within the lease answered idempotency_key_in_use.
func TestQueuedRefund_CompletesItsKey(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	o := h.order(1000)
	in := refund.RefundInput{OrderID: o.ID, Queue: true, IdempotencyKey: "queued-1"}
	first, err := h.svc.CreateRefund(h.ctx, h.p, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.svc.CreateRefund(h.ctx, h.p, in)
	if err != nil {
		t.Fatalf("retry of a queued refund: %v", err)
	}
	if again.ID != first.ID {
		t.Fatalf("retry made refund %s, first was %s", again.ID, first.ID)
	}
}

// Idempotency at the core: the first answer is stored and replayed; the
// same key with another request, or while the first runs, is refused; a
// key whose request died is taken over and finds what it created.
func TestIdempotentClaims(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k1", "hash-a")
	if err != nil || c.Replay != nil {
		t.Fatalf("first claim: %+v, %v", c, err)
	}
	// The key's row is written by the request's first write, not by
	// BeginIdempotent: a second claim before that is granted, and the
	// first of the two to write wins the key.
	rival, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k1", "hash-a")
	if err != nil || rival.Replay != nil {
		t.Fatalf("second claim before the first wrote: %+v, %v", rival, err)
	}
	// The request ran (an order was created and linked) and died before
	// it answered; after the lease a retry takes over and finds the order.
	o, err := h.svc.CreateOrder(refund.WithClaim(h.ctx, c), h.p, refund.OrderInput{Currency: "SAR", Amount: 500, PaymentMethod: "card"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.CreateOrder(refund.WithClaim(h.ctx, rival), h.p, refund.OrderInput{Currency: "SAR", Amount: 500, PaymentMethod: "card"}); refund.ErrorCode(err) != refund.EIdempotencyKeyInUse {
		t.Fatalf("the rival's write while the first holds the key: %v", err)
	}
	h.svc.CompleteIdempotent(h.ctx, rival, refund.Reply{Status: 409, Body: []byte(`{}`)}) // in use: not kept, the row left alone
	if _, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k1", "hash-a"); refund.ErrorCode(err) != refund.EIdempotencyKeyInUse {
		t.Fatalf("claim while the first runs: %v", err)
	}
	if _, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k1", "hash-b"); refund.ErrorCode(err) != refund.EIdempotencyKeyReused {
		t.Fatalf("claim with another request: %v", err)
	}
	h.clk.Advance(time.Hour)
	c2, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k1", "hash-a")
	if err != nil || c2.Replay != nil {
		t.Fatalf("take-over claim: %+v, %v", c2, err)
	}
	o2, err := h.svc.CreateOrder(refund.WithClaim(h.ctx, c2), h.p, refund.OrderInput{Currency: "SAR", Amount: 500, PaymentMethod: "card"})
	if err != nil {
		t.Fatal(err)
	}
	if o2.ID != o.ID {
		t.Fatalf("the retry recorded a second order %s (first %s): the capture counted twice", o2.ID, o.ID)
	}
	page, err := h.svc.ListOrders(h.ctx, h.p, refund.OrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 {
		t.Fatalf("%d orders, want 1", len(page.Data))
	}
	h.svc.CompleteIdempotent(h.ctx, c2, refund.Reply{Status: 201, ContentType: "application/json", Body: []byte(`{"id":"` + o.ID + `"}`)})
	c3, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k1", "hash-a")
	if err != nil || c3.Replay == nil || c3.Replay.Status != 201 || string(c3.Replay.Body) != `{"id":"`+o.ID+`"}` {
		t.Fatalf("replay: %+v, %v", c3, err)
	}
	// A 5xx is not stored: the key is free for a retry at once.
	c4, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k2", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.CompleteIdempotent(h.ctx, c4, refund.Reply{Status: 500, Body: []byte(`{}`)})
	if c5, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k2", "hash-a"); err != nil || c5.Replay != nil {
		t.Fatalf("retry after a 5xx: %+v, %v", c5, err)
	}
	// A refusal before any write is kept all the same, in Complete's one
	// transaction, and replayed.
	c6, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k3", "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	h.svc.CompleteIdempotent(h.ctx, c6, refund.Reply{Status: 400, ContentType: "application/json", Body: []byte(`{"error":"bad"}`)})
	if c7, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "k3", "hash-a"); err != nil || c7.Replay == nil || c7.Replay.Status != 400 {
		t.Fatalf("replay of a refusal: %+v, %v", c7, err)
	}
	for _, bad := range []string{"", "tab\there", string(make([]byte, 256))} {
		if _, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, bad, "hash-a"); refund.ErrorCode(err) != refund.EInvalidRequest {
			t.Fatalf("key %q: %v", bad, err)
		}
	}
}

// A caller without the request's scope is refused before its key is
// looked at: the request hash leaves out who asks, so a lookup would hand
// it the answer of a caller with the scope. And a refusal of the caller
// (401, 403) is never the key's answer: not kept, and one kept before it
// was refused storage is passed over, the key taken over by the next
// request with it.
func TestIdempotentClaims_CallerRefusals(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	weak := h.p
	weak.Scopes = []string{refund.ScopeWebhooksWrite}
	done := func(key string, status int) {
		t.Helper()
		c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, key, "hash")
		if err != nil {
			t.Fatal(err)
		}
		h.svc.CompleteIdempotent(h.ctx, c, refund.Reply{Status: status, ContentType: "application/json", Body: []byte(`{}`)})
	}
	stored := func(key string, status int) {
		t.Helper()
		now := h.clk.Now()
		err := h.st.Update(h.ctx, func(tx refund.Tx) error {
			return tx.InsertIdempotency(h.ctx, &refund.IdempotencyRecord{MerchantID: h.p.MerchantID, Key: key, RequestHash: "hash",
				Reply: refund.Reply{Status: status, Body: []byte(`{}`)}, LockedUntil: now, CompletedAt: &now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		setup  func(key string)
		p      refund.Principal
		code   string // BeginIdempotent's error, or "" for a claim
		replay int    // the claim's replayed status, or 0 for a fresh one
	}{
		{"OK", func(key string) { done(key, 201) }, h.p, "", 201},
		{"ErrForbiddenNotReplayed", func(key string) { done(key, 201) }, weak, refund.EForbidden, 0},
		{"ErrForbiddenOnAFreshKey", func(string) {}, weak, refund.EForbidden, 0},
		{"ForbiddenNotKept", func(key string) { done(key, 403) }, h.p, "", 0},
		{"UnauthorizedNotKept", func(key string) { done(key, 401) }, h.p, "", 0},
		{"ForbiddenKeptBeforeIsPassedOver", func(key string) { stored(key, 403) }, h.p, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "refusal-" + tc.name
			tc.setup(key)
			c, err := h.svc.BeginIdempotent(h.ctx, tc.p, refund.ScopeOrdersWrite, key, "hash")
			if refund.ErrorCode(err) != tc.code {
				t.Fatalf("BeginIdempotent: %+v, %v; want code %q", c, err, tc.code)
			}
			if _, err := h.svc.ClaimIdempotent(tc.p, refund.ScopeOrdersWrite, key, "hash"); refund.ErrorCode(err) != tc.code {
				t.Fatalf("ClaimIdempotent: %v; want code %q", err, tc.code)
			}
			if tc.code != "" {
				return
			}
			switch {
			case tc.replay == 0 && c.Replay != nil:
				t.Fatalf("replayed %d %s, want a fresh claim", c.Replay.Status, c.Replay.Body)
			case tc.replay != 0 && (c.Replay == nil || c.Replay.Status != tc.replay):
				t.Fatalf("claim %+v, want %d replayed", c, tc.replay)
			case tc.replay != 0:
				return
			}
			// The request that follows runs, and its answer is the key's.
			h.svc.CompleteIdempotent(h.ctx, c, refund.Reply{Status: 201, ContentType: "application/json", Body: []byte(`{"id":"or_1"}`)})
			again, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, key, "hash")
			if err != nil || again.Replay == nil || again.Replay.Status != 201 {
				t.Fatalf("retry: %+v, %v; want the 201 replayed", again, err)
			}
		})
	}
}

// clockStore is a store whose clock is the test's true clock.
type clockStore struct {
	refund.Store
	now func() time.Time
}

func (s clockStore) Now(context.Context) (time.Time, error) { return s.now(), nil }

// Finding 5: leases came from each node's own clock, so a node whose clock
// runs minutes ahead took over refunds early. With the store's clock it
// waits for the lease as written.
func TestLeases_UseTheStoreClock(t *testing.T) {
	for _, tc := range []struct {
		storeClock bool
		wantClaim  int
	}{{false, 1}, {true, 0}} {
		t.Run(fmt.Sprintf("StoreClock=%v", tc.storeClock), func(t *testing.T) {
			proc := newLateProcessor()
			h := newHarness(t, proc, nil)
			st := clockStore{Store: h.st, now: h.clk.Now}
			honest := h.node(proc, func(c *refund.Config) { c.Store, c.StoreClock = st, tc.storeClock })
			skewed := h.node(proc, func(c *refund.Config) {
				c.Store, c.StoreClock = st, tc.storeClock
				c.Now = func() time.Time { return h.clk.Now().Add(5 * time.Minute) }
			})
			for _, svc := range []*refund.Service{honest, skewed} {
				if err := svc.SyncClock(h.ctx); err != nil {
					t.Fatal(err)
				}
			}
			o := h.order(1000)
			r, err := honest.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Queue: true})
			if err != nil {
				t.Fatal(err)
			}
			// Queued: due after the hold (60s). Two minutes of true time
			// later it is not due; the skewed node sees seven.
			h.clk.Advance(30 * time.Second)
			n, err := skewed.ProcessDue(h.ctx, 10, 1)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantClaim {
				t.Fatalf("the skewed node claimed %d refunds 30s into a 60s hold, want %d", n, tc.wantClaim)
			}
			if tc.storeClock {
				if r = h.refund(r.ID); r.Status != refund.StatusPending {
					t.Fatalf("refund is %s, want pending", r.Status)
				}
			}
		})
	}
}

// An answer to a passing condition (here: a refund of the order still in
// flight, which the gateway answers 400 "Initial request is still
// processing.") is not stored with the key: a retry runs again, and
// succeeds once the order is free.
func TestIdempotentClaims_PassingConditionsAreNotReplayed(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, func(c *refund.Config) { c.InFlightWait = time.Millisecond })
	o := h.order(10000)
	queued, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr(int64(100)), Queue: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "busy-1", "hash")
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.CreateRefund(refund.WithClaim(h.ctx, c), h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr(int64(500)), AwaitInFlight: true})
	if refund.ErrorCode(err) != refund.ERefundInProgressOnOrder {
		t.Fatalf("refund while another is in flight: %v", err)
	}
	h.svc.CompleteIdempotent(h.ctx, c, refund.Reply{Status: 400, Body: []byte(`{"message":"Initial request is still processing."}`)})
	if _, err := h.svc.CancelRefund(h.ctx, h.p, queued.ID); err != nil {
		t.Fatal(err)
	}
	c, err = h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "busy-1", "hash")
	if err != nil || c.Replay != nil {
		t.Fatalf("retry after a passing condition: %+v %v, want a fresh claim", c, err)
	}
	r, err := h.svc.CreateRefund(refund.WithClaim(h.ctx, c), h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr(int64(500)), AwaitInFlight: true})
	if err != nil || r.Status != refund.StatusSucceeded {
		t.Fatalf("retry: %+v %v", r, err)
	}
}

func ptr[T any](v T) *T { return &v }

// raceStore loses the next UpdateRefund to a concurrent writer once armed
// (the worker took the refund between the caller's read and its write).
type raceStore struct {
	refund.Store
	armed atomic.Bool
}

func (s *raceStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	return s.Store.Update(ctx, func(tx refund.Tx) error { return fn(raceTx{tx, s}) })
}

type raceTx struct {
	refund.Tx
	s *raceStore
}

func (tx raceTx) UpdateRefund(ctx context.Context, r *refund.Refund) error {
	if tx.s.armed.CompareAndSwap(true, false) {
		return refund.Errorf(refund.EConflict, "", "refund %q was changed concurrently", r.ID)
	}
	return tx.Tx.UpdateRefund(ctx, r)
}

// A cancel that lost a race to a concurrent change is not the key's
// answer: its retry with the same key runs again and cancels, rather than
// being replayed "changed concurrently" for as long as the key is kept.
func TestIdempotentClaims_CancelLosingARaceIsNotReplayed(t *testing.T) {
	rs := &raceStore{}
	h := newHarnessOn(t, func(t *testing.T) refund.Store { rs.Store = openSQLite(t); return rs }, &instantProcessor{}, nil)
	o := h.order(10000)
	queued, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr(int64(100)), Queue: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "cancel-1", "hash")
	if err != nil {
		t.Fatal(err)
	}
	rs.armed.Store(true)
	if _, err := h.svc.CancelRefund(refund.WithClaim(h.ctx, c), h.p, queued.ID); refund.ErrorCode(err) != refund.EConflict {
		t.Fatalf("cancel losing a race: %v, want %s", err, refund.EConflict)
	}
	h.svc.CompleteIdempotent(h.ctx, c, refund.Reply{Status: 409, Body: []byte(`{"error":{"code":"conflict"}}`)})
	c, err = h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "cancel-1", "hash")
	if err != nil || c.Replay != nil {
		t.Fatalf("retry of a cancel that lost a race: %+v %v, want a fresh claim", c, err)
	}
	r, err := h.svc.CancelRefund(refund.WithClaim(h.ctx, c), h.p, queued.ID)
	if err != nil || r.Status != refund.StatusCanceled {
		t.Fatalf("retry: %+v %v", r, err)
	}
}
