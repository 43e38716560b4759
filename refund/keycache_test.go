package refund_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
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
				if _, ok := h.st.(refund.KeyWatcher); ok {
					for p := range heard {
						if p == k.Prefix {
							break // the creation's notice, not the revocation's
						}
					}
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

// A client repeating a well-formed key that does not exist costs one store
// read per KeyCacheTTL, not one per request, like a known key.
func TestAuthenticate_UnknownKeyCached(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	cs := &countingStore{Store: h.st}
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.Store, c.KeyCacheTTL = cs, 5*time.Second })
	const unknown = "rk_0123456789ab_00000000000000000000000000000000"
	for range 100 {
		if _, err := svc.Authenticate(h.ctx, unknown); refund.ErrorCode(err) != refund.EUnauthorized {
			t.Fatalf("unknown key: %v, want unauthorized", err)
		}
	}
	if n := cs.views.Load(); n != 1 {
		t.Fatalf("100 authentications with one unknown key read the store %d times, want 1", n)
	}
	h.clk.Advance(5 * time.Second)
	_, _ = svc.Authenticate(h.ctx, unknown)
	if n := cs.views.Load(); n != 2 {
		t.Fatalf("after the TTL: %d reads, want 2", n)
	}
}

// A key created after its prefix was cached as unknown works at once, on
// the node that created it and on another one the store tells (here both
// nodes draw the same "random" key, which real keys never do).
func TestAuthenticate_CreatedAfterCachedUnknown(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		for _, where := range []string{"ThisNode", "OtherNode"} {
			t.Run(where, func(t *testing.T) {
				h := newHarnessOn(t, open, newLateProcessor(), nil)
				if _, ok := h.st.(refund.KeyWatcher); where == "OtherNode" && !ok {
					t.Skip("this store sends no creations: KeyCacheTTL alone bounds them on another node")
				}
				fixed := func(c *refund.Config) { c.Rand = bytes.NewReader(bytes.Repeat([]byte{0xab}, 22)) }
				heard := make(chan string, 16)
				svc := h.node(newLateProcessor(), func(c *refund.Config) {
					fixed(c)
					c.KeyCacheTTL = time.Hour
					c.OnKeyRevoked = func(prefix string) { heard <- prefix }
				})
				ctx, stop := context.WithCancel(h.ctx)
				done := make(chan struct{})
				t.Cleanup(func() { stop(); <-done })
				listening := make(chan struct{})
				go func() { defer close(done); svc.WatchKeys(ctx, listening) }()
				<-listening

				raw := "rk_" + strings.Repeat("ab", 6) + "_" + strings.Repeat("ab", 16)
				if _, err := svc.Authenticate(h.ctx, raw); refund.ErrorCode(err) != refund.EUnauthorized {
					t.Fatalf("before the key exists: %v, want unauthorized", err)
				}
				creator := svc
				if where == "OtherNode" {
					creator = h.node(newLateProcessor(), fixed)
				}
				k, got, err := creator.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
				if err != nil {
					t.Fatal(err)
				}
				if got != raw {
					t.Fatalf("key %q, want %q", got, raw)
				}
				for where == "OtherNode" {
					select {
					case p := <-heard:
						if p != k.Prefix {
							continue
						}
					case <-time.After(10 * time.Second): // the notice comes in milliseconds
						t.Fatal("no notice of the key's creation reached this node")
					}
					break
				}
				if _, err := svc.Authenticate(h.ctx, raw); err != nil {
					t.Fatalf("the new key: %v", err)
				}
			})
		}
	})
}

// Failed authentications are limited per client address: past the burst,
// a key the node has not cached as valid answers rate_limited without a
// store read; a cached valid key, another address and the same address a
// moment later are served. An IPv6 client is one /64.
// A client that keeps sending one revoked or unknown key (a deployment
// never updated) costs one read per KeyCacheTTL and spends no more of its
// address's budget: behind a proxy, other merchants' valid keys, read
// anew whenever their cache entry runs out, must not be refused for it.
func TestAuthenticate_RepeatedBadKeySpendsOnce(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.AuthFailureRate, c.AuthFailureBurst = 1, 3 })
	k, revoked, err := svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokeKey(h.ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	_, valid, err := svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	proxy := refund.WithRequest(h.ctx, refund.RequestInfo{IP: "198.51.100.4"})
	for i := range 100 {
		for _, bad := range []string{revoked, "rk_00000000beef_" + strings.Repeat("0", 32)} {
			if _, err := svc.Authenticate(proxy, bad); refund.ErrorCode(err) != refund.EUnauthorized {
				t.Fatalf("request %d with %.16s: %v, want unauthorized", i, bad, err)
			}
		}
	}
	if _, err := svc.Authenticate(proxy, valid); err != nil {
		t.Fatalf("a valid key, not cached yet, behind the same address: %v", err)
	}
}

func TestAuthenticate_FailuresLimitedPerSource(t *testing.T) {
	for _, tc := range []struct {
		name, ip, sibling, other string
	}{
		{"IPv4", "203.0.113.7", "", "203.0.113.8"},
		{"IPv6", "2001:db8:1:2::7", "2001:db8:1:2:ffff::1", "2001:db8:1:3::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newLateProcessor(), nil)
			cs := &countingStore{Store: h.st}
			svc := h.node(newLateProcessor(), func(c *refund.Config) {
				c.Store, c.AuthFailureRate, c.AuthFailureBurst = cs, 2, 3
			})
			_, valid, err := svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
			if err != nil {
				t.Fatal(err)
			}
			from := func(ip string) context.Context { return refund.WithRequest(h.ctx, refund.RequestInfo{IP: ip}) }
			if _, err := svc.Authenticate(from(tc.ip), valid); err != nil { // cached from now on
				t.Fatal(err)
			}
			garbage := func(i int) string { return fmt.Sprintf("rk_%012x_%032x", i, i) }
			for i := range 3 {
				if _, err := svc.Authenticate(from(tc.ip), garbage(i)); refund.ErrorCode(err) != refund.EUnauthorized {
					t.Fatalf("failure %d within the burst: %v", i, err)
				}
			}
			before := cs.views.Load()
			limited := tc.ip
			if tc.sibling != "" {
				limited = tc.sibling // the same /64
			}
			_, err = svc.Authenticate(from(limited), garbage(100))
			if refund.ErrorCode(err) != refund.ERateLimited || refund.RetryAfter(err) != 500*time.Millisecond {
				t.Fatalf("past the burst: %v (retry after %v), want rate_limited after 500ms", err, refund.RetryAfter(err))
			}
			if n := cs.views.Load() - before; n != 0 {
				t.Fatalf("a refused authentication read the store %d times", n)
			}
			if _, err := svc.Authenticate(from(tc.ip), valid); err != nil {
				t.Fatalf("cached valid key from the limited address: %v", err)
			}
			if _, err := svc.Authenticate(from(tc.other), garbage(101)); refund.ErrorCode(err) != refund.EUnauthorized {
				t.Fatalf("another address: %v, want unauthorized", err)
			}
			h.clk.Advance(500 * time.Millisecond)
			if _, err := svc.Authenticate(from(tc.ip), garbage(102)); refund.ErrorCode(err) != refund.EUnauthorized {
				t.Fatalf("half a second later: %v, want unauthorized", err)
			}
		})
	}
}

// A valid key keeps working from an address whose failed-authentication
// budget someone else behind it (a proxy, a NAT) spent with made-up keys,
// also once its cache entry ran out: its next read proves a key already
// known valid, which no made-up key can make the node do. Refused
// instead, every valid key behind that address answered 429 within one
// KeyCacheTTL of the flood, for as long as it lasted.
func TestAuthenticate_ValidKeyOutlivesItsCacheEntryUnderAFlood(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	const ttl = 5 * time.Second
	svc := h.node(newLateProcessor(), func(c *refund.Config) { c.AuthFailureRate, c.AuthFailureBurst, c.KeyCacheTTL = 1, 3, ttl })
	_, valid, err := svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	proxy := refund.WithRequest(h.ctx, refund.RequestInfo{IP: "198.51.100.4"})
	if _, err := svc.Authenticate(proxy, valid); err != nil {
		t.Fatal(err)
	}
	n := 0
	flood := func() {
		t.Helper()
		for {
			n++
			_, err := svc.Authenticate(proxy, fmt.Sprintf("rk_%012x_%032x", n, n))
			if refund.ErrorCode(err) == refund.ERateLimited {
				return
			}
			if refund.ErrorCode(err) != refund.EUnauthorized {
				t.Fatalf("made-up key: %v", err)
			}
		}
	}
	flood()
	h.clk.Advance(ttl) // the valid key's entry runs out; the flood goes on
	flood()
	if _, err := svc.Authenticate(proxy, valid); err != nil {
		t.Fatalf("the valid key after its cache entry ran out, during the flood: %v", err)
	}
	// A key revoked meanwhile is still refused.
	k, other, err := svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(3 * time.Second) // the flood pauses: the budget refills
	if _, err := svc.Authenticate(proxy, other); err != nil {
		t.Fatal(err)
	}
	if err := h.node(newLateProcessor(), nil).RevokeKey(h.ctx, k.ID); err != nil { // another node: no drop here
		t.Fatal(err)
	}
	h.clk.Advance(ttl)
	flood()
	if _, err := svc.Authenticate(proxy, other); refund.ErrorCode(err) != refund.EUnauthorized {
		t.Fatalf("a key revoked on another node, after its entry ran out: %v, want unauthorized", err)
	}
}
