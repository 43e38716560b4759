package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

type refundRequest struct {
	OrderID           string                   `json:"order_id"`
	Amount            *int64                   `json:"amount"`
	Reason            string                   `json:"reason"`
	MerchantReference string                   `json:"merchant_reference"`
	TransactionID     string                   `json:"transaction_id"`
	Items             []refund.RefundItemInput `json:"items"`
	Vendors           []refund.RefundVendor    `json:"vendors"`
	NotifyURL         string                   `json:"notify_url"`
	Queue             bool                     `json:"queue"`
}

// nonNull: the document declares no member nullable, and each one left
// out means the widest refund (amount: all that is left; items, vendors:
// the whole order), so a null, which a client may send for "unset", is
// refused rather than read as left out.
func (refundRequest) nonNull() []string {
	return []string{"order_id", "amount", "reason", "merchant_reference", "transaction_id", "items", "vendors", "notify_url", "queue"}
}

type refundJSON struct {
	ID                string                `json:"id"`
	Object            string                `json:"object"`
	OrderID           string                `json:"order_id"`
	Sequence          int                   `json:"sequence"`
	Amount            int64                 `json:"amount"`
	Currency          string                `json:"currency"`
	Status            refund.Status         `json:"status"`
	Reason            string                `json:"reason"`
	MerchantReference *string               `json:"merchant_reference"`
	TransactionID     string                `json:"transaction_id"`
	Items             []refund.RefundItem   `json:"items"`
	Vendors           []refund.RefundVendor `json:"vendors"`
	NotifyURL         *string               `json:"notify_url"`
	FailureCode       *string               `json:"failure_code"`
	FailureMessage    *string               `json:"failure_message"`
	ResponseCode      *string               `json:"response_code"`
	RRN               *string               `json:"rrn"`
	STAN              *string               `json:"stan"`
	AuthCode          *string               `json:"auth_code"`
	ARN               *string               `json:"arn"`
	Attempts          int                   `json:"attempts"`
	Surface           string                `json:"surface"`
	ApprovalExpiresAt *time.Time            `json:"approval_expires_at"`
	CreatedAt         time.Time             `json:"created_at"`
	UpdatedAt         time.Time             `json:"updated_at"`
}

func refundOut(r *refund.Refund) refundJSON {
	j := refundJSON{ID: r.ID, Object: "refund", OrderID: r.OrderID, Sequence: r.Seq, Amount: r.Amount, Currency: r.Currency,
		Status: r.Status, Reason: r.Reason, MerchantReference: nullable(r.MerchantReference), TransactionID: r.CaptureID,
		Items: r.Items, Vendors: r.Vendors, NotifyURL: nullable(r.NotifyURL),
		ResponseCode: nullable(r.ResponseCode), RRN: nullable(r.RRN), STAN: nullable(r.STAN), AuthCode: nullable(r.AuthCode),
		ARN: nullable(r.ARN), Attempts: r.Attempts, Surface: r.Surface, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	code, msg := r.Failure()
	j.FailureCode, j.FailureMessage = nullable(code), nullable(msg)
	if at := r.ApprovalDeadline(); !at.IsZero() {
		// Approving or rejecting it after this is refused, and the
		// worker cancels it.
		j.ApprovalExpiresAt = &at
	}
	if j.Items == nil {
		j.Items = []refund.RefundItem{}
	}
	if j.Vendors == nil {
		j.Vendors = []refund.RefundVendor{}
	}
	return j
}

func (a *API) createRefund(w http.ResponseWriter, r *http.Request) {
	var req refundRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	in := refund.RefundInput{OrderID: req.OrderID, Amount: req.Amount, Reason: req.Reason,
		MerchantReference: req.MerchantReference, CaptureID: req.TransactionID, Items: req.Items,
		Vendors: req.Vendors, NotifyURL: req.NotifyURL, Queue: req.Queue, Surface: "native"}
	// The answer is stored with the request's idempotency key in the
	// refund's last write, and it is exactly what writeJSON sends.
	ctx := refund.WithReply(r.Context(), func(ref *refund.Refund) refund.Reply {
		return refund.Reply{Status: http.StatusCreated, ContentType: "application/json", Body: jsonBody(refundOut(ref))}
	})
	ref, err := a.svc.CreateRefund(ctx, PrincipalFrom(r.Context()), in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, refundOut(ref))
}

type resolveRequest struct {
	Outcome refund.Status `json:"outcome"`
	Note    string        `json:"note"`
}

func (a *API) resolveRefund(w http.ResponseWriter, r *http.Request) {
	var req resolveRequest
	if err := decode(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	a.refundAction(w, r, func(ctx context.Context, p refund.Principal, id string) (*refund.Refund, error) {
		return a.svc.ResolveRefund(ctx, p, id, refund.ResolveInput{Outcome: req.Outcome, Note: req.Note})
	})
}

type discrepancyJSON struct {
	ID        string    `json:"id"`
	Object    string    `json:"object"`
	Kind      string    `json:"kind"`
	RefundID  *string   `json:"refund_id"`
	OrderID   *string   `json:"order_id"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	Detail    string    `json:"detail"`
	Reference *string   `json:"reference"`
	CreatedAt time.Time `json:"created_at"`
	// Status is open until a person resolves it; the resolution's fields
	// are null while open.
	Status     string     `json:"status"`
	ResolvedAt *time.Time `json:"resolved_at"`
	ResolvedBy *string    `json:"resolved_by"`
	Resolution *string    `json:"resolution"`
}

func (a *API) listDiscrepancies(w http.ResponseWriter, r *http.Request) {
	limit, cursor, err := queryPage(r, "dsc")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	page, err := a.svc.ListDiscrepancies(r.Context(), PrincipalFrom(r.Context()),
		refund.DiscrepancyFilter{Kind: q.Get("kind"), Status: q.Get("status"), Cursor: cursor, Limit: limit})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOut(page, discrepancyOut))
}

type resolveDiscrepancyRequest struct {
	Note string `json:"note"`
}

func (a *API) resolveDiscrepancy(w http.ResponseWriter, r *http.Request) {
	var req resolveDiscrepancyRequest
	id, err := pathID(r)
	if err == nil {
		err = decode(r, &req)
	}
	if err == nil {
		var d *refund.Discrepancy
		if d, err = a.svc.ResolveDiscrepancy(r.Context(), PrincipalFrom(r.Context()), id, req.Note); err == nil {
			writeJSON(w, http.StatusOK, discrepancyOut(d))
			return
		}
	}
	a.fail(w, r, err)
}

func discrepancyOut(d *refund.Discrepancy) discrepancyJSON {
	j := discrepancyJSON{ID: d.ID, Object: "discrepancy", Kind: d.Kind, RefundID: nullable(d.RefundID),
		OrderID: nullable(d.OrderID), Amount: d.Amount, Currency: d.Currency, Detail: d.Detail, Reference: nullable(d.Reference),
		CreatedAt: d.CreatedAt, Status: d.Status(), ResolvedAt: d.ResolvedAt}
	if d.ResolvedAt != nil {
		j.ResolvedBy, j.Resolution = &d.ResolvedBy, &d.Resolution
	}
	return j
}

func (a *API) getRefund(w http.ResponseWriter, r *http.Request) {
	a.refundAction(w, r, a.svc.GetRefund)
}

func (a *API) cancelRefund(w http.ResponseWriter, r *http.Request) {
	a.refundAction(w, r, a.svc.CancelRefund)
}

func (a *API) syncRefund(w http.ResponseWriter, r *http.Request) {
	a.refundAction(w, r, a.svc.SyncRefund)
}

// refundAction serves the routes that take a refund id and answer it.
func (a *API) refundAction(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, p refund.Principal, id string) (*refund.Refund, error)) {
	id, err := pathID(r)
	if err == nil {
		var ref *refund.Refund
		if ref, err = do(r.Context(), PrincipalFrom(r.Context()), id); err == nil {
			writeJSON(w, http.StatusOK, refundOut(ref))
			return
		}
	}
	a.fail(w, r, err)
}

func (a *API) listRefunds(w http.ResponseWriter, r *http.Request) {
	f, err := refundFilter(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.svc.ListRefunds(r.Context(), PrincipalFrom(r.Context()), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listOut(page, refundOut))
}

func refundFilter(r *http.Request) (refund.RefundFilter, error) {
	q := r.URL.Query()
	f := refund.RefundFilter{OrderID: q.Get("order_id"), Status: refund.Status(q.Get("status"))}
	var err error
	if f.Limit, f.Cursor, err = queryPage(r, "re"); err != nil {
		return f, err
	}
	switch q.Get("order") {
	case "", "newest":
	case "oldest":
		f.OldestFirst = true
	default:
		return f, refund.Errorf(refund.EInvalidRequest, "order", "order must be newest or oldest")
	}
	if f.CreatedAfter, err = queryTime(r, "created_gte"); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = queryTime(r, "created_lt"); err != nil {
		return f, err
	}
	if q.Get("created_lt") != "" && f.CreatedBefore.IsZero() {
		// created_lt=0001-01-01T00:00:00Z is a bound (nothing is that
		// old), but the filter's zero time means none: the instant
		// before it selects the same refunds. (created_gte at the zero
		// time selects every refund, as no bound does.)
		f.CreatedBefore = f.CreatedBefore.Add(-time.Nanosecond)
	}
	return f, nil
}

type transitionJSON struct {
	From  *string   `json:"from"`
	To    string    `json:"to"`
	Cause string    `json:"cause"`
	At    time.Time `json:"at"`
}

func (a *API) listTransitions(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	limit, cursor, err := queryPage(r, transitionCursor)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// Transitions have no ids of their own, but a refund's are only ever
	// appended: a page's cursor is how many come before the next page.
	from := 0
	if cursor != "" {
		n, perr := strconv.ParseUint(strings.TrimPrefix(cursor, transitionCursor+"_"), 16, 31)
		if perr != nil {
			a.fail(w, r, refund.Errorf(refund.EInvalidRequest, "cursor", "cursor must be the next_cursor of a previous page"))
			return
		}
		from = int(n)
	}
	ts, err := a.svc.Transitions(r.Context(), PrincipalFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if limit <= 0 {
		limit = refund.MaxPageSize
	}
	ts = ts[min(from, len(ts)):]
	var next any // null on the last page
	if len(ts) > limit {
		ts, next = ts[:limit], fmt.Sprintf("%s_%x", transitionCursor, from+limit)
	}
	out := make([]transitionJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, transitionJSON{From: nullable(string(t.From)), To: string(t.To), Cause: t.Cause, At: t.At})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out, "has_more": next != nil, "next_cursor": next})
}

// transitionCursor starts the cursors of a refund's transitions.
const transitionCursor = "trn"
