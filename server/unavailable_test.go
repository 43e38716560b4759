package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// faultProxy passes requests to a processor, or, while set, answers them
// with a status and a Retry-After of its own, as a processor that is down
// does.
type faultProxy struct {
	mu         sync.Mutex
	status     int // 0: pass the request on
	retryAfter string
}

func (f *faultProxy) set(status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.retryAfter = status, retryAfter
}

// start serves f in front of the processor at target.
func (f *faultProxy) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	pass := httputil.NewSingleHostReverseProxy(u)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status, retryAfter := f.status, f.retryAfter
		f.mu.Unlock()
		if status == 0 {
			pass.ServeHTTP(w, r)
			return
		}
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, "upstream unavailable", status)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestSync_ProcessorUnavailableSaysWhen: a sync of a final refund whose
// processor cannot be asked is answered 503 processor_unavailable with a
// Retry-After: the processor's own (the connectors read it), up to five
// minutes (refund.MaxUnavailableRetryAfter); five seconds
// (refund.UnavailableRetryAfter) when it gave none; and, once the
// account's circuit is open, what is left of its cool-down. It was sent
// without one, though the core knew the processor's. The processor is a
// second node serving SGate's API behind a proxy that fails on demand.
func TestSync_ProcessorUnavailableSaysWhen(t *testing.T) {
	up := mustStart(t)
	var fault faultProxy
	via := fault.start(t, up.URL())
	s := mustStart(t, func(c *server.Config) { c.SecretKey = strings.Repeat("5f1d3c0a", 8) })

	// refunded makes an account named name with opts in front of up, and
	// a refund there that succeeded.
	refunded := func(t *testing.T, name string, opts map[string]string) string {
		t.Helper()
		if _, err := s.Service.AddProcessorAccount(context.Background(), s.mer.ID, refund.ProcessorAccountInput{
			Name: name, Kind: "sgate", URL: via, Credential: up.key, Options: opts}); err != nil {
			t.Fatal(err)
		}
		o := cardOrder("4444", 10_000)
		o["processor"], o["processor_order_id"] = name, up.mustOrder(cardOrder("4444", 10_000))
		r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": s.mustOrder(o), "amount": 4000})
		if r.status != http.StatusCreated || r.str("status") != "succeeded" {
			t.Fatalf("the refund through %s: %d %s", name, r.status, r.raw)
		}
		return r.str("id")
	}
	sync := func(t *testing.T, id string) (retryAfter int) {
		t.Helper()
		r := s.do("POST", "/v1/refunds/"+id+"/sync", s.key, nil)
		expectError(t, r, http.StatusServiceUnavailable, refund.EProcessorUnavailable)
		n, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil {
			t.Fatalf("Retry-After %q: not whole seconds (%s)", r.header.Get("Retry-After"), r.raw)
		}
		return n
	}

	tests := []struct {
		name       string
		status     int
		retryAfter string // the processor's
		want       int
	}{
		{"ProcessorsOwn", http.StatusServiceUnavailable, "30", 30},
		{"ProcessorsOwnTooLong", http.StatusServiceUnavailable, "86400", 300},
		{"ProcessorsOwnRateLimit", http.StatusTooManyRequests, "12", 12},
		{"NoneGiven", http.StatusBadGateway, "", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := refunded(t, "sg-"+tt.name, nil)
			fault.set(tt.status, tt.retryAfter)
			defer fault.set(0, "")
			if got := sync(t, id); got != tt.want {
				t.Errorf("Retry-After %d, want %d", got, tt.want)
			}
		})
	}

	t.Run("CircuitOpen", func(t *testing.T) {
		id := refunded(t, "sg-breaker", map[string]string{"breaker_failures": "1", "breaker_cooldown": "2m"})
		fault.set(http.StatusBadGateway, "")
		defer fault.set(0, "")
		if got := sync(t, id); got != 5 {
			t.Fatalf("the failure that opens the circuit: Retry-After %d, want 5", got)
		}
		// What is left of two minutes: the breaker times it on the real
		// clock, so a slow run may have used a few seconds of it.
		if got := sync(t, id); got < 100 || got > 120 {
			t.Errorf("with the circuit open: Retry-After %d, want what is left of its 120 s cool-down", got)
		}
	})
}
