// Package acquirer is refundd's HTTP connector to an acquirer's refund API,
// the API the sandbox acquirer service (`refundd sandbox serve`) speaks:
//
//	POST /v1/sandbox/refunds        submit a refund (RefundRequest)
//	                                200 Result, 503 Problem (transient: the
//	                                refund was not executed), 409 Problem
//	                                (idempotency key reused with other money)
//	GET  /v1/sandbox/refunds/{key}  what the acquirer knows of a key
//	                                200 Result, 404 Problem (never executed)
//
// A Result names the amount and currency the key was submitted with; an
// answer that names others is about another refund under the same key
// (a key mismatch), and the connector reads it as no answer.
//
// The connector keeps processor.Processor's contract: an answer it cannot
// read (timeout, dropped connection, 5xx without a problem body) is an
// error, which refundd treats as "outcome unknown" and settles later with
// Status, never by submitting a new key.
package acquirer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/refundd/refundd/processor"
)

// RefundRequest is the body of a submission.
type RefundRequest struct {
	IdempotencyKey string `json:"idempotency_key"`
	MerchantID     string `json:"merchant_id"`
	OrderID        string `json:"order_id"`
	Amount         int64  `json:"amount"` // minor units
	Currency       string `json:"currency"`
	PaymentMethod  string `json:"payment_method"`
	CardLast4      string `json:"card_last4,omitempty"`
	CaptureRef     string `json:"capture_ref,omitempty"`
}

// Result is the acquirer's answer for one idempotency key.
type Result struct {
	Status       string    `json:"status"` // approved, declined, pending, reversed
	ResponseCode string    `json:"response_code"`
	Message      string    `json:"message"`
	RRN          string    `json:"rrn,omitempty"`
	STAN         string    `json:"stan,omitempty"`
	AuthCode     string    `json:"auth_code,omitempty"`
	ARN          string    `json:"arn,omitempty"`
	ExecutedAt   time.Time `json:"executed_at"`
	// Amount (minor units) and Currency the key was submitted with;
	// absent from an acquirer that does not say.
	Amount   int64  `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
}

// Problem is the body of every non-200 answer.
type Problem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ToResult converts a processor result to its wire form.
func ToResult(r processor.Result) Result {
	return Result{Status: string(r.Status), ResponseCode: r.ResponseCode, Message: r.Message, RRN: r.RRN,
		STAN: r.STAN, AuthCode: r.AuthCode, ARN: r.ARN, ExecutedAt: r.ExecutedAt}
}

func (r Result) processor() (processor.Result, error) {
	switch s := processor.Status(r.Status); s {
	case processor.Approved, processor.Declined, processor.Pending, processor.Reversed, processor.Voided:
		return processor.Result{Status: s, ResponseCode: r.ResponseCode, Message: r.Message, RRN: r.RRN,
			STAN: r.STAN, AuthCode: r.AuthCode, ARN: r.ARN, ExecutedAt: r.ExecutedAt}, nil
	}
	return processor.Result{}, fmt.Errorf("acquirer: answer has unknown status %q", r.Status)
}

// notFoundCode is the acquirer's answer code for a key it never executed
// (ISO 8583 25, unable to locate record).
const notFoundCode = "25"

// maxAnswer bounds what the connector reads of an answer.
const maxAnswer = 1 << 20

// Client is a processor.Processor that calls the acquirer over HTTP.
type Client struct {
	base string
	hc   *http.Client
}

var (
	_ processor.Processor       = (*Client)(nil)
	_ processor.Voider          = (*Client)(nil)
	_ processor.RequestStatuser = (*Client)(nil)
)

// New returns a client for the acquirer at baseURL (http or https). hc nil
// uses a client without its own timeout: each call's ctx bounds it.
//
// Neither client follows a redirect (a copy of hc is made that does not):
// a 307 or 308 would replay the submission, its key, amount and card, to
// wherever the Location points, which may execute it, and a redirected
// status lookup would read another server's "never executed" as the
// acquirer's. A 3xx is read like any answer that is no Result: the
// outcome stays unknown.
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("acquirer: %q is not an http(s) URL", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	own := *hc
	own.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: &own}, nil
}

// Refund submits req. See the package documentation for the answers.
func (c *Client) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	body, err := json.Marshal(RefundRequest{IdempotencyKey: req.IdempotencyKey, MerchantID: req.MerchantID,
		OrderID: req.OrderID, Amount: req.Amount, Currency: req.Currency, PaymentMethod: req.PaymentMethod,
		CardLast4: req.CardLast4, CaptureRef: req.CaptureRef})
	if err != nil {
		return processor.Result{}, err
	}
	if req.RequestID != "" {
		ctx = context.WithValue(ctx, requestIDKey{}, req.RequestID)
	}
	return c.do(ctx, http.MethodPost, c.base+"/v1/sandbox/refunds", body, &req)
}

// requestIDKey carries the request id down to the outgoing call's header.
type requestIDKey struct{}

// Status asks what the acquirer knows of idempotencyKey.
func (c *Client) Status(ctx context.Context, idempotencyKey string) (processor.Result, error) {
	return c.do(ctx, http.MethodGet, c.base+"/v1/sandbox/refunds/"+url.PathEscape(idempotencyKey), nil, nil)
}

// StatusOf asks what the acquirer knows of req's key, and reads an answer
// about another amount or currency under it as no answer: refundd asks it
// instead of Status, so that another refund's approval is never taken for
// req's.
func (c *Client) StatusOf(ctx context.Context, req processor.Request) (processor.Result, error) {
	return c.do(ctx, http.MethodGet, c.base+"/v1/sandbox/refunds/"+url.PathEscape(req.IdempotencyKey), nil, &req)
}

// Void asks the acquirer to void idempotencyKey. An acquirer that cannot
// (501) or any other failure is an error: nothing is known, and refundd
// keeps the refund's money reserved.
func (c *Client) Void(ctx context.Context, idempotencyKey string) (processor.Result, error) {
	return c.do(ctx, http.MethodPost, c.base+"/v1/sandbox/refunds/"+url.PathEscape(idempotencyKey)+"/void", []byte{}, nil)
}

// do makes one call; want, when set, is the refund the answer must be
// about (read).
func (c *Client) do(ctx context.Context, method, u string, body []byte, want *processor.Request) (processor.Result, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return processor.Result{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if id, _ := ctx.Value(requestIDKey{}).(string); id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return processor.Result{}, fmt.Errorf("acquirer: %s %s: %w", method, req.URL.Path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return processor.Result{}, fmt.Errorf("acquirer: reading answer: %w", err)
	}
	return read(method, res.StatusCode, raw, want)
}

// read interprets the acquirer's answer to a call made with method: the
// one place the connector decides what an answer proves. With want, an
// answer naming another amount or currency is about another refund, and
// says nothing of want.
func read(method string, status int, raw []byte, want *processor.Request) (processor.Result, error) {
	if status == http.StatusOK {
		var r Result
		if err := json.Unmarshal(raw, &r); err != nil {
			return processor.Result{}, fmt.Errorf("acquirer: unreadable answer: %w", err)
		}
		if want != nil && ((r.Amount != 0 && r.Amount != want.Amount) || (r.Currency != "" && !strings.EqualFold(r.Currency, want.Currency))) {
			return processor.Result{}, fmt.Errorf("acquirer: the answer for %s is about %d %s, the refund is %d %s",
				want.IdempotencyKey, r.Amount, r.Currency, want.Amount, want.Currency)
		}
		return r.processor()
	}
	var p Problem
	_ = json.Unmarshal(raw, &p) // a body that is no Problem leaves p empty
	switch {
	case status == http.StatusNotFound && method == http.MethodGet && p.Code == notFoundCode:
		// Only the acquirer's own "no such key" means never executed (and
		// so safe to submit); any other 404, a proxy's say, is unknown.
		return processor.Result{}, processor.ErrNotFound
	case status == http.StatusServiceUnavailable && p.Code != "":
		return processor.Result{}, &processor.TransientError{Code: p.Code, Message: p.Message}
	}
	return processor.Result{}, &StatusError{StatusCode: status, Problem: p}
}

// StatusError is an answer the connector cannot act on (a 409 key
// mismatch, a gateway error, ...); the refund's outcome stays unknown.
type StatusError struct {
	StatusCode int
	Problem    Problem
}

func (e *StatusError) Error() string {
	if e.Problem.Message != "" {
		return fmt.Sprintf("acquirer: HTTP %d: %s: %s", e.StatusCode, e.Problem.Code, e.Problem.Message)
	}
	return fmt.Sprintf("acquirer: HTTP %d", e.StatusCode)
}

// IsKeyMismatch reports whether err is the acquirer refusing a reused key.
func IsKeyMismatch(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusConflict
}
