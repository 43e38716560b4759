// Package client is a Go client for refundd's native v1 API.
//
// Amounts are int64 minor units, exactly as on the wire (halalas for SAR,
// fils for KWD: 1.005 KWD is 1005); nothing here uses floating point.
//
// Every POST that creates something or decides a refund (cancel, approve,
// reject, resolve), and a reconciliation, carries an Idempotency-Key, generated unless the caller
// sets one, and the client's own retries reuse it, so a retried request
// never refunds twice, and a decision retried answers the decision. Transport errors, 5xx and 429 (and a
// 409 idempotency_key_in_use, which means an earlier attempt of the same
// request is still running, or a 409 conflict: a concurrent change won
// and the server asks for a retry) are retried with exponential backoff that
// honours Retry-After, a bounded number of times (idempotency_key_in_use
// for a bounded time instead, until the earlier attempt's answer is
// replayed), and never after the context ends. Any other error reply
// comes back at once as *Error.
//
// The package imports only the standard library: callers can use it
// without pulling in the server.
package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of a new Client.
const (
	DefaultMaxAttempts   = 4                      // one try and three retries
	DefaultBaseDelay     = 250 * time.Millisecond // first backoff, doubled each retry
	DefaultMaxDelay      = 10 * time.Second       // backoff ceiling
	DefaultMaxRetryAfter = time.Minute            // a longer Retry-After is returned, not waited for
	DefaultMaxInUseWait  = time.Minute            // waiting for an earlier attempt still running (idempotency_key_in_use)
	DefaultTimeout       = 60 * time.Second       // per attempt, when the caller's http.Client has none
)

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// Client talks to one refundd server with one API key. It is safe for
// concurrent use.
type Client struct {
	base          string // scheme://host[/prefix], no trailing slash
	key           string
	hc            *http.Client
	userAgent     string
	maxAttempts   int
	baseDelay     time.Duration
	maxDelay      time.Duration
	maxRetryAfter time.Duration
	maxInUseWait  time.Duration
	sleep         func(ctx context.Context, d time.Duration) error
	now           func() time.Time
	newKey        func() string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests through hc (for proxies, TLS settings or
// instrumentation).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithMaxAttempts bounds the attempts of one call, retries included; 1
// turns retries off.
func WithMaxAttempts(n int) Option { return func(c *Client) { c.maxAttempts = max(n, 1) } }

// WithBackoff sets the first retry delay and the ceiling it doubles up to.
// A Retry-After from the server takes precedence.
func WithBackoff(base, ceiling time.Duration) Option {
	return func(c *Client) { c.baseDelay, c.maxDelay = base, max(ceiling, base) }
}

// WithMaxRetryAfter sets the longest Retry-After the client waits for;
// a reply asking for longer is returned as *Error with RetryAfter set.
func WithMaxRetryAfter(d time.Duration) Option { return func(c *Client) { c.maxRetryAfter = d } }

// WithMaxInUseWait sets how long a call keeps asking while the server
// answers idempotency_key_in_use (an earlier attempt of it still running);
// such answers do not count against WithMaxAttempts.
func WithMaxInUseWait(d time.Duration) Option { return func(c *Client) { c.maxInUseWait = d } }

// WithUserAgent replaces the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the server at baseURL (e.g.
// "https://refunds.example.com") authenticating with apiKey.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: base URL %q must be http(s)://host[:port][/path]", baseURL)
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("client: an API key is required")
	}
	c := &Client{
		base: strings.TrimRight(u.String(), "/"), key: strings.TrimSpace(apiKey),
		hc: &http.Client{Timeout: DefaultTimeout}, userAgent: "refundd-go-client/1",
		maxAttempts: DefaultMaxAttempts, baseDelay: DefaultBaseDelay, maxDelay: DefaultMaxDelay,
		maxRetryAfter: DefaultMaxRetryAfter, maxInUseWait: DefaultMaxInUseWait, sleep: sleepCtx, now: time.Now, newKey: NewIdempotencyKey,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// NewIdempotencyKey returns a random key, as the client generates for
// every create call that has none.
func NewIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// Error is an error reply of the API: the HTTP status and the envelope
// {"error":{"code","message","param"}}.
type Error struct {
	StatusCode int
	Code       string // stable: invalid_amount, amount_exceeds_refundable, order_not_found, ...
	Message    string
	Param      string // the request field at fault, if any
	RequestID  string // X-Request-Id of the reply, for the server's logs
	// RetryAfter is what the server asked for on a 429 or 503, when the
	// client did not wait (attempts exhausted, or longer than allowed).
	RetryAfter time.Duration
	// IdempotencyKey is the key the call was sent with, the caller's or
	// the one the client generated ("" if none): a retry under it is
	// answered, never done twice (IdempotencyKeyOf).
	IdempotencyKey string
	// Replayed: the refusal is an earlier request's under the same
	// Idempotency-Key, replayed by the server (Idempotent-Replayed):
	// another call's, or this call's own earlier attempt whose answer was
	// lost. Sent again under that key, the request is refused the same,
	// whatever has changed since.
	Replayed bool
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refundd api: %d", e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Param != "" {
		b.WriteString(" (" + e.Param + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// ErrorCode returns the code of the *Error in err's chain, or "".
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}

// request is one API call before it is sent.
type request struct {
	method  string
	path    string // with ids already escaped
	query   url.Values
	body    any    // JSON-encoded; nil sends no body
	idemKey string // Idempotency-Key; "" sends none
	// raw is a body sent as it is, with Content-Type rawType (a CSV
	// report), instead of body.
	raw     []byte
	rawType string
	// goneIsDone is the code of a retry's refusal that means an earlier
	// attempt, whose reply was lost (no reply, or a 5xx), did what was
	// asked: a DELETE retried finds the object gone. It carries no
	// Idempotency-Key to replay.
	goneIsDone string
	// replayed, when set, is told whether the answer was the replay of an
	// earlier request's under the same key (Idempotent-Replayed).
	replayed *bool
}

// keyedError is the error of a call sent with an Idempotency-Key, which
// it carries (IdempotencyKeyOf).
type keyedError struct {
	key string
	err error
}

func (e *keyedError) Error() string { return e.err.Error() }
func (e *keyedError) Unwrap() error { return e.err }

// IdempotencyKeyOf returns the Idempotency-Key a failed call was sent with
// (the caller's, or the one the client generated), or "" if it carried
// none. A call that ended without an answer (transport errors, 5xx, the
// context ended) may have been executed: retried later under this key it
// is answered, never done twice; under a new key it could be.
func IdempotencyKeyOf(err error) string {
	if e, ok := errors.AsType[*keyedError](err); ok {
		return e.key
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.IdempotencyKey
	}
	return ""
}

// do sends req, retrying as the package doc says, and decodes a 2xx reply
// into out (when not nil).
func (c *Client) do(ctx context.Context, req request, out any) error {
	err := c.send(ctx, req, out)
	if err == nil || req.idemKey == "" {
		return err
	}
	if e, ok := err.(*Error); ok {
		e.IdempotencyKey = req.idemKey // still an *Error, as the package says
		return e
	}
	return &keyedError{key: req.idemKey, err: err}
}

// send is do without the key on its error.
func (c *Client) send(ctx context.Context, req request, out any) error {
	payload := req.raw
	if req.body != nil {
		var err error
		if payload, err = json.Marshal(req.body); err != nil {
			return fmt.Errorf("client: encoding %s %s: %w", req.method, req.path, err)
		}
	}
	target := c.base + req.path
	if len(req.query) > 0 {
		target += "?" + req.query.Encode()
	}
	mayHaveRun := false // an earlier attempt may have been executed, its reply lost
	start, tries := c.now(), 0
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, retry, err := c.attempt(ctx, req, target, payload, attempt, out)
		if mayHaveRun && req.goneIsDone != "" && ErrorCode(err) == req.goneIsDone {
			return nil
		}
		if !retry || c.maxAttempts == 1 {
			return err
		}
		if ErrorCode(err) == "idempotency_key_in_use" {
			// An earlier attempt is still running at the server, for up
			// to its processor deadline: wait for its answer (bounded by
			// time, not attempts). Giving up would answer an error for a
			// request that then goes through, under a key the caller may
			// never have seen.
			if c.now().Sub(start)+wait > c.maxInUseWait {
				return err
			}
		} else if tries++; tries >= c.maxAttempts {
			return err
		}
		// No reply, or a 5xx: the server may have acted. A 429 or an
		// idempotency_key_in_use refused before acting.
		if e, ok := errors.AsType[*Error](err); !ok || e.StatusCode >= 500 {
			mayHaveRun = true
		}
		// Waiting past the caller's deadline only to be canceled helps no
		// one: answer the last error now.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return serr
		}
	}
}

// attempt sends one try. It reports whether to retry and after how long.
func (c *Client) attempt(ctx context.Context, req request, target string, payload []byte, n int, out any) (time.Duration, bool, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, target, body)
	if err != nil {
		return 0, false, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	hr.Header.Set("Authorization", "Bearer "+c.key)
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", c.userAgent)
	switch {
	case req.raw != nil:
		hr.Header.Set("Content-Type", req.rawType)
	case payload != nil:
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.idemKey != "" {
		hr.Header.Set("Idempotency-Key", req.idemKey)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		return c.backoff(n), true, fmt.Errorf("client: %s %s: %w", req.method, req.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 {
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			// The reply was cut off; the idempotency key makes asking
			// again safe.
			if ctx.Err() != nil {
				return 0, false, ctx.Err()
			}
			return c.backoff(n), true, fmt.Errorf("client: %s %s: reading reply: %w", req.method, req.path, err)
		}
		if req.replayed != nil {
			*req.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
		}
		if out == nil {
			return 0, false, nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, false, fmt.Errorf("client: %s %s: decoding %d reply: %w", req.method, req.path, resp.StatusCode, err)
		}
		return 0, false, nil
	}
	apiErr := readError(resp)
	if !retryable(apiErr) {
		return 0, false, apiErr
	}
	wait := c.backoff(n)
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		apiErr.RetryAfter = d
		if d > c.maxRetryAfter {
			return 0, false, apiErr
		}
		wait = d
	}
	return wait, true, apiErr
}

// retryable reports whether asking again may get another answer.
func retryable(e *Error) bool {
	switch {
	case e.StatusCode >= 500, e.StatusCode == http.StatusTooManyRequests:
		return true
	case e.StatusCode == http.StatusConflict && e.Code == "idempotency_key_in_use":
		// An earlier attempt of this very request (same key) is still
		// running on the server; its answer will be replayed.
		return true
	case e.StatusCode == http.StatusConflict && e.Code == "conflict":
		// A concurrent change won; the server keeps no answer for the key
		// and says to retry, which runs the request again.
		return true
	}
	return false
}

// readError reads an error reply. A body that is not the envelope (a proxy's
// HTML page) still gives an *Error with the status and a bounded excerpt.
func readError(resp *http.Response) *Error {
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"),
		Replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var env struct {
		Error *struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		if env.Error.Param != nil {
			e.Param = *env.Error.Param
		}
		return e
	}
	e.Message = http.StatusText(resp.StatusCode)
	if text := strings.TrimSpace(string(raw)); text != "" {
		if len(text) > 200 {
			text = text[:200] + "..."
		}
		e.Message += ": " + text
	}
	return e
}

// backoff is the wait before retry n (n = 1 for the first retry): the
// base delay doubled per retry, capped, with jitter so that many clients
// failing together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	d := c.baseDelay
	for i := 1; i < n && d < c.maxDelay; i++ {
		d *= 2
	}
	d = min(d, c.maxDelay)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter parses a Retry-After value: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		const maxSeconds = 1 << 32 // beyond any sane wait, and no Duration overflow
		return time.Duration(min(n, maxSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// idempotencyKey returns the caller's key or a new one; the same key then
// goes with every attempt of the call.
func (c *Client) idempotencyKey(given string) string {
	if given != "" {
		return given
	}
	return c.newKey()
}

// Page is one page of a list.
type Page[T any] struct {
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor"`
}

// pathID escapes an id for a path segment and refuses an empty one, which
// would silently turn "get one" into "list".
func pathID(kind, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("client: %s id is empty", kind)
	}
	return url.PathEscape(id), nil
}

func setInt(q url.Values, name string, v int) {
	if v != 0 {
		q.Set(name, strconv.Itoa(v))
	}
}

func setString(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.UTC().Format(time.RFC3339Nano))
	}
}

// Int64 returns a pointer to v, for optional amounts.
func Int64(v int64) *int64 { return &v }

// String returns a pointer to v, for optional fields of an update.
func String(v string) *string { return &v }

// Bool returns a pointer to v, for optional fields of an update.
func Bool(v bool) *bool { return &v }
