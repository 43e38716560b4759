// Package upstream is the HTTP client the connectors share: one place that
// decides what a transport failure or an HTTP status proves about whether
// a refund request was executed at the processor.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/refundd/refundd/processor"
)

// MaxBody bounds what is read of a processor's reply.
const MaxBody = 1 << 20

// Client calls one processor account's API.
type Client struct {
	BaseURL string // no trailing slash
	HTTP    *http.Client
	// Header adds authentication and the kind's fixed headers to a request.
	Header func(h http.Header)
}

// New returns a client for base with its own transport (no shared
// connection pool between accounts). It never follows a redirect: net/http
// would follow a 301, 302 or 303 to a POST with a GET, and that GET's
// answer (a 404, a page) would be read as the refund's, though a 303 is
// how an API says it did what was posted. A 3xx is returned as it is, for
// the connector to read as an unknown outcome.
func New(base string, header func(http.Header)) *Client {
	return &Client{BaseURL: strings.TrimRight(base, "/"), Header: header,
		HTTP: &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// NotTheAPIs is the unknown outcome of a 4xx whose body is not the API's
// own (a proxy's page during a deploy, a wrong route): it says nothing
// about a refund an earlier, unanswered attempt may have made, so it is
// never a decline nor a "not found".
func NotTheAPIs(api string, status int) *processor.TransientError {
	return &processor.TransientError{Code: fmt.Sprintf("unexpected_%d", status),
		Message: fmt.Sprintf("%s answered %d without its own error body", api, status)}
}

// Response is a processor's reply, read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode decodes the reply's JSON body into v.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("upstream: reply %d is not the expected JSON: %w", r.Status, err)
	}
	return nil
}

// Do sends one request. body, when not nil, is sent as JSON. idemKey, when
// not "", is sent as Idempotency-Key. A transport error is returned as a
// *processor.TransientError whose NotExecuted says whether the request can
// be proven not to have reached the processor (the connection was never
// made); an answer of any status is returned as a Response for the
// connector to read in its API's terms.
func (c *Client) Do(ctx context.Context, method, path string, body any, idemKey string) (*Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	// net/http replays a request whose connection broke before any reply
	// when it can rewind the body; for a refund that is a second
	// submission refundd did not decide on. Never let it.
	req.GetBody = nil
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if c.Header != nil {
		c.Header(req.Header)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, &processor.TransientError{Code: "unreachable", Message: redact(err),
			NotExecuted: NotSent(err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return nil, &processor.TransientError{Code: "no_reply", Message: "the reply broke off: " + redact(err)}
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// NotSent reports whether err proves the request never reached the
// processor: the connection was refused or the name did not resolve.
// A timeout or a reset after connecting proves nothing.
func NotSent(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// redact keeps the reason of a transport error without the URL, which may
// carry an account's path secrets.
func redact(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// Classify turns the HTTP statuses every API shares into the core's terms,
// for a connector to call when its own reading of the body found nothing
// more specific. It answers nil for a 2xx.
//   - 401, 403: the credentials are refused: a final decline with
//     processor.CodeAuthFailed, so the refund fails instead of retrying
//     for ever (the amount goes back to the order).
//   - 429: rate limited, not executed; Retry-After is honoured.
//   - 5xx: unknown outcome (the processor may have executed it).
//   - other 4xx: returned as nil with ok false: the connector decides
//     (usually a decline with the processor's own code).
func Classify(r *Response) (res *processor.Result, err error, ok bool) {
	switch {
	case r.Status >= 200 && r.Status < 300:
		return nil, nil, false
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return &processor.Result{Status: processor.Declined, ResponseCode: processor.CodeAuthFailed,
			Message: fmt.Sprintf("the processor refused the account's credentials (HTTP %d)", r.Status)}, nil, true
	case r.Status == http.StatusTooManyRequests:
		return nil, &processor.TransientError{Code: "rate_limited", Message: "the processor asked to slow down (HTTP 429)",
			NotExecuted: true, RetryAfter: RetryAfter(r.Header)}, true
	case r.Status >= 500:
		return nil, &processor.TransientError{Code: "upstream_" + strconv.Itoa(r.Status),
			Message: fmt.Sprintf("the processor answered HTTP %d", r.Status), RetryAfter: RetryAfter(r.Header)}, true
	}
	return nil, nil, false
}

// RetryAfter reads a Retry-After header in seconds or as an HTTP date,
// capped at an hour; 0 when absent or unreadable.
func RetryAfter(h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	if d < 0 {
		return 0
	}
	return min(d, time.Hour)
}
