package connector_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/connector"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
)

// observed counts calls by op and outcome.
type observed struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *observed) observe(account, kind, op, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[account+"/"+kind+"/"+op+"/"+outcome]++
}

func (o *observed) get(k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[k]
}

func acquirerService(t *testing.T) (*service.Service, *sandbox.Acquirer, string) {
	t.Helper()
	acq := sandbox.New(sandbox.Config{})
	svc, err := service.New(acq, service.Faults{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(svc.Handler())
	t.Cleanup(ts.Close)
	return svc, acq, ts.URL
}

func req(key string) processor.Request {
	return processor.Request{IdempotencyKey: key, MerchantID: "mer_1", OrderID: "ord_1", Amount: 1250,
		Currency: "KWD", PaymentMethod: "card", CardLast4: "4444", CaptureRef: "txn_1"}
}

func TestConnect_Refuses(t *testing.T) {
	tests := []struct {
		name string
		acct processor.Account
	}{
		{"unknown kind", processor.Account{Kind: "paypal", URL: "https://x.example"}},
		{"bad limit", processor.Account{Kind: "acquirer", URL: "https://x.example", Options: map[string]string{"max_in_flight": "0"}}},
		{"bad rate", processor.Account{Kind: "acquirer", URL: "https://x.example", Options: map[string]string{"rate": "-1"}}},
		{"bad cooldown", processor.Account{Kind: "acquirer", URL: "https://x.example", Options: map[string]string{"breaker_cooldown": "2d"}}},
		{"unknown option", processor.Account{Kind: "acquirer", URL: "https://x.example", Options: map[string]string{"colour": "red"}}},
		{"bad url", processor.Account{Kind: "acquirer", URL: "ftp://x.example"}},
	}
	var r connector.Registry
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Connect(tc.acct); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// After breaker_failures transport failures in a row the circuit opens:
// calls are refused without reaching the processor, saying they were not
// executed and how long to wait; after the cool-down one trial call goes
// through and, when it succeeds, the circuit closes.
func TestGuard_CircuitBreaker(t *testing.T) {
	svc, acq, url := acquirerService(t)
	obs := &observed{n: map[string]int{}}
	r := connector.Registry{Observe: obs.observe}
	p, err := r.Connect(processor.Account{ID: "pa_1", Name: "acq", Kind: "acquirer", URL: url,
		Options: map[string]string{"breaker_failures": "3", "breaker_cooldown": "200ms"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetFaults(service.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if _, err := p.Refund(ctx, req("re_"+string(rune('a'+i)))); err == nil {
			t.Fatal("a 503 answered without error")
		}
	}
	_, err = p.Refund(ctx, req("re_open"))
	var te *processor.TransientError
	if !errors.As(err, &te) || !te.NotExecuted || te.Code != "circuit_open" || te.RetryAfter <= 0 || te.RetryAfter > 200*time.Millisecond {
		t.Fatalf("call with the circuit open: %v, want circuit_open, not executed, retry after what is left of the cool-down", err)
	}
	if _, err := acq.Status(ctx, "re_open"); !errors.Is(err, processor.ErrNotFound) {
		t.Fatalf("the refused call reached the processor: %v", err)
	}
	if err := svc.SetFaults(service.Faults{}); err != nil {
		t.Fatal(err)
	}
	// The cool-down runs on the breaker's clock; poll, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := p.Refund(ctx, req("re_after"))
		if err == nil {
			if res.Status != processor.Approved {
				t.Fatalf("after recovery: %s, want approved", res.Status)
			}
			break
		}
		if !errors.As(err, &te) || te.Code != "circuit_open" || time.Now().After(deadline) {
			t.Fatalf("after recovery: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := obs.get("acq/acquirer/refund/transient"); got != 3 {
		t.Errorf("observed %d transient refund calls, want 3", got)
	}
	if got := obs.get("acq/acquirer/refund/not_sent"); got < 1 {
		t.Errorf("observed %d refused calls, want at least 1", got)
	}
	if got := obs.get("acq/acquirer/refund/approved"); got != 1 {
		t.Errorf("observed %d approved calls, want 1", got)
	}
}

// TestGuard_CircuitOpenSaysWhatIsLeft: a call the open circuit refuses
// asks to wait what is left of the cool-down, not all of it: the whole
// cool-down, asked again and again, pushed a refund's next attempt and a
// client's retry past the trial call that closes the circuit.
func TestGuard_CircuitOpenSaysWhatIsLeft(t *testing.T) {
	tests := []struct {
		name    string
		elapsed time.Duration // since the circuit opened
		want    time.Duration
	}{
		{"JustOpened", 0, time.Hour},
		{"ATenthGone", 6 * time.Minute, 54 * time.Minute},
		{"AlmostOver", time.Hour - time.Second, time.Second},
		{"OverByThisClock", 2 * time.Hour, time.Millisecond}, // gobreaker's clock is not this one

	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, url := acquirerService(t)
			if err := svc.SetFaults(service.Faults{ErrorRate: 1}); err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			var r connector.Registry
			r.SetNow(func() time.Time { return now })
			p, err := r.Connect(processor.Account{ID: "pa_1", Name: "acq", Kind: "acquirer", URL: url,
				Options: map[string]string{"breaker_failures": "1", "breaker_cooldown": "1h"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Refund(context.Background(), req("re_fails")); err == nil {
				t.Fatal("a 503 answered without error")
			}
			now = now.Add(tt.elapsed)
			_, err = p.Status(context.Background(), "re_fails")
			var te *processor.TransientError
			if !errors.As(err, &te) || te.Code != "circuit_open" || te.RetryAfter != tt.want {
				t.Fatalf("%s after the circuit opened: %v (retry after %v), want circuit_open after %v", tt.elapsed, err, retryAfterOf(te), tt.want)
			}
		})
	}
}

// A call refused while the half-open circuit's one trial call is out is
// told to wait a moment, not a whole cool-down: the calls due at the
// cool-down's end would otherwise wait a cool-down past the trial that
// closes the circuit.
func TestGuard_TrialOutSaysAMoment(t *testing.T) {
	connector.SetTrialWait(t, 10*time.Millisecond) // the cool-down is 100ms
	svc, _, url := acquirerService(t)
	if err := svc.SetFaults(service.Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	var r connector.Registry
	p, err := r.Connect(processor.Account{ID: "pa_1", Name: "acq", Kind: "acquirer", URL: url,
		Options: map[string]string{"breaker_failures": "1", "breaker_cooldown": "100ms"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Refund(ctx, req("re_fails")); err == nil {
		t.Fatal("a 503 answered without error")
	}
	// gobreaker times the cool-down on the real clock: poll, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for !connector.HalfOpen(p) {
		if time.Now().After(deadline) {
			t.Fatal("the circuit never went half-open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := svc.SetFaults(service.Faults{LatencyMS: 2_000}); err != nil {
		t.Fatal(err)
	}
	trial := make(chan error, 1)
	go func() { _, err := p.Refund(ctx, req("re_trial")); trial <- err }()
	for connector.Requests(p) == 0 { // the trial is out once the circuit counts it
		if time.Now().After(deadline) {
			t.Fatal("the trial call never left")
		}
		time.Sleep(time.Millisecond)
	}
	_, err = p.Status(ctx, "re_fails")
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != "circuit_open" || te.RetryAfter != 10*time.Millisecond {
		t.Fatalf("refused while the trial is out: %v (retry after %v), want circuit_open and a moment (10ms here), not the cool-down", err, retryAfterOf(te))
	}
	if err := <-trial; err != nil {
		t.Fatalf("the trial: %v", err)
	}
}

func retryAfterOf(te *processor.TransientError) time.Duration {
	if te == nil {
		return 0
	}
	return te.RetryAfter
}

// A decline is the processor working: it never opens the circuit.
func TestGuard_DeclinesDoNotTrip(t *testing.T) {
	_, _, url := acquirerService(t)
	var r connector.Registry
	p, err := r.Connect(processor.Account{ID: "pa_1", Name: "acq", Kind: "acquirer", URL: url,
		Options: map[string]string{"breaker_failures": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		rq := req("re_d" + string(rune('a'+i)))
		rq.CardLast4 = "0051"
		res, err := p.Refund(context.Background(), rq)
		if err != nil || res.Status != processor.Declined {
			t.Fatalf("call %d: %v %v, want a decline", i, res.Status, err)
		}
	}
}

// max_in_flight: a call that finds every slot taken until its deadline is
// refused as not executed.
func TestGuard_InFlightAndRate(t *testing.T) {
	svc, _, url := acquirerService(t)
	var r connector.Registry
	p, err := r.Connect(processor.Account{ID: "pa_1", Name: "acq", Kind: "acquirer", URL: url,
		Options: map[string]string{"max_in_flight": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetFaults(service.Faults{LatencyMS: 500}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := p.Refund(context.Background(), req("re_slow"))
		done <- err
	}()
	// Wait until the slow call holds the slot: the service has it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var te *processor.TransientError
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := p.Refund(ctx, req("re_second"))
		cancel()
		if errors.As(err, &te) && te.Code == "busy" && te.NotExecuted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second call with the only slot taken: %v, want busy", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// rate: one call a second, no burst beyond it; a call that cannot wait
	// for its turn is refused as not executed, with the wait.
	if err := svc.SetFaults(service.Faults{}); err != nil {
		t.Fatal(err)
	}
	p, err = r.Connect(processor.Account{ID: "pa_2", Name: "acq2", Kind: "acquirer", URL: url,
		Options: map[string]string{"rate": "1", "burst": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refund(context.Background(), req("re_r1")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Refund(ctx, req("re_r2"))
	var te *processor.TransientError
	if !errors.As(err, &te) || te.Code != "rate_limited" || !te.NotExecuted || te.RetryAfter <= 0 {
		t.Fatalf("call over the rate: %v, want rate_limited, not executed, with a wait", err)
	}
}

// TestGuard_VoidsOnlyWhatItsConnectorCan: the core lets a refund whose
// last submission went unanswered wait for one more look, and answers a
// review's "not executed" with a void, only for a processor.Voider. The
// guard is one exactly when its connector is (as the tracing and metrics
// wrappers are): a guard that always offered Void made every kind look
// voidable, its void an error, and a review's "not executed" read as
// "this processor cannot void a refund".
func TestGuard_VoidsOnlyWhatItsConnectorCan(t *testing.T) {
	_, _, url := acquirerService(t)
	tests := []struct {
		name     string
		acct     processor.Account
		voidable bool
	}{
		{"acquirer", processor.Account{ID: "pa_1", Name: "acq", Kind: "acquirer", URL: url}, true},
		{"gateway", processor.Account{ID: "pa_2", Name: "gw", Kind: "gateway", URL: url, Credential: "sk_1"}, false},
		{"upayments", processor.Account{ID: "pa_3", Name: "up", Kind: "upayments", URL: url, Credential: "tok_1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &connector.Registry{}
			p, err := r.Connect(tc.acct)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := p.(processor.Voider)
			if ok != tc.voidable {
				t.Fatalf("the guarded %s is a processor.Voider: %v, want %v", tc.acct.Kind, ok, tc.voidable)
			}
			if !ok {
				return
			}
			// Through the guard to the acquirer: a key it never executed
			// is voided.
			if res, err := v.Void(context.Background(), "re_never_sent"); err != nil || res.Status != processor.Voided {
				t.Fatalf("void: %+v %v, want voided", res, err)
			}
		})
	}
}
