package client

import (
	"context"
	"time"
)

// WithSleep replaces the wait between retries, so tests record the waits
// instead of spending them.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}

// WithNow replaces the clock that HTTP-date Retry-After values are read
// against.
func WithNow(now func() time.Time) Option { return func(c *Client) { c.now = now } }
