package connector

import (
	"time"

	"github.com/sony/gobreaker/v2"
)

// guardOf is the guard p is, or nil.
func guardOf(p any) *guarded {
	switch g := p.(type) {
	case *guarded:
		return g
	case *guardedVoider:
		return g.guarded
	}
	return nil
}

// HalfOpen says whether p's circuit lets one trial call through now.
func HalfOpen(p any) bool {
	g := guardOf(p)
	return g != nil && g.breaker.State() == gobreaker.StateHalfOpen
}

// Requests is how many calls p's circuit let through in its present state.
func Requests(p any) uint32 {
	if g := guardOf(p); g != nil {
		return g.breaker.Counts().Requests
	}
	return 0
}

// SetTrialWait makes calls refused while a trial call is out wait d, for
// t: shorter than the shortest cool-down, a test tells the two apart.
func SetTrialWait(t interface{ Cleanup(func()) }, d time.Duration) {
	old := trialWait
	trialWait = d
	t.Cleanup(func() { trialWait = old })
}

// SetNow makes r's connectors read the time from now: what is left of an
// open circuit's cool-down, which gobreaker times on the real clock.
func (r *Registry) SetNow(now func() time.Time) { r.now = now }
