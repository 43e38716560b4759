package refund

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyLimits is a token bucket per API key. Limits are per node: behind a
// load balancer spreading over n nodes a key gets up to n times the rate,
// which bounds abuse without a shared counter on the hot path.
type keyLimits struct {
	every rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter // by key id; bounded by the number of keys
}

func newKeyLimits(perSecond float64, burst int) *keyLimits {
	if perSecond <= 0 {
		return nil // unlimited
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	return &keyLimits{every: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}}
}

// take spends one request of keyID at now, or answers ERateLimited with how
// long until one is available.
func (l *keyLimits) take(keyID string, now time.Time) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	lim, ok := l.m[keyID]
	if !ok {
		lim = rate.NewLimiter(l.every, l.burst)
		l.m[keyID] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request spends nothing
		e := Errorf(ERateLimited, "", "too many requests for this API key; retry after %s", roundUpMS(d))
		e.RetryAfter = d
		return e
	}
	return nil
}

// roundUpMS is a wait as a refusal's message names it: up to the next
// millisecond, so that waiting that long is enough (a wait under half a
// millisecond, rounded, read "retry after 0s").
func roundUpMS(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}
