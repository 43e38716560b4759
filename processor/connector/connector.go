// Package connector builds the processor of a merchant's processor account:
// the connector for its kind, behind a guard that applies the account's
// limits (calls in flight, calls per second) and a circuit breaker, and
// reports every call's latency and outcome by account and kind.
//
// The guard's options are read from the account's options and removed
// before the connector sees them:
//
//	max_in_flight     calls at once (default 16)
//	rate, burst       calls per second and burst (default 0: unlimited)
//	breaker_failures  consecutive transport failures that open the circuit (default 5)
//	breaker_cooldown  how long it stays open before one trial call (default 30s)
//	idempotent        false: do not trust the processor to deduplicate a
//	                  resubmission, whatever its connector declares (an API
//	                  that does not honour its reference field in practice)
//
// Every answer's text (a decline's message, an error) leaves the guard
// without the account's credential, whole, in its colon-separated parts
// (Paylink's "apiId:secretKey") or cut short: a processor or a proxy that
// quotes the key it was sent ("invalid API key sk_live_...") would
// otherwise put it in the refund's failure message, its events and
// webhooks, the console and the node's log.
//
// A call the guard refuses (no slot before the deadline, over the rate, the
// circuit open) never reaches the processor and says so
// (processor.TransientError.NotExecuted): the core gives the attempt back
// and the refund waits as pending instead of hammering a failing processor.
package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/acquirer"
	"github.com/refundd/refundd/processor/gateway"
	"github.com/refundd/refundd/processor/paylink"
	"github.com/refundd/refundd/processor/sgate"
	"github.com/refundd/refundd/processor/stripe"
	"github.com/refundd/refundd/processor/techrar"
	"github.com/refundd/refundd/processor/upayments"
)

// New builds one kind's connector from an account.
type New func(processor.Account) (processor.Processor, error)

// kinds are the connectors refundd has, by the name an account gives.
var kinds = map[string]New{
	"acquirer": func(a processor.Account) (processor.Processor, error) {
		if len(a.Options) > 0 {
			return nil, fmt.Errorf("acquirer: takes no options")
		}
		return acquirer.New(a.URL, nil)
	},
	"gateway":   func(a processor.Account) (processor.Processor, error) { return gateway.New(a) },
	"sgate":     func(a processor.Account) (processor.Processor, error) { return sgate.New(a) },
	"upayments": func(a processor.Account) (processor.Processor, error) { return upayments.New(a) },
	"paylink":   func(a processor.Account) (processor.Processor, error) { return paylink.New(a) },
	"techrar":   func(a processor.Account) (processor.Processor, error) { return techrar.New(a) },
	"stripe":    func(a processor.Account) (processor.Processor, error) { return stripe.New(a) },
}

// Kinds lists the kinds, sorted.
func Kinds() []string {
	ks := make([]string, 0, len(kinds))
	for k := range kinds {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Observer records one call: account name, kind, operation (refund,
// status, void), outcome and duration. nil records nothing.
type Observer func(account, kind, op, outcome string, d time.Duration)

// Registry builds guarded connectors.
type Registry struct {
	Observe Observer
	now     func() time.Time // nil: time.Now; tests set it (export_test.go)
}

// Connect builds the guarded connector for account a.
func (r *Registry) Connect(a processor.Account) (processor.Processor, error) {
	build, ok := kinds[a.Kind]
	if !ok {
		return nil, fmt.Errorf("unknown processor kind %q (one of %v)", a.Kind, Kinds())
	}
	lim, rest, err := limitsOf(a.Options)
	if err != nil {
		return nil, err
	}
	a.Options = rest
	p, err := build(a)
	if err != nil {
		return nil, err
	}
	g := r.guard(a, p, lim)
	if v, ok := p.(processor.Voider); ok {
		// A Voider exactly when the connector is one: the core reads the
		// ability to void from the type it is given.
		return &guardedVoider{guarded: g, v: v}, nil
	}
	return g, nil
}

type limits struct {
	distrust bool // idempotent=false
	inFlight int
	rate     float64
	burst    int
	failures uint32
	cooldown time.Duration
}

// limitsOf takes the guard's options out of opts.
func limitsOf(opts map[string]string) (limits, map[string]string, error) {
	l := limits{inFlight: 16, failures: 5, cooldown: 30 * time.Second}
	rest := map[string]string{}
	for k, v := range opts {
		var err error
		switch k {
		case "idempotent":
			switch v {
			case "false":
				l.distrust = true
			case "true":
			default:
				err = fmt.Errorf("option idempotent must be true or false")
			}
		case "max_in_flight":
			l.inFlight, err = positive(k, v, 10000)
		case "rate":
			l.rate, err = strconv.ParseFloat(v, 64)
			if err != nil || l.rate <= 0 || l.rate > 1e6 {
				err = fmt.Errorf("option rate must be a positive number of calls per second")
			}
		case "burst":
			l.burst, err = positive(k, v, 1e6)
		case "breaker_failures":
			var n int
			n, err = positive(k, v, 1000)
			l.failures = uint32(n)
		case "breaker_cooldown":
			l.cooldown, err = time.ParseDuration(v)
			if err != nil || l.cooldown < 100*time.Millisecond || l.cooldown > time.Hour {
				err = fmt.Errorf("option breaker_cooldown must be a duration from 100ms to 1h, such as 30s")
			}
		default:
			rest[k] = v
		}
		if err != nil {
			return limits{}, nil, err
		}
	}
	if l.rate > 0 && l.burst == 0 {
		l.burst = max(1, int(l.rate))
	}
	return l, rest, nil
}

func positive(name, v string, most int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("option %s must be a whole number from 1 to %d", name, most)
	}
	return n, nil
}

// guarded is a connector behind its account's limits and breaker.
type guarded struct {
	p        processor.Processor
	account  processor.Account
	slots    chan struct{}
	limiter  *rate.Limiter // nil: unlimited
	breaker  *gobreaker.CircuitBreaker[processor.Result]
	observe  Observer
	cooldown time.Duration
	distrust bool
	secrets  redactor
	now      func() time.Time
	// opened is when the circuit last opened, so that a call it refuses
	// says what is left of the cool-down, not all of it.
	opened atomic.Pointer[time.Time]
}

func (r *Registry) guard(a processor.Account, p processor.Processor, l limits) *guarded {
	g := &guarded{p: p, account: a, slots: make(chan struct{}, l.inFlight), observe: r.Observe, cooldown: l.cooldown, distrust: l.distrust,
		secrets: redactorOf(a.Credential), now: r.now}
	if g.now == nil {
		g.now = time.Now
	}
	if l.rate > 0 {
		g.limiter = rate.NewLimiter(rate.Limit(l.rate), l.burst)
	}
	st := gobreaker.Settings{
		Name:    a.ID,
		Timeout: l.cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= l.failures
		},
		// Only a failure to reach the processor counts: a decline or a
		// "not found" is the processor working.
		IsSuccessful: func(err error) bool { return err == nil || !transportFailure(err) },
		// Called under the breaker's lock as it opens, before any call
		// can be refused for it.
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				at := g.now()
				g.opened.Store(&at)
			}
		},
	}
	g.breaker = gobreaker.NewCircuitBreaker[processor.Result](st)
	return g
}

// transportFailure: the processor could not be reached or answered 5xx.
func transportFailure(err error) bool {
	var te *processor.TransientError
	if errors.As(err, &te) {
		// A reference conflict is the processor answering (a 409).
		return te.Code != "rate_limited" && te.Code != "busy" && te.Code != "reference_conflict"
	}
	return !errors.Is(err, processor.ErrNotFound) && !errors.Is(err, processor.ErrNoStatus)
}

// Capabilities passes the connector's through, less what the account's
// options say not to trust.
func (g *guarded) Capabilities() processor.Capabilities {
	c := processor.CapabilitiesOf(g.p)
	if g.distrust {
		c.IdempotentSubmit = false
	}
	return c
}

// Refund submits through the guard.
func (g *guarded) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	return g.call(ctx, "refund", func(ctx context.Context) (processor.Result, error) { return g.p.Refund(ctx, req) })
}

// Status asks through the guard.
func (g *guarded) Status(ctx context.Context, key string) (processor.Result, error) {
	return g.call(ctx, "status", func(ctx context.Context) (processor.Result, error) { return g.p.Status(ctx, key) })
}

// StatusOf asks by the request when the connector needs it.
func (g *guarded) StatusOf(ctx context.Context, req processor.Request) (processor.Result, error) {
	return g.call(ctx, "status", func(ctx context.Context) (processor.Result, error) {
		if rs, ok := g.p.(processor.RequestStatuser); ok {
			return rs.StatusOf(ctx, req)
		}
		return g.p.Status(ctx, req.IdempotencyKey)
	})
}

// guardedVoider is the guard of a connector that can void a key.
type guardedVoider struct {
	*guarded
	v processor.Voider
}

// Void voids through the guard.
func (g *guardedVoider) Void(ctx context.Context, key string) (processor.Result, error) {
	return g.call(ctx, "void", func(ctx context.Context) (processor.Result, error) { return g.v.Void(ctx, key) })
}

func (g *guarded) call(ctx context.Context, op string, fn func(context.Context) (processor.Result, error)) (processor.Result, error) {
	start := time.Now()
	res, err := g.admit(ctx, op, fn)
	res, err = g.secrets.result(res), g.secrets.err(err)
	if g.observe != nil {
		g.observe(g.account.Name, g.account.Kind, op, Outcome(res, err), time.Since(start))
	}
	return res, err
}

func (g *guarded) admit(ctx context.Context, op string, fn func(context.Context) (processor.Result, error)) (processor.Result, error) {
	select {
	case g.slots <- struct{}{}:
		defer func() { <-g.slots }()
	case <-ctx.Done():
		return processor.Result{}, &processor.TransientError{Code: "busy", NotExecuted: true,
			Message: "the account's calls in flight are at its limit"}
	}
	if g.limiter != nil {
		rv := g.limiter.Reserve()
		if d := rv.Delay(); d > 0 {
			deadline, ok := ctx.Deadline()
			if ok && time.Until(deadline) < d {
				rv.Cancel()
				return processor.Result{}, &processor.TransientError{Code: "rate_limited", NotExecuted: true, RetryAfter: d,
					Message: "over the account's rate limit"}
			}
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				rv.Cancel()
				return processor.Result{}, &processor.TransientError{Code: "rate_limited", NotExecuted: true, RetryAfter: d,
					Message: "over the account's rate limit"}
			}
		}
	}
	res, err := g.breaker.Execute(func() (processor.Result, error) { return fn(ctx) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		// Open, what is left of the cool-down (at least a moment: at its
		// end one trial call goes through). Half-open, the trial call is
		// out: a moment, not a whole cool-down, or every call refused
		// while it runs (all those due at the cool-down's end) would wait
		// a cool-down past its success; if it fails, they find the
		// circuit open again and wait that.
		wait := min(trialWait, g.cooldown)
		if at := g.opened.Load(); at != nil && errors.Is(err, gobreaker.ErrOpenState) {
			wait = min(max(g.cooldown-g.now().Sub(*at), time.Millisecond), g.cooldown)
		}
		return processor.Result{}, &processor.TransientError{Code: "circuit_open", NotExecuted: true,
			RetryAfter: wait, Message: "the processor failed repeatedly; calls wait until it recovers"}
	}
	return res, err
}

// trialWait is what a call refused while the half-open circuit's trial
// call is out is told to wait.
var trialWait = time.Second

// Outcome is a small, fixed set of labels for a call's result.
func Outcome(res processor.Result, err error) string {
	var te *processor.TransientError
	switch {
	case err == nil:
		return string(res.Status)
	case errors.Is(err, processor.ErrNotFound):
		return "not_found"
	case errors.Is(err, processor.ErrNoStatus):
		return "no_status"
	case errors.As(err, &te) && te.NotExecuted:
		return "not_sent"
	case errors.As(err, &te):
		return "transient"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}
