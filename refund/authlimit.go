package refund

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sourceLimits is a token bucket of failed authentications per source
// address. Every failure spends a token; a source with none left is
// answered ERateLimited before anything is read from the store, so that
// made-up credentials cost the database a bounded number of reads per
// source, however many a client sends. A client whose key is cached as
// valid is served from memory and never asks. Per node, like keyLimits.
type sourceLimits struct {
	every rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// maxSources bounds the sources tracked; past it, those whose bucket is
// full again (no recent failure) are forgotten, which loses nothing.
const maxSources = 100_000

func newSourceLimits(perSecond float64, burst int) *sourceLimits {
	if perSecond < 0 {
		return nil // off
	}
	if perSecond == 0 {
		perSecond = 1
	}
	if burst <= 0 {
		burst = 30
	}
	return &sourceLimits{every: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}}
}

// sourceOf is the bucket a client address falls in: the address itself,
// or for IPv6 its /64, which a single client is usually given whole (one
// bucket per address would give it 2^64 of them). "" for no address (a
// call from the CLI or a test, not from a listener).
func sourceOf(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// allow reports, without spending, whether source may try once more, or
// ERateLimited with how long until it may.
func (l *sourceLimits) allow(source string, now time.Time) error {
	if l == nil || source == "" {
		return nil
	}
	l.mu.Lock()
	lim, ok := l.m[source]
	l.mu.Unlock()
	if !ok {
		return nil
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return nil
	}
	d := time.Duration((1 - tokens) / float64(l.every) * float64(time.Second))
	e := Errorf(ERateLimited, "", "too many failed authentications from this address; retry after %s", roundUpMS(d))
	e.RetryAfter = d
	return e
}

// fail spends one token of source's bucket.
func (l *sourceLimits) fail(source string, now time.Time) {
	if l == nil || source == "" {
		return
	}
	l.mu.Lock()
	lim, ok := l.m[source]
	if !ok {
		if len(l.m) >= maxSources {
			for s, old := range l.m {
				if old.TokensAt(now) >= float64(l.burst) {
					delete(l.m, s)
				}
			}
			if len(l.m) >= maxSources {
				clear(l.m) // a flood from that many sources: start over rather than grow
			}
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.m[source] = lim
	}
	l.mu.Unlock()
	lim.ReserveN(now, 1) // may go below zero: a source that keeps failing waits longer
}
