package connector

import "time"

// SetNow makes r's connectors read the time from now: what is left of an
// open circuit's cool-down, which gobreaker times on the real clock.
func (r *Registry) SetNow(now func() time.Time) { r.now = now }
