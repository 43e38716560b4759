package sandbox

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
)

// fakeClock is a clock tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newAcquirer(t *testing.T) (*Acquirer, *fakeClock) {
	t.Helper()
	clock := newClock()
	return New(Config{Now: clock.Now}), clock
}

func card(key, last4 string) processor.Request {
	return processor.Request{
		IdempotencyKey: key, MerchantID: "mer_1", OrderID: "ord_1",
		Amount: 5000, Currency: "SAR", PaymentMethod: "mada", CardLast4: last4, CaptureRef: "cap_1",
	}
}

func wallet(key, method string) processor.Request {
	return processor.Request{
		IdempotencyKey: key, MerchantID: "mer_1", OrderID: "ord_1",
		Amount: 5000, Currency: "SAR", PaymentMethod: method, CaptureRef: "cap_1",
	}
}

var (
	digits12 = regexp.MustCompile(`^[0-9]{12}$`)
	digits6  = regexp.MustCompile(`^[0-9]{6}$`)
	alnum6   = regexp.MustCompile(`^[0-9A-Z]{6}$`)
	arn23    = regexp.MustCompile(`^7[0-9]{22}$`)
)

// checkApproved checks an approval and the shape of its reference numbers.
func checkApproved(t *testing.T, res processor.Result) {
	t.Helper()
	if res.Status != processor.Approved || res.ResponseCode != "00" || res.Message != "Approved" {
		t.Fatalf("want approved 00, got %+v", res)
	}
	if !digits12.MatchString(res.RRN) || !digits6.MatchString(res.STAN) ||
		!alnum6.MatchString(res.AuthCode) || !arn23.MatchString(res.ARN) {
		t.Fatalf("malformed references: %+v", res)
	}
	if got := luhn(res.ARN[:22]); got != res.ARN[22:] {
		t.Fatalf("ARN %s: check digit %s, want %s", res.ARN, res.ARN[22:], got)
	}
	if res.ExecutedAt.IsZero() {
		t.Fatalf("approval without ExecutedAt: %+v", res)
	}
}

// checkLog checks the execution log, the one record that would show a
// key executed twice (the ledger and Executed, keyed by key, cannot):
// want rows (one per approval), no key twice.
func checkLog(t *testing.T, a *Acquirer, want int) {
	t.Helper()
	log := a.Executions()
	if twice := DoubleExecutions(log); twice != nil || len(log) != want {
		t.Fatalf("execution log %+v: want %d rows and no key twice (twice: %v)", log, want, twice)
	}
}

// approvals is how many rows an answer puts in the execution log.
func approvals(res processor.Result) int {
	if res.Status == processor.Approved {
		return 1
	}
	return 0
}

func TestRefund_Behaviours(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		req      processor.Request
		ctx      func() (context.Context, context.CancelFunc)
		status   processor.Status // with a nil error
		code     string
		message  string
		errIs    error  // the error wraps this
		trans    string // the error is a TransientError with this code
		executed bool
		notFound bool // Status answers ErrNotFound afterwards
	}{
		{name: "0051 insufficient funds", req: card("r1", "0051"), status: processor.Declined, code: "51", message: "Insufficient funds", executed: true},
		{name: "0005 do not honor", req: card("r1", "0005"), status: processor.Declined, code: "05", message: "Do not honor", executed: true},
		{name: "0091 first attempt issuer unavailable", req: card("r1", "0091"), trans: "91", notFound: true},
		{name: "0099 without deadline times out at once", req: card("r1", "0099"), errIs: context.DeadlineExceeded},
		{name: "0099 with deadline times out", req: card("r1", "0099"),
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 5*time.Millisecond)
			},
			errIs: context.DeadlineExceeded},
		{name: "stcpay pending", req: wallet("r1", "stcpay"), status: processor.Pending, message: "Accepted, settlement pending", executed: true},
		{name: "STCPay any case pending", req: wallet("r1", "STCPay"), status: processor.Pending, message: "Accepted, settlement pending", executed: true},
		{name: "other card approved", req: card("r1", "4242"), status: processor.Approved, code: "00", message: "Approved", executed: true},
		{name: "wallet without last4 approved", req: wallet("r1", "applePay"), status: processor.Approved, code: "00", message: "Approved", executed: true},
		{name: "empty key format error", req: card("", "4242"), status: processor.Declined, code: "30", message: "Format error", notFound: true},
		{name: "zero amount invalid", req: func() processor.Request { r := card("r1", "4242"); r.Amount = 0; return r }(),
			status: processor.Declined, code: "13", message: "Invalid amount", notFound: true},
		{name: "unknown currency format error", req: func() processor.Request { r := card("r1", "4242"); r.Currency = "XYZ"; return r }(),
			status: processor.Declined, code: "30", message: "Format error: unknown currency", notFound: true},
		{name: "negative amount invalid", req: func() processor.Request { r := card("r1", "0051"); r.Amount = -1; return r }(),
			status: processor.Declined, code: "13", message: "Invalid amount", notFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, clock := newAcquirer(t)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()

			res, err := a.Refund(ctx, tt.req)
			switch {
			case tt.errIs != nil:
				if !errors.Is(err, tt.errIs) {
					t.Fatalf("error %v, want %v", err, tt.errIs)
				}
			case tt.trans != "":
				var te *processor.TransientError
				if !errors.As(err, &te) || te.Code != tt.trans {
					t.Fatalf("error %v, want transient %s", err, tt.trans)
				}
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			default:
				if res.Status != tt.status || res.ResponseCode != tt.code || res.Message != tt.message {
					t.Fatalf("got %s %q %q, want %s %q %q", res.Status, res.ResponseCode, res.Message, tt.status, tt.code, tt.message)
				}
				if res.Status == processor.Approved {
					checkApproved(t, res)
				}
			}

			ex := a.Executed()
			if !tt.executed {
				if len(ex) != 0 {
					t.Fatalf("executed %+v, want nothing", ex)
				}
			} else {
				want := Execution{IdempotencyKey: tt.req.IdempotencyKey, Amount: tt.req.Amount, Currency: tt.req.Currency,
					Status: tt.status, ExecutedAt: clock.Now(), Attempts: 1}
				if len(ex) != 1 || ex[0] != want {
					t.Fatalf("executed %+v, want [%+v]", ex, want)
				}
				got, err := a.Status(context.Background(), tt.req.IdempotencyKey)
				if err != nil || got != res {
					t.Fatalf("Status = %+v, %v; want the Refund answer %+v", got, err, res)
				}
			}
			if tt.notFound {
				if _, err := a.Status(context.Background(), tt.req.IdempotencyKey); !errors.Is(err, processor.ErrNotFound) {
					t.Fatalf("Status error %v, want ErrNotFound", err)
				}
			}
		})
	}
}

func TestRefund_DefaultClock(t *testing.T) {
	t.Parallel()
	a := New(Config{})
	before := time.Now()
	res, err := a.Refund(context.Background(), card("r1", "4242"))
	if err != nil {
		t.Fatal(err)
	}
	checkApproved(t, res)
	if res.ExecutedAt.Before(before) {
		t.Fatalf("ExecutedAt %v before the call at %v", res.ExecutedAt, before)
	}
}

func TestRefund_ReplayExecutesOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  processor.Request
	}{
		{"approved", card("r1", "4242")},
		{"declined 51", card("r1", "0051")},
		{"declined 05", card("r1", "0005")},
		{"pending stcpay", wallet("r1", "stcpay")},
		{"currency case differs", func() processor.Request { r := card("r1", "4242"); r.Currency = "sar"; return r }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, clock := newAcquirer(t)
			first, err := a.Refund(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Second) // less than the settle delay
			replay := tt.req
			replay.Currency = "SAR"
			for i := range 3 {
				again, err := a.Refund(context.Background(), replay)
				if err != nil || again != first {
					t.Fatalf("replay %d = %+v, %v; want %+v", i, again, err, first)
				}
			}
			ex := a.Executed()
			if len(ex) != 1 || ex[0].Attempts != 4 || !ex[0].ExecutedAt.Equal(first.ExecutedAt) {
				t.Fatalf("executed %+v, want one execution at %v with 4 attempts", ex, first.ExecutedAt)
			}
			checkLog(t, a, approvals(first))
		})
	}
}

func TestRefund_ConcurrentSameKeyExecutesOnce(t *testing.T) {
	t.Parallel()
	const clients = 200
	tests := []struct {
		name string
		req  processor.Request
	}{
		{"approved", card("r1", "4242")},
		{"declined", card("r1", "0051")},
		{"issuer unavailable", card("r1", "0091")},
		{"pending", wallet("r1", "stcpay")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newAcquirer(t)
			results := make([]processor.Result, clients)
			errs := make([]error, clients)
			var wg sync.WaitGroup
			for i := range clients {
				wg.Go(func() { results[i], errs[i] = a.Refund(context.Background(), tt.req) })
			}
			wg.Wait()

			var answers []processor.Result
			transient := 0
			for i := range clients {
				var te *processor.TransientError
				switch {
				case errors.As(errs[i], &te):
					transient++
				case errs[i] != nil:
					t.Fatalf("client %d: %v", i, errs[i])
				default:
					answers = append(answers, results[i])
				}
			}
			wantTransient := 0
			if tt.req.CardLast4 == CardIssuerUnavailable {
				wantTransient = 2
			}
			if transient != wantTransient || len(answers) != clients-wantTransient {
				t.Fatalf("%d transient errors and %d answers, want %d and %d", transient, len(answers), wantTransient, clients-wantTransient)
			}
			for i, r := range answers {
				if r != answers[0] {
					t.Fatalf("answer %d %+v differs from %+v", i, r, answers[0])
				}
			}
			if ex := a.Executed(); len(ex) != 1 || ex[0].Attempts != clients {
				t.Fatalf("executed %+v, want one execution with %d attempts", ex, clients)
			}
			checkLog(t, a, approvals(answers[0]))
		})
	}
}

func TestRefund_ConcurrentKeysGetUniqueReferences(t *testing.T) {
	t.Parallel()
	const clients = 200
	a, _ := newAcquirer(t)
	results := make([]processor.Result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			res, err := a.Refund(context.Background(), card(fmt.Sprintf("r%03d", i), "4242"))
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, r := range results {
		checkApproved(t, r)
		for _, ref := range []string{"rrn" + r.RRN, "stan" + r.STAN, "auth" + r.AuthCode, "arn" + r.ARN} {
			if seen[ref] {
				t.Fatalf("reference %s used twice", ref)
			}
			seen[ref] = true
		}
	}
	ex := a.Executed()
	if len(ex) != clients {
		t.Fatalf("executed %d, want %d", len(ex), clients)
	}
	for i, e := range ex { // same instant: ordered by key
		if want := fmt.Sprintf("r%03d", i); e.IdempotencyKey != want {
			t.Fatalf("execution %d is %s, want %s", i, e.IdempotencyKey, want)
		}
	}
}

func TestRefund_IssuerUnavailableSequence(t *testing.T) {
	t.Parallel()
	a, _ := newAcquirer(t)
	ctx := context.Background()
	req := card("r1", "0091")
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := a.Refund(ctx, req)
		var te *processor.TransientError
		if !errors.As(err, &te) || te.Code != "91" || te.Message != "Issuer or switch inoperative" {
			t.Fatalf("attempt %d: %v, want transient 91", attempt, err)
		}
		if _, err := a.Status(ctx, req.IdempotencyKey); !errors.Is(err, processor.ErrNotFound) {
			t.Fatalf("Status after attempt %d: %v, want ErrNotFound", attempt, err)
		}
		if ex := a.Executed(); len(ex) != 0 {
			t.Fatalf("attempt %d executed %+v", attempt, ex)
		}
	}
	third, err := a.Refund(ctx, req)
	if err != nil {
		t.Fatalf("attempt 3: %v", err)
	}
	checkApproved(t, third)
	if st, err := a.Status(ctx, req.IdempotencyKey); err != nil || st != third {
		t.Fatalf("Status = %+v, %v; want %+v", st, err, third)
	}
	if again, err := a.Refund(ctx, req); err != nil || again != third {
		t.Fatalf("replay = %+v, %v; want %+v", again, err, third)
	}
	if ex := a.Executed(); len(ex) != 1 || ex[0].Attempts != 4 || ex[0].Status != processor.Approved {
		t.Fatalf("executed %+v, want one approval after 4 attempts", ex)
	}
	checkLog(t, a, 1)
	// The attempt count is per key.
	if _, err := a.Refund(ctx, card("r2", "0091")); err == nil {
		t.Fatal("a new 0091 key must fail its first attempt")
	}
}

func TestRefund_NoAnswerUntilStatus(t *testing.T) {
	t.Parallel()
	a, clock := newAcquirer(t)
	req := card("r1", "0099")

	if _, err := a.Status(context.Background(), req.IdempotencyKey); !errors.Is(err, processor.ErrNotFound) {
		t.Fatalf("Status before any Refund: %v, want ErrNotFound", err)
	}
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := a.Refund(ctx, req)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Refund %d: %v, want a timeout", i, err)
		}
	}
	if ex := a.Executed(); len(ex) != 0 {
		t.Fatalf("an unanswered refund is not executed: %+v", ex)
	}

	clock.Advance(time.Minute)
	st, err := a.Status(context.Background(), req.IdempotencyKey)
	if err != nil {
		t.Fatal(err)
	}
	checkApproved(t, st)
	if !st.ExecutedAt.Equal(clock.Now()) {
		t.Fatalf("approved at %v, want the Status time %v", st.ExecutedAt, clock.Now())
	}

	clock.Advance(time.Minute)
	if again, err := a.Status(context.Background(), req.IdempotencyKey); err != nil || again != st {
		t.Fatalf("second Status = %+v, %v; want %+v", again, err, st)
	}
	// Replays answer at once, even without a deadline.
	if again, err := a.Refund(context.Background(), req); err != nil || again != st {
		t.Fatalf("replay = %+v, %v; want %+v", again, err, st)
	}
	ex := a.Executed()
	if len(ex) != 1 || ex[0].Attempts != 3 || !ex[0].ExecutedAt.Equal(st.ExecutedAt) {
		t.Fatalf("executed %+v, want one execution after 3 attempts", ex)
	}
	checkLog(t, a, 1)
}

func TestRefund_NoAnswerApprovedWhileWaiting(t *testing.T) {
	t.Parallel()
	a, _ := newAcquirer(t)
	req := card("r1", "0099")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := a.Refund(ctx, req)
		done <- err
	}()

	// Poll until the acquirer has received the refund.
	var st processor.Result
	for {
		var err error
		st, err = a.Status(context.Background(), req.IdempotencyKey)
		if err == nil {
			break
		}
		if !errors.Is(err, processor.ErrNotFound) {
			t.Fatal(err)
		}
		runtime.Gosched()
	}
	checkApproved(t, st)
	select {
	case err := <-done:
		t.Fatalf("the waiting Refund answered %v before its context ended", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting Refund: %v, want context.Canceled", err)
	}
	if again, err := a.Refund(context.Background(), req); err != nil || again != st {
		t.Fatalf("replay = %+v, %v; want %+v", again, err, st)
	}
	if ex := a.Executed(); len(ex) != 1 {
		t.Fatalf("executed %+v, want once", ex)
	}
	checkLog(t, a, 1)
}

func TestRefund_WalletSettles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		delay time.Duration // Config.SettleDelay
		want  time.Duration // effective delay
	}{
		{"default delay", 0, DefaultSettleDelay},
		{"configured delay", 30 * time.Second, 30 * time.Second},
		{"one nanosecond", time.Nanosecond, time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			a := New(Config{Now: clock.Now, SettleDelay: tt.delay})
			ctx := context.Background()
			req := wallet("r1", "stcpay")
			accepted := clock.Now()

			first, err := a.Refund(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			wantPending := processor.Result{Status: processor.Pending, Message: "Accepted, settlement pending", ExecutedAt: accepted}
			if first != wantPending {
				t.Fatalf("Refund = %+v, want %+v", first, wantPending)
			}

			clock.Advance(tt.want - time.Nanosecond)
			if st, err := a.Status(ctx, req.IdempotencyKey); err != nil || st != wantPending {
				t.Fatalf("Status before the delay = %+v, %v; want pending", st, err)
			}
			if again, err := a.Refund(ctx, req); err != nil || again != wantPending {
				t.Fatalf("Refund before the delay = %+v, %v; want pending", again, err)
			}
			if ex := a.Executed(); len(ex) != 1 || ex[0].Status != processor.Pending {
				t.Fatalf("executed %+v, want one pending", ex)
			}

			clock.Advance(time.Nanosecond)
			st, err := a.Status(ctx, req.IdempotencyKey)
			if err != nil {
				t.Fatal(err)
			}
			checkApproved(t, st)
			if !st.ExecutedAt.Equal(accepted.Add(tt.want)) {
				t.Fatalf("approved at %v, want %v", st.ExecutedAt, accepted.Add(tt.want))
			}
			clock.Advance(time.Hour) // references are assigned once
			if again, err := a.Refund(ctx, req); err != nil || again != st {
				t.Fatalf("Refund after the delay = %+v, %v; want %+v", again, err, st)
			}
			if again, err := a.Status(ctx, req.IdempotencyKey); err != nil || again != st {
				t.Fatalf("Status again = %+v, %v; want %+v", again, err, st)
			}
			want := Execution{IdempotencyKey: "r1", Amount: 5000, Currency: "SAR", Status: processor.Approved, ExecutedAt: accepted, Attempts: 3}
			if ex := a.Executed(); len(ex) != 1 || ex[0] != want {
				t.Fatalf("executed %+v, want [%+v]", ex, want)
			}
			checkLog(t, a, 1)
		})
	}
}

func TestRefund_ExecutedSettlesWallets(t *testing.T) {
	t.Parallel()
	a, clock := newAcquirer(t)
	if _, err := a.Refund(context.Background(), wallet("r1", "stcpay")); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultSettleDelay)
	if ex := a.Executed(); len(ex) != 1 || ex[0].Status != processor.Approved {
		t.Fatalf("executed %+v, want approved once the delay passed", ex)
	}
}

func TestRefund_KeyMismatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		first  processor.Request
		change func(*processor.Request)
	}{
		{"approved, amount", card("r1", "4242"), func(r *processor.Request) { r.Amount++ }},
		{"approved, currency", card("r1", "4242"), func(r *processor.Request) { r.Currency = "KWD" }},
		{"declined, amount", card("r1", "0051"), func(r *processor.Request) { r.Amount = 1 }},
		{"pending, amount", wallet("r1", "stcpay"), func(r *processor.Request) { r.Amount-- }},
		{"unanswered, amount", card("r1", "0099"), func(r *processor.Request) { r.Amount *= 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, _ := newAcquirer(t)
			ctx := context.Background()
			first, firstErr := a.Refund(ctx, tt.first)
			before := a.Executed()

			changed := tt.first
			tt.change(&changed)
			_, err := a.Refund(ctx, changed)
			var te *processor.TransientError
			if !errors.Is(err, ErrKeyMismatch) || errors.As(err, &te) {
				t.Fatalf("changed replay: %v, want ErrKeyMismatch (not transient)", err)
			}
			after := a.Executed()
			if len(after) != len(before) || (len(after) == 1 && after[0].Status != before[0].Status) {
				t.Fatalf("a refused replay changed the ledger: %+v -> %+v", before, after)
			}
			if firstErr == nil {
				if again, err := a.Refund(ctx, tt.first); err != nil || again != first {
					t.Fatalf("the original replay = %+v, %v; want %+v", again, err, first)
				}
			}
		})
	}
}

func TestContextDoneBeforeCall(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	contexts := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline passed", expired, context.DeadlineExceeded},
	}
	reqs := []struct {
		name string
		req  processor.Request
	}{
		{"approved card", card("r1", "4242")},
		{"declined card", card("r1", "0051")},
		{"issuer unavailable", card("r1", "0091")},
		{"no answer", card("r1", "0099")},
		{"wallet", wallet("r1", "stcpay")},
	}
	for _, c := range contexts {
		for _, r := range reqs {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				t.Parallel()
				a, _ := newAcquirer(t)
				if _, err := a.Refund(c.ctx, r.req); !errors.Is(err, c.want) {
					t.Fatalf("Refund: %v, want %v", err, c.want)
				}
				if _, err := a.Status(c.ctx, r.req.IdempotencyKey); !errors.Is(err, c.want) {
					t.Fatalf("Status: %v, want %v", err, c.want)
				}
				if _, err := a.Status(context.Background(), r.req.IdempotencyKey); !errors.Is(err, processor.ErrNotFound) {
					t.Fatalf("Status afterwards: %v, want ErrNotFound", err)
				}
				if ex := a.Executed(); len(ex) != 0 {
					t.Fatalf("executed %+v", ex)
				}
				// Nothing was counted: a 0091 key still fails twice.
				if r.req.CardLast4 == CardIssuerUnavailable {
					for i := range 2 {
						if _, err := a.Refund(context.Background(), r.req); err == nil {
							t.Fatalf("attempt %d succeeded", i+1)
						}
					}
				}
			})
		}
	}
}

func TestExecuted_Order(t *testing.T) {
	t.Parallel()
	a, clock := newAcquirer(t)
	ctx := context.Background()
	submit := func(key, last4 string) {
		t.Helper()
		if _, err := a.Refund(ctx, card(key, last4)); err != nil {
			t.Fatal(err)
		}
	}
	submit("c", "4242")
	submit("a", "0051")
	clock.Advance(time.Second)
	submit("b", "4242")
	_, _ = a.Refund(ctx, card("z", "0099")) // received, approved by Status later
	clock.Advance(-2 * time.Second)         // a clock may step back
	submit("d", "0005")
	clock.Advance(time.Hour)
	if _, err := a.Status(ctx, "z"); err != nil {
		t.Fatal(err)
	}

	var got []string
	for _, e := range a.Executed() {
		got = append(got, e.IdempotencyKey)
	}
	if fmt.Sprint(got) != "[d a c b z]" {
		t.Fatalf("order %v, want [d a c b z]", got)
	}
}

func TestReferenceFormats(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"rrn", rrn(at, 42), "603200000042"},
		{"stan first", stan(1), "000001"},
		{"stan last", stan(999_999), "999999"},
		{"stan wraps", stan(1_000_000), "000001"},
		{"arn", arn(at, 7), "74000006032000000000079"},
		{"luhn known", luhn("7992739871"), "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Fatalf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
	codes := map[string]bool{}
	for seq := uint64(1); seq <= 10_000; seq++ {
		c := authCode(seq)
		if !alnum6.MatchString(c) || codes[c] {
			t.Fatalf("auth code %q for %d malformed or repeated", c, seq)
		}
		codes[c] = true
	}
}

// Without idempotent submission an approved key sent again moves the
// money again: each resubmission is a row of its own in the execution log
// (kept by the journal with it), under a new reference, and the status
// answers the latest. Keys that did not execute are not executed by a
// resubmission, and a voided key stays void.
func TestRefund_ExecuteResubmissions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		req   processor.Request
		void  bool
		wantN int // log rows after the first submission and two more
	}{
		{"approved", card("r1", "4242"), false, 3},
		{"declined 51", card("r1", "0051"), false, 0},
		{"pending stcpay, unsettled", wallet("r1", "stcpay"), false, 0},
		{"voided before it executed", card("r1", "0099"), true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			j := &memJournal{}
			a := New(Config{Now: clock.Now, Journal: j, ExecuteResubmissions: true})
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			first, _ := a.Refund(ctx, tt.req)
			if tt.void {
				if _, err := a.Void(context.Background(), tt.req.IdempotencyKey); err != nil {
					t.Fatal(err)
				}
			}
			var last processor.Result
			for range 2 {
				var err error
				if last, err = a.Refund(context.Background(), tt.req); err != nil {
					t.Fatal(err)
				}
			}
			log := a.Executions()
			if len(log) != tt.wantN || len(j.rows) != tt.wantN {
				t.Fatalf("execution log %+v, journal's %+v: want %d rows", log, j.rows, tt.wantN)
			}
			if tt.wantN == 0 {
				if DoubleExecutions(log) != nil {
					t.Fatalf("log %+v: a key that never executed shows twice", log)
				}
				return
			}
			if twice := DoubleExecutions(log); len(twice) != 1 || twice[0] != "r1" {
				t.Fatalf("DoubleExecutions = %v, want [r1]", twice)
			}
			if last.RRN == first.RRN {
				t.Fatalf("resubmission reused the first reference %s", first.RRN)
			}
			if st, err := a.Status(context.Background(), "r1"); err != nil || st != last {
				t.Fatalf("status %+v %v, want the latest execution %+v", st, err, last)
			}
		})
	}
}

// memJournal keeps what is saved, as a journal that never fails.
type memJournal struct {
	records []Record
	rows    []LogEntry
}

func (j *memJournal) Save(r Record, l *LogEntry) error {
	j.records = append(j.records, r)
	if l != nil {
		j.rows = append(j.rows, *l)
	}
	return nil
}
