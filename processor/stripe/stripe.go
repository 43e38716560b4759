// Package stripe is refundd's connector to Stripe's refund API, on the
// official client library (stripe-go v82).
//
// What it sends: POST /v1/refunds with payment_intent (or charge) =
// Request.ProcessorOrderID, amount = Request.Amount, Stripe's reason when
// the refund's reason is one of Stripe's, and metadata refundd_refund_id =
// the refund's id; the Idempotency-Key header is the refund's id too.
//
// What it declares, and why:
//
//	idempotent submit  yes  Stripe replays a request with the same Idempotency-Key (for 24 hours)
//	status by key      yes  the payment's refunds are listed (every page) and ours found by metadata;
//	                        only Stripe's list, read to its end, proves it is not there
//	status by reference yes the refund retrieved by its re_ id once an answer gave it
//	partial            yes
//	vendors, lines     no
//
// The library's own retries are off (MaxNetworkRetries 0): the core owns
// retries, and asks for the status before it submits again, so every
// submission is one attempt it counted.
//
// Account: URL is the API base (https://api.stripe.com when empty; a
// stripe-mock in tests), Credential the secret key (sk_... or rk_...), no
// options. Request.ProcessorOrderID is the payment intent (pi_...) or the
// charge (ch_..., py_...).
//
// Amounts are refundd's ISO 4217 minor units written in Stripe's unit for
// the currency, which is not always ISO's: Stripe counts ISK in hundredths
// (ISO: whole krónur; 500 ISK is 50000) and MGA in whole ariary (ISO: two
// decimals; 10.00 MGA is 10). For the three-decimal currencies (BHD, JOD,
// KWD, OMR, TND) Stripe takes three-decimal minor units whose last digit
// is 0. An amount it cannot take exactly (1.235 KWD, 10.50 MGA) is
// declined (amount_not_representable) before anything is sent, never
// rounded; an answer's amount is compared in Stripe's unit.
//
// Answers: a refund in another currency than the request's is an
// unknown outcome (currency_mismatch: the payment is not in the order's
// currency); a refund succeeded is approved (Reference = its re_ id);
// pending or requires_action is pending; failed or canceled is declined
// with Stripe's failure_reason, except a failure that reversed a balance
// transaction (failure_balance_transaction): the refund had gone out and
// came back, which is a reversal, also of a refund answered succeeded. Errors: 401/403 decline auth_failed; 429
// is not executed (Retry-After kept); card errors and invalid requests are
// declines with Stripe's code (decline_code first); an idempotency_error,
// a 409, 5xx, api_error, a redirect (never followed), a reply longer than
// upstream.MaxBody (unreadable) and transport failures leave the outcome
// unknown.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	stripeapi "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/form"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// Kind is the name of this connector's kind of account.
const Kind = "stripe"

// MetadataKey holds refundd's refund id on the Stripe refund.
const MetadataKey = "refundd_refund_id"

// Connector calls one Stripe account.
type Connector struct {
	client *stripeapi.Client
	api    stripeapi.Backend // for the refund list, paged by StatusOf
	key    string
	rt     *recorder
}

var (
	_ processor.Processor       = (*Connector)(nil)
	_ processor.Capable         = (*Connector)(nil)
	_ processor.RequestStatuser = (*Connector)(nil)
)

// New returns a connector for acct.
func New(acct processor.Account) (*Connector, error) {
	base := acct.URL
	if base == "" {
		base = stripeapi.APIURL
	}
	u, err := url.Parse(base)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, errors.New("stripe: url must be an http or https URL")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("stripe: url must not carry credentials, a query or a fragment")
	case strings.TrimSpace(acct.Credential) == "":
		return nil, errors.New("stripe: the credential is the account's secret key")
	case len(acct.Options) > 0:
		return nil, errors.New("stripe: takes no options")
	}
	rt := &recorder{next: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}}
	backends := stripeapi.NewBackendsWithConfig(&stripeapi.BackendConfig{
		URL:               stripeapi.String(strings.TrimRight(base, "/")),
		HTTPClient:        &http.Client{Transport: rt},
		MaxNetworkRetries: stripeapi.Int64(0),
		LeveledLogger:     &stripeapi.LeveledLogger{Level: stripeapi.LevelNull},
	})
	return &Connector{client: stripeapi.NewClient(acct.Credential, stripeapi.WithBackends(backends)),
		api: backends.API, key: acct.Credential, rt: rt}, nil
}

// Capabilities: see the package documentation.
func (c *Connector) Capabilities() processor.Capabilities {
	return processor.Capabilities{IdempotentSubmit: true, StatusByKey: true, StatusByReference: true, Partial: true}
}

// threeDecimals are the currencies Stripe takes in three-decimal minor
// units ending in 0.
var threeDecimals = map[string]bool{"BHD": true, "JOD": true, "KWD": true, "OMR": true, "TND": true}

// stripeDigits are the currencies whose unit in Stripe's API has other
// decimals than ISO 4217's minor unit (Stripe's "special cases" and
// zero-decimal list); every other currency is ISO's.
var stripeDigits = map[string]int{"ISK": 2, "MGA": 0}

// errNotRepresentable: Stripe cannot take the amount exactly (it would
// have to be rounded).
var errNotRepresentable = errors.New("stripe: the amount cannot be written exactly in Stripe's unit")

// stripeAmount writes minor units of currency in Stripe's unit for it:
// money.ErrUnknownCurrency for no ISO 4217 code, errNotRepresentable for
// an amount Stripe cannot take exactly.
func stripeAmount(minor int64, currency string) (int64, error) {
	code := strings.ToUpper(currency)
	cur, err := money.LookupCurrency(code)
	if err != nil {
		return 0, err
	}
	digits, ok := stripeDigits[code]
	if !ok {
		digits = cur.Digits
	}
	for ; digits > cur.Digits; digits-- {
		if minor > math.MaxInt64/10 {
			return 0, errNotRepresentable
		}
		minor *= 10
	}
	for ; digits < cur.Digits; digits++ {
		if minor%10 != 0 {
			return 0, errNotRepresentable
		}
		minor /= 10
	}
	if threeDecimals[code] && minor%10 != 0 {
		return 0, errNotRepresentable
	}
	return minor, nil
}

// stripeReasons are the reasons Stripe accepts.
var stripeReasons = map[string]bool{"duplicate": true, "fraudulent": true, "requested_by_customer": true}

// Refund creates the refund.
func (c *Connector) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	amount, err := stripeAmount(req.Amount, req.Currency)
	switch {
	case errors.Is(err, money.ErrUnknownCurrency):
		return decline("invalid_request", err.Error()), nil
	case req.Amount <= 0:
		return decline("invalid_amount", "the amount must be positive"), nil
	case err != nil || amount <= 0:
		return decline("amount_not_representable", fmt.Sprintf("Stripe cannot take %d minor units of %s exactly "+
			"(three-decimal currencies in steps of 0.010, MGA in whole ariary)", req.Amount, strings.ToUpper(req.Currency))), nil
	case len(req.Vendors) > 0:
		return decline("vendors_unsupported", "Stripe cannot refund vendor splits"), nil
	case len(req.Lines) > 0:
		return decline("lines_unsupported", "Stripe cannot refund order lines"), nil
	}
	params := &stripeapi.RefundCreateParams{Amount: stripeapi.Int64(amount)}
	switch {
	case strings.HasPrefix(req.ProcessorOrderID, "pi_"):
		params.PaymentIntent = stripeapi.String(req.ProcessorOrderID)
	case strings.HasPrefix(req.ProcessorOrderID, "ch_"), strings.HasPrefix(req.ProcessorOrderID, "py_"):
		params.Charge = stripeapi.String(req.ProcessorOrderID)
	default:
		return decline("invalid_processor_order", "the order's processor_order_id must be a Stripe payment intent (pi_...) or charge (ch_...)"), nil
	}
	if r := strings.ToLower(strings.TrimSpace(req.Reason)); stripeReasons[r] {
		params.Reason = stripeapi.String(r)
	}
	params.AddMetadata(MetadataKey, req.IdempotencyKey)
	params.SetIdempotencyKey(req.IdempotencyKey)
	params.Context = ctx
	re, err := c.client.V1Refunds.Create(ctx, params)
	if err != nil {
		return c.failed(err, req.IdempotencyKey, true)
	}
	return c.result(re, req)
}

// Status needs the payment to find a refund by key: see StatusOf.
func (c *Connector) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNoStatus
}

// StatusOf retrieves the refund by its Stripe id when an answer gave it,
// and otherwise finds it among the payment's refunds by its metadata. Not
// there, after every page was read: ErrNotFound.
func (c *Connector) StatusOf(ctx context.Context, req processor.Request) (processor.Result, error) {
	if strings.HasPrefix(req.Reference, "re_") || strings.HasPrefix(req.Reference, "pyr_") {
		p := &stripeapi.RefundRetrieveParams{}
		p.Context = ctx
		re, err := c.client.V1Refunds.Retrieve(ctx, req.Reference, p)
		if err != nil {
			return c.failed(err, "", false)
		}
		return c.result(re, req)
	}
	lp := &stripeapi.RefundListParams{}
	switch {
	case strings.HasPrefix(req.ProcessorOrderID, "pi_"):
		lp.PaymentIntent = stripeapi.String(req.ProcessorOrderID)
	case strings.HasPrefix(req.ProcessorOrderID, "ch_"), strings.HasPrefix(req.ProcessorOrderID, "py_"):
		lp.Charge = stripeapi.String(req.ProcessorOrderID)
	default:
		return processor.Result{}, processor.ErrNoStatus
	}
	lp.Limit = stripeapi.Int64(100)
	lp.Context = ctx
	// Paged here rather than by the library's iterator, which takes any
	// 200 body ({}, null, another object) for an empty last page: that
	// would prove "not found", and the core would submit the refund again,
	// which Stripe deduplicates only for 24 hours.
	for {
		var page refundPage
		q := &form.Values{}
		form.AppendTo(q, lp)
		if err := c.api.CallRaw(http.MethodGet, "/v1/refunds", c.key, []byte(q.Encode()), lp.GetParams(), &page); err != nil {
			return c.failed(err, "", false)
		}
		if page.Object != "list" || page.Data == nil || (page.HasMore && len(page.Data) == 0) {
			return processor.Result{}, &processor.TransientError{Code: "unreadable",
				Message: "Stripe answered the list of the payment's refunds with something else than a list"}
		}
		for _, re := range page.Data {
			if re != nil && re.Metadata[MetadataKey] == req.IdempotencyKey {
				return c.result(re, req)
			}
		}
		if !page.HasMore {
			return processor.Result{}, processor.ErrNotFound
		}
		last := page.Data[len(page.Data)-1]
		if last == nil || last.ID == "" {
			return processor.Result{}, &processor.TransientError{Code: "unreadable",
				Message: "Stripe's list of the payment's refunds has a refund without an id"}
		}
		lp.StartingAfter = stripeapi.String(last.ID)
	}
}

// refundPage is one page of Stripe's refund list.
type refundPage struct {
	stripeapi.APIResource
	Object  string              `json:"object"`
	HasMore bool                `json:"has_more"`
	Data    []*stripeapi.Refund `json:"data"`
}

// result reads a Stripe refund as the answer for req.
func (c *Connector) result(re *stripeapi.Refund, req processor.Request) (processor.Result, error) {
	if re == nil || re.ID == "" {
		return processor.Result{}, &processor.TransientError{Code: "unreadable", Message: "Stripe answered without a refund"}
	}
	if key := re.Metadata[MetadataKey]; key != "" && key != req.IdempotencyKey {
		return processor.Result{}, &processor.TransientError{Code: "not_ours", Message: "Stripe answered with another refund (" + re.ID + ")"}
	}
	if !strings.EqualFold(string(re.Currency), req.Currency) {
		// Stripe refunds in the payment's currency, which the request
		// cannot name: a payment in another currency than the order's
		// moved an amount that means something else.
		return processor.Result{}, &processor.TransientError{Code: "currency_mismatch",
			Message: fmt.Sprintf("Stripe's refund %s is in %q, the refund in %s", re.ID, re.Currency, req.Currency)}
	}
	res := processor.Result{Reference: re.ID, ARN: destinationReference(re)}
	switch re.Status {
	case stripeapi.RefundStatusSucceeded:
		if want, err := stripeAmount(req.Amount, req.Currency); err != nil || re.Amount != want {
			return processor.Result{}, &processor.TransientError{Code: "amount_mismatch",
				Message: fmt.Sprintf("Stripe's refund %s is of %d, not %d (Stripe's unit of %s)", re.ID, re.Amount, want, req.Currency)}
		}
		res.Status, res.ResponseCode, res.Message = processor.Approved, "succeeded", "Stripe refund succeeded"
	case stripeapi.RefundStatusPending, stripeapi.RefundStatusRequiresAction, "":
		res.Status, res.ResponseCode, res.Message = processor.Pending, string(re.Status), "Stripe refund "+string(re.Status)
	case stripeapi.RefundStatusFailed, stripeapi.RefundStatusCanceled:
		code := string(re.FailureReason)
		if code == "" {
			code = string(re.Status)
		}
		res.Status, res.ResponseCode, res.Message = processor.Declined, code, "Stripe refund "+string(re.Status)
		if re.Status == stripeapi.RefundStatusFailed && re.FailureBalanceTransaction != nil {
			// The refund had left the balance and came back (the card was
			// closed, say): a refund that may have been answered succeeded
			// turns failed. A decline would be ignored for a succeeded
			// refund, which would go on counting money the customer never
			// got; a reversal returns it to the order either way.
			res.Status, res.Message = processor.Reversed, "Stripe refund failed after leaving the balance ("+code+")"
		}
	default:
		return processor.Result{}, &processor.TransientError{Code: "unknown_status", Message: "Stripe refund status " + string(re.Status)}
	}
	return res, nil
}

// destinationReference is the ARN when Stripe states one.
func destinationReference(re *stripeapi.Refund) string {
	if re.DestinationDetails != nil && re.DestinationDetails.Card != nil {
		return re.DestinationDetails.Card.Reference
	}
	return ""
}

// failed maps a library error. submit says whether it answered a
// submission: only there does a refusal decline the refund.
func (c *Connector) failed(err error, key string, submit bool) (processor.Result, error) {
	var se *stripeapi.Error
	var rd *redirected
	if errors.As(err, &rd) {
		return processor.Result{}, &processor.TransientError{Code: fmt.Sprintf("unexpected_%d", rd.status), Message: rd.Error()}
	}
	if errors.Is(err, errTooLarge) {
		return processor.Result{}, &processor.TransientError{Code: "unreadable", Message: err.Error()}
	}
	if !errors.As(err, &se) {
		// Transport failure, timeout: the request may have arrived.
		return processor.Result{}, &processor.TransientError{Code: "unreachable", Message: err.Error(),
			NotExecuted: upstream.NotSent(err)}
	}
	code := string(se.DeclineCode)
	if code == "" {
		code = string(se.Code)
	}
	msg := "stripe: " + se.Msg
	switch {
	case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
		if !submit {
			return processor.Result{}, &processor.TransientError{Code: processor.CodeAuthFailed, Message: msg}
		}
		return processor.Result{Status: processor.Declined, ResponseCode: processor.CodeAuthFailed, Message: msg}, nil
	case se.HTTPStatusCode == http.StatusTooManyRequests:
		return processor.Result{}, &processor.TransientError{Code: "rate_limited", Message: msg, NotExecuted: true,
			RetryAfter: c.rt.retryAfter(key)}
	case se.Type == stripeapi.ErrorTypeIdempotency || se.HTTPStatusCode == http.StatusConflict:
		// The key is another request's, or in use: what became of this
		// refund is not known.
		return processor.Result{}, &processor.TransientError{Code: "idempotency", Message: msg}
	case se.HTTPStatusCode >= 500 || se.Type == stripeapi.ErrorTypeAPI || se.HTTPStatusCode == 0:
		return processor.Result{}, &processor.TransientError{Code: fmt.Sprintf("upstream_%d", se.HTTPStatusCode), Message: msg}
	case !submit:
		// A lookup refused (404: no such refund id) is no decline of it.
		return processor.Result{}, &processor.TransientError{Code: "lookup_" + code, Message: msg}
	case se.Type == stripeapi.ErrorTypeCard || se.Type == stripeapi.ErrorTypeInvalidRequest || se.HTTPStatusCode >= 400:
		switch code {
		case "":
			code = "invalid_request"
		case "charge_already_refunded", "amount_too_large":
			// Nothing (or not this much) left on the charge. Said to a
			// resubmission whose key Stripe has forgotten (keys last 24 h),
			// the lost first submission may be what took it: under the
			// common code the core keeps that refund open, not failed.
			code = processor.CodeNothingLeft
		}
		return processor.Result{Status: processor.Declined, ResponseCode: code, Message: msg}, nil
	}
	return processor.Result{}, &processor.TransientError{Code: "unexpected", Message: msg}
}

func decline(code, msg string) processor.Result {
	return processor.Result{Status: processor.Declined, ResponseCode: code, Message: "stripe: " + msg}
}

// recorder keeps the Retry-After of the last 429 per idempotency key: the
// library's error does not carry headers.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	wait map[string]time.Duration
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// A redirect is no answer of Stripe's to the refund, and net/http
		// would follow it: a 301, 302 or 303 as a GET, whose answer (a 404)
		// would read as a decline though the POST may have executed; a 307
		// or 308 by posting the refund again. Neither is followed: the
		// outcome is unknown.
		resp.Body.Close()
		return nil, &redirected{status: resp.StatusCode}
	}
	if err == nil {
		// stripe-go reads a reply whole: bounded here as every other
		// connector's is (upstream.MaxBody), a longer one an error, so an
		// unknown outcome, never a truncated answer.
		resp.Body = &bounded{ReadCloser: resp.Body, left: upstream.MaxBody}
	}
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		if key := req.Header.Get("Idempotency-Key"); key != "" {
			r.mu.Lock()
			if r.wait == nil {
				r.wait = map[string]time.Duration{}
			}
			r.wait[key] = upstream.RetryAfter(resp.Header)
			r.mu.Unlock()
		}
	}
	return resp, err
}

// bounded is a reply's body that fails once more than left bytes come.
type bounded struct {
	io.ReadCloser
	left int64
}

// errTooLarge: the reply is longer than a connector reads.
var errTooLarge = fmt.Errorf("stripe: the reply is longer than %d bytes", upstream.MaxBody)

func (b *bounded) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return 0, errTooLarge
	}
	return n, err
}

// redirected is a 3xx answer, which the connector never follows.
type redirected struct{ status int }

func (e *redirected) Error() string {
	return fmt.Sprintf("stripe: answered HTTP %d (a redirect, not followed)", e.status)
}

func (r *recorder) retryAfter(key string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.wait[key]
	delete(r.wait, key)
	return d
}
