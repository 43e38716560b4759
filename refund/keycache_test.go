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
