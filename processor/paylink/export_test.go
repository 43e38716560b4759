package paylink

import "time"

// SetClock makes c read the time from now, so a test can move the token's
// clock by hand.
func SetClock(c *Connector, now func() time.Time) {
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	c.tokens.now = now
}
