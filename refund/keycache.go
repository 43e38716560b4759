package refund

import (
	"context"
	"crypto/subtle"
	"hash/fnv"
	"sync"
	"time"
)

// KeyWatcher is implemented by stores that tell every node when an API key
// is created or revoked (PostgreSQL: LISTEN/NOTIFY in the creating or
// revoking transaction).
type KeyWatcher interface {
	// WatchKeys calls changed with the prefix of every key created or
	// revoked from now on, on any node, and with "" whenever changes may
	// have been missed (the watch (re)started), until ctx ends. It returns
	// when ctx ends.
	WatchKeys(ctx context.Context, changed func(prefix string))
}

// keyCache keeps API keys read by Authenticate for KeyCacheTTL, so that a
// request does not cost a query. A key revoked on this node is dropped at
// once, on another node when its store's notification arrives (KeyWatcher),
// and in any case after KeyCacheTTL: the bound on a revocation's delay if a
// notification is lost or the store cannot send one.
//
// It also keeps prefixes the store does not know (unknown), for as long,
// so that a client repeating a key that does not exist costs one read per
// KeyCacheTTL rather than one per request. A key created later is never
// refused for it: its prefix is 48 random bits nobody could have sent
// before, and its creation drops the prefix here like a revocation does,
// on every node the store can tell.
type keyCache struct {
	mu      sync.Mutex
	m       map[string]cachedKey
	unknown map[string]time.Time // prefix -> when the store said unknown
	// A key read before its drop may be the revoked key as it was, and
	// must not be cached after it (see put). dropsAll counts drops of
	// every key; drops[b] those of the prefixes in bucket b, so that the
	// drops of other keys (on a busy database, every node hears every
	// key created) seldom stop a read from being cached.
	dropsAll uint64
	drops    [dropBuckets]uint64
}

// dropBuckets is how many buckets of prefixes keyCache counts drops in.
const dropBuckets = 64

// dropBucket is the bucket of prefix.
func dropBucket(prefix string) int {
	h := fnv.New32a()
	h.Write([]byte(prefix))
	return int(h.Sum32() % dropBuckets)
}

// dropped is what get hands to put for prefix: it grows with every drop
// that concerns prefix (its bucket's or every key's). c.mu is held.
func (c *keyCache) dropped(prefix string) uint64 {
	return c.dropsAll + c.drops[dropBucket(prefix)]
}

type cachedKey struct {
	key *APIKey
	at  time.Time
}

// maxUnknownKeys bounds the unknown prefixes kept: a flood of random ones
// (which this cache cannot absorb: the per-source failure limit does)
// clears them, never the known keys.
const maxUnknownKeys = 10_000

// get answers the cached key (nil: the store does not know prefix), or
// false and the count so far of the drops that may concern prefix (its
// bucket's and every key's), which the caller hands to put with the key
// it reads instead.
func (c *keyCache) get(prefix string, now time.Time, ttl time.Duration) (*APIKey, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.unknown[prefix]; ok && now.Sub(at) < ttl && !now.Before(at) {
		return nil, true, c.dropped(prefix)
	}
	e, ok := c.m[prefix]
	if !ok || now.Sub(e.at) >= ttl || now.Before(e.at) {
		return nil, false, c.dropped(prefix)
	}
	return e.key, true, c.dropped(prefix)
}

// knownValid reports whether prefix's entry, however old, is a key that
// was valid when read and whose hash is hash: a client that sends it holds
// a real key, and reading it again cannot be a made-up key's read.
func (c *keyCache) knownValid(prefix string, hash []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[prefix]
	return ok && e.key.RevokedAt == nil && subtle.ConstantTimeCompare(e.key.Hash, hash) == 1
}

// put caches k (nil: unknown), read after get answered drops, unless
// prefix may have been dropped since: the read may have preceded that
// revocation (or creation), and caching it would undo the drop until the
// TTL.
func (c *keyCache) put(prefix string, k *APIKey, now time.Time, drops uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped(prefix) != drops {
		return
	}
	if k == nil {
		if c.unknown == nil || len(c.unknown) >= maxUnknownKeys {
			c.unknown = map[string]time.Time{}
		}
		c.unknown[prefix] = now
		return
	}
	if c.m == nil {
		c.m = map[string]cachedKey{}
	}
	if len(c.m) >= 100_000 {
		clear(c.m) // bounded: keys are few; a flood of them only costs queries
	}
	c.m[prefix] = cachedKey{key: k, at: now}
}

// drop forgets prefix, or every key for "".
func (c *keyCache) drop(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prefix == "" {
		c.dropsAll++
		clear(c.m)
		clear(c.unknown)
		return
	}
	c.drops[dropBucket(prefix)]++
	delete(c.m, prefix)
	delete(c.unknown, prefix)
}

// WatchKeys keeps this node's key cache in step with creations and
// revocations on other nodes until ctx ends, when the store can tell (KeyWatcher); otherwise it
// returns at once and KeyCacheTTL alone bounds a revocation's delay. It
// closes listening once the watch is in place (at once when there is no
// watch), so that a node can start serving only after it hears
// revocations: a key cached before that would be dropped by the watch's
// first "" anyway, but only after a request had used it.
func (s *Service) WatchKeys(ctx context.Context, listening chan<- struct{}) {
	var once sync.Once
	ready := func() { once.Do(func() { close(listening) }) }
	w, ok := s.cfg.Store.(KeyWatcher)
	if !ok || s.cfg.KeyCacheTTL <= 0 {
		ready()
		return
	}
	w.WatchKeys(ctx, func(prefix string) {
		s.keys.drop(prefix)
		if prefix == "" {
			ready()
		}
		if s.cfg.OnKeyRevoked != nil {
			s.cfg.OnKeyRevoked(prefix)
		}
	})
}
