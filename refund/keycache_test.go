package refund_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// countingStore counts read transactions.
type countingStore struct {
	refund.Store
	views atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(ctx, fn)
}

// Authentication reads a key once per KeyCacheTTL, not once per request;
// a key revoked on this node is refused at once.
func TestAuthenticate_KeyCache(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	cs := &countingStore{Store: h.st}
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.Store, c.KeyCacheTTL = cs, 5*time.Second })
	k, raw, err := svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	before := cs.views.Load()
	for range 100 {
		if _, err := svc.Authenticate(h.ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.views.Load() - before; n != 1 {
		t.Fatalf("100 authentications read the store %d times, want 1", n)
	}
	h.clk.Advance(5 * time.Second)
	if _, err := svc.Authenticate(h.ctx, raw); err != nil {
		t.Fatal(err)
	}
	if n := cs.views.Load() - before; n != 2 {
		t.Fatalf("after the TTL: %d reads, want 2", n)
	}
	if err := svc.RevokeKey(h.ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(h.ctx, raw); refund.ErrorCode(err) != refund.EUnauthorized {
		t.Fatalf("right after revocation: %v, want unauthorized", err)
	}
	// A wrong secret with a cached key's prefix is refused too.
	if _, err := svc.Authenticate(h.ctx, h.p.KeyPrefix+"_"+"00000000000000000000000000000000"); refund.ErrorCode(err) != refund.EUnauthorized {
		t.Fatalf("wrong secret: %v", err)
	}
}

// hookStore runs after, once armed, when a read transaction has ended:
// what happens on the node (or another) while a read is on its way back.
type hookStore struct {
	refund.Store
	after atomic.Pointer[func()]
}

func (h *hookStore) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	err := h.Store.View(ctx, fn)
	if f := h.after.Swap(nil); f != nil {
		(*f)()
	}
	return err
}

// watchingHookStore is a hookStore on a store that sends revocations.
type watchingHookStore struct{ *hookStore }

func (w watchingHookStore) WatchKeys(ctx context.Context, changed func(prefix string)) {
	w.Store.(refund.KeyWatcher).WatchKeys(ctx, changed)
}

// A key revoked while a request was reading it must not be cached as it
// was before: that request may pass, the next ones may not. Revoked on
// this node, or on another one whose notification arrives in that window
// (a store that sends them), the revocation takes effect at once, not
// after KeyCacheTTL.
func TestAuthenticate_RevokedDuringRead(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		for _, where := range []string{"ThisNode", "OtherNode"} {
			t.Run(where, func(t *testing.T) {
				h := newHarnessOn(t, open, newLateProcessor(), nil)
				if _, ok := h.st.(refund.KeyWatcher); where == "OtherNode" && !ok {
					t.Skip("this store sends no revocations: KeyCacheTTL alone bounds them on another node")
				}
				hs := &hookStore{Store: h.st}
				var st refund.Store = hs
				if _, ok := h.st.(refund.KeyWatcher); ok {
					st = watchingHookStore{hs}
				}
				heard := make(chan string, 16)
				svc := h.node(newLateProcessor(), func(c *refund.Config) {
					c.Store, c.KeyCacheTTL = st, time.Hour
					c.OnKeyRevoked = func(prefix string) { heard <- prefix }
				})
				ctx, stop := context.WithCancel(h.ctx)
				done := make(chan struct{})
				t.Cleanup(func() { stop(); <-done })
				listening := make(chan struct{})
				go func() { defer close(done); svc.WatchKeys(ctx, listening) }()
				<-listening
				for len(heard) > 0 {
					<-heard // the watch's start
				}
				k, raw, err := svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
				if err != nil {
					t.Fatal(err)
				}
				revoke := func() {
					if where == "ThisNode" {
						if err := svc.RevokeKey(h.ctx, k.ID); err != nil {
							t.Error(err)
						}
						return
					}
					if err := h.svc.RevokeKey(h.ctx, k.ID); err != nil {
						t.Error(err)
					}
					for p := range heard {
						if p == k.Prefix {
							return
						}
					}
				}
				hs.after.Store(&revoke)
				// The request racing the revocation: either answer is fine.
				_, _ = svc.Authenticate(h.ctx, raw)
				if _, err := svc.Authenticate(h.ctx, raw); refund.ErrorCode(err) != refund.EUnauthorized {
					t.Fatalf("after the revocation: %v, want unauthorized", err)
				}
			})
		}
	})
}

// A key-shaped credential with bytes no key has (not hex, not UTF-8, NUL)
// is an unknown key like any other, on every store: PostgreSQL refuses
// such text in a query, which must not become an internal error.
func TestAuthenticate_MalformedKeyIsUnauthorized(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, newLateProcessor(), nil)
		secret := "_00000000000000000000000000000000"
		for _, raw := range []string{
			"rk_\xff\xfe0000000000" + secret,
			"rk_\x0000000000000" + secret,
			"rk_ZZZZZZZZZZZZ" + secret,
			h.p.KeyPrefix + "_\xff0000000000000000000000000000000",
		} {
			if _, err := h.svc.Authenticate(h.ctx, raw); refund.ErrorCode(err) != refund.EUnauthorized {
				t.Errorf("Authenticate(%q) = %v, want unauthorized", raw, err)
			}
		}
	})
}
