package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

const refundColumns = `id, merchant_id, order_id, seq, amount, currency, status, reason, merchant_reference, capture_id,
	items, vendors, notify_url, surface, failure_code, failure_message, response_code, rrn, stan, auth_code, arn,
	attempts, next_attempt_at, request_hash, version, created_at, updated_at, created_by`

// refundSelect is what every refund query reads: the inserted columns,
// the number the insert assigned, and what only updates write.
const refundSelect = refundColumns + `, number, sweeps_left, processor_reference, succeeded_at, approval_expires_at`

func scanRefund(s scanner) (*refund.Refund, error) {
	var r refund.Refund
	var items, vendors string
	var next, created, updated int64
	var succeeded, approvalExpires sql.NullInt64
	if err := s.Scan(&r.ID, &r.MerchantID, &r.OrderID, &r.Seq, &r.Amount, &r.Currency, &r.Status, &r.Reason,
		&r.MerchantReference, &r.CaptureID, &items, &vendors, &r.NotifyURL, &r.Surface, &r.FailureCode,
		&r.FailureMessage, &r.ResponseCode, &r.RRN, &r.STAN, &r.AuthCode, &r.ARN,
		&r.Attempts, &next, &r.RequestHash, &r.Version, &created, &updated, &r.CreatedBy, &r.Number, &r.SweepsLeft, &r.ProcessorReference, &succeeded, &approvalExpires); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(items), &r.Items); err != nil {
		return nil, fmt.Errorf("refund %s items: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(vendors), &r.Vendors); err != nil {
		return nil, fmt.Errorf("refund %s vendors: %w", r.ID, err)
	}
	if len(r.Items) == 0 {
		r.Items = nil
	}
	if len(r.Vendors) == 0 {
		r.Vendors = nil
	}
	r.NextAttemptAt, r.CreatedAt, r.UpdatedAt = fromNanos(next), fromNanos(created), fromNanos(updated)
	r.SucceededAt, r.ApprovalExpiresAt = fromNanos(succeeded.Int64), fromNanos(approvalExpires.Int64)
	return &r, nil
}

// jsonList encodes a refund's items or vendors; none is "[]".
func jsonList[T any](xs []T) (string, error) {
	if len(xs) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(xs)
	return string(b), err
}

// CreateRefund inserts r as given (Version included, usually 1) and
// assigns r.Number: one more than the highest so far, which the single
// writer makes safe. A duplicate non-empty (merchant, merchant_reference)
// returns EMerchantReferenceReused.
func (t *tx) CreateRefund(ctx context.Context, r *refund.Refund) error {
	items, err := jsonList(r.Items)
	if err != nil {
		return fmt.Errorf("sqlite: create refund: %w", err)
	}
	vendors, err := jsonList(r.Vendors)
	if err != nil {
		return fmt.Errorf("sqlite: create refund: %w", err)
	}
	err = t.q.QueryRowContext(ctx, `INSERT INTO refunds (`+refundColumns+`, succeeded_at, approval_expires_at, number)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
		(SELECT COALESCE(MAX(number), 0) + 1 FROM refunds))
		RETURNING number`,
		r.ID, r.MerchantID, r.OrderID, r.Seq, r.Amount, r.Currency, string(r.Status), r.Reason, r.MerchantReference, r.CaptureID,
		items, vendors, r.NotifyURL, r.Surface, r.FailureCode, r.FailureMessage, r.ResponseCode, r.RRN, r.STAN, r.AuthCode, r.ARN,
		r.Attempts, nanos(r.NextAttemptAt), r.RequestHash, r.Version, nanos(r.CreatedAt), nanos(r.UpdatedAt), r.CreatedBy,
		nullTime(r.SucceededAt), nullTime(r.ApprovalExpiresAt)).Scan(&r.Number)
	if isUnique(err) {
		return refund.Errorf(refund.EMerchantReferenceReused, "merchant_reference",
			"merchant_reference %q was already used for another refund", r.MerchantReference)
	}
	if err != nil {
		return wrap("create refund", err)
	}
	return nil
}

// GetRefund returns ERefundNotFound, also for another merchant's refund;
// merchantID "" matches any.
func (t *tx) GetRefund(ctx context.Context, merchantID, id string) (*refund.Refund, error) {
	query, args := `SELECT `+refundSelect+` FROM refunds WHERE id = ?`, []any{id}
	if merchantID != "" {
		query, args = query+` AND merchant_id = ?`, append(args, merchantID)
	}
	return t.getRefund(ctx, query, args, id)
}

// GetRefundByMerchantReference returns ERefundNotFound. An empty reference
// finds nothing.
func (t *tx) GetRefundByMerchantReference(ctx context.Context, merchantID, surface, ref string) (*refund.Refund, error) {
	if ref == "" {
		return nil, refund.Errorf(refund.ERefundNotFound, "", "refund not found")
	}
	return t.getRefund(ctx, `SELECT `+refundSelect+` FROM refunds WHERE merchant_id = ? AND surface = ? AND merchant_reference = ?`,
		[]any{merchantID, surface, ref}, ref)
}

func (t *tx) getRefund(ctx context.Context, query string, args []any, name string) (*refund.Refund, error) {
	r, err := scanRefund(t.q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ERefundNotFound, "", "refund %q not found", name)
	}
	if err != nil {
		return nil, wrap("get refund", err)
	}
	return r, nil
}

// ListRefunds returns refunds newest first (by id). An empty f.MerchantID
// lists every merchant's refunds; f.Limit <= 0 means 100.
func (t *tx) ListRefunds(ctx context.Context, f refund.RefundFilter) ([]*refund.Refund, error) {
	query, args := listRefundsQuery(f)
	return t.queryRefunds(ctx, "list refunds", query, args...)
}

// listRefundsQuery is ListRefunds' statement.
func listRefundsQuery(f refund.RefundFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where, args = append(where, cond), append(args, arg) }
	if f.MerchantID != "" {
		add("merchant_id = ?", f.MerchantID)
	}
	if f.OrderID != "" {
		add("order_id = ?", f.OrderID)
	}
	switch {
	case f.Status == "":
	case f.OrderID != "":
		// An order's few refunds are found by its index; "+" keeps the
		// approvals queue's partial index, which SQLite (without
		// statistics) would walk whole for them, out of the plan.
		add("+status = ?", string(f.Status))
	case f.Status.Valid():
		// A known status is written in, not bound: compared with a bound
		// value, a column a partial index filters on (refunds_approvals)
		// makes SQLite plan the statement again on every run. Written
		// in, the approvals queue walks that index of the refunds
		// waiting, not the merchant's history.
		where = append(where, "status = '"+string(f.Status)+"'")
	default:
		add("status = ?", string(f.Status))
	}
	if f.Surface != "" {
		add("surface = ?", f.Surface)
	}
	if f.Currency != "" {
		add("currency = ?", f.Currency)
	}
	if f.MinAmount > 0 {
		add("amount >= ?", f.MinAmount)
	}
	if f.MaxAmount > 0 {
		add("amount <= ?", f.MaxAmount)
	}
	if !f.CreatedAfter.IsZero() {
		add("created_at >= ?", boundNanos(f.CreatedAfter))
	}
	if !f.CreatedBefore.IsZero() {
		add("created_at < ?", boundNanos(f.CreatedBefore))
	}
	cmp, order := "<", "DESC"
	if f.OldestFirst {
		cmp, order = ">", "ASC"
	}
	if f.Cursor != "" {
		add("id "+cmp+" ?", f.Cursor)
	}
	return `SELECT ` + refundSelect + ` FROM refunds` + whereClause(where) +
		` ORDER BY id ` + order + limitSQL(limit(f.Limit), 0), args
}

// LockOrderRefunds returns the order's refunds in statuses, oldest first.
// SQLite locks no rows: its one writer holds the whole database.
func (t *tx) LockOrderRefunds(ctx context.Context, merchantID, orderID string, statuses ...refund.Status) ([]*refund.Refund, error) {
	if len(statuses) == 0 {
		return nil, nil
	}
	args := []any{merchantID, orderID}
	for _, st := range statuses {
		args = append(args, string(st))
	}
	return t.queryRefunds(ctx, "lock order refunds", `SELECT `+refundSelect+` FROM refunds
		WHERE merchant_id = ? AND order_id = ? AND status IN (?`+strings.Repeat(", ?", len(statuses)-1)+`) ORDER BY id`, args...)
}

// ListSucceededRefunds returns a page of the merchant's refunds that
// succeeded in [f.From, f.To) and are succeeded still, in the order they
// succeeded, then by id.
func (t *tx) ListSucceededRefunds(ctx context.Context, f refund.SucceededFilter) ([]*refund.Refund, error) {
	query, args := listSucceededQuery(f)
	return t.queryRefunds(ctx, "list succeeded refunds", query, args...)
}

// listSucceededQuery is ListSucceededRefunds' statement: a keyset on
// refunds_succeeded (merchant_id, succeeded_at, id), so that each page
// starts where the last ended and a report's day costs its own refunds,
// not the merchant's history (TestReconciliationLookupsUseAnIndex).
func listSucceededQuery(f refund.SucceededFilter) (string, []any) {
	where := []string{"merchant_id = ?", "succeeded_at >= ?", "succeeded_at < ?", "status = 'succeeded'"}
	args := []any{f.MerchantID, nanos(f.From), nanos(f.To)}
	if f.After != nil {
		where, args = append(where, "(succeeded_at, id) > (?, ?)"), append(args, nanos(f.After.SucceededAt), f.After.ID)
	}
	if f.ProcessorAccount != "" {
		// The literal <> '' lets the partial index on processor_account
		// answer a bound value.
		where = append(where, "order_id IN (SELECT id FROM orders WHERE processor_account = ? AND processor_account <> '')")
		args = append(args, f.ProcessorAccount)
	}
	return `SELECT ` + refundSelect + ` FROM refunds` + whereClause(where) + ` ORDER BY succeeded_at, id` + limitSQL(limit(f.Limit), 0), args
}

func (t *tx) queryRefunds(ctx context.Context, op, query string, args ...any) ([]*refund.Refund, error) {
	rows, err := t.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var rs []*refund.Refund
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		rs = append(rs, r)
	}
	return rs, wrapErr(op, rows.Err())
}

// UpdateRefund writes the mutable fields of r (status, reason, notify URL,
// failure and processor fields, attempts, next attempt, updated and
// succeeded times) if the stored version is still r.Version, then bumps
// r.Version. The rest (order, amount, shares, reference, request hash,
// creation) never change.
// Returns EConflict when another writer got there first and
// ERefundNotFound when there is no such refund.
func (t *tx) UpdateRefund(ctx context.Context, r *refund.Refund) error {
	n, err := t.exec(ctx, "update refund", `UPDATE refunds SET status = ?, reason = ?, notify_url = ?,
		failure_code = ?, failure_message = ?, response_code = ?, rrn = ?, stan = ?, auth_code = ?, arn = ?,
		attempts = ?, next_attempt_at = ?, updated_at = ?, sweeps_left = ?, processor_reference = ?, succeeded_at = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		string(r.Status), r.Reason, r.NotifyURL, r.FailureCode, r.FailureMessage, r.ResponseCode, r.RRN, r.STAN, r.AuthCode, r.ARN,
		r.Attempts, nanos(r.NextAttemptAt), nanos(r.UpdatedAt), r.SweepsLeft, r.ProcessorReference, nullTime(r.SucceededAt), r.ID, r.Version)
	if err != nil {
		return err
	}
	if n == 0 {
		ok, err := t.exists(ctx, "update refund", `SELECT 1 FROM refunds WHERE id = ?`, r.ID)
		if err != nil {
			return err
		}
		if !ok {
			return refund.Errorf(refund.ERefundNotFound, "", "refund %q not found", r.ID)
		}
		return refund.Errorf(refund.EConflict, "", "refund %q was changed concurrently (version %d is stale)", r.ID, r.Version)
	}
	r.Version++
	return nil
}

// ClaimDueRefunds returns up to limit pending, processing or requires_review refunds whose
// NextAttemptAt <= now, earliest first, and moves their NextAttemptAt to
// now+lease, bumping Version, so that no other worker takes them during
// the lease. limit <= 0 claims nothing.
//
// Selecting then updating is safe here because SQLite has one writer: no
// other claimer runs between the two statements. The PostgreSQL store does
// the same with SELECT ... FOR UPDATE SKIP LOCKED, so that claimers on
// several nodes skip each other's rows instead of waiting for them.
func (t *tx) ClaimDueRefunds(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*refund.Refund, error) {
	if limit <= 0 {
		return nil, nil
	}
	rs, err := t.queryRefunds(ctx, "claim refunds", `SELECT `+refundSelect+` FROM refunds
		WHERE (status IN ('requires_approval', 'pending', 'processing', 'requires_review') OR sweeps_left > 0) AND next_attempt_at <= ?
		ORDER BY next_attempt_at, id`+limitSQL(limit, 0), nanos(now))
	if err != nil {
		return nil, err
	}
	until := now.Add(lease)
	for _, r := range rs {
		n, err := t.exec(ctx, "claim refund", `UPDATE refunds SET next_attempt_at = ?, version = version + 1 WHERE id = ? AND version = ?`,
			nanos(until), r.ID, r.Version)
		if err != nil {
			return nil, err
		}
		if n != 1 {
			return nil, fmt.Errorf("sqlite: claim refund %s: changed under the write lock", r.ID)
		}
		r.NextAttemptAt = fromNanos(nanos(until))
		r.Version++
	}
	return rs, nil
}

// InsertTransition records state changes of refunds in one statement,
// in the order given: SQLite inserts a VALUES list's rows in order, so
// their ids (ListTransitions' order) follow it.
func (t *tx) InsertTransition(ctx context.Context, ts ...refund.Transition) error {
	if len(ts) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(ts))
	for _, tr := range ts {
		args = append(args, tr.RefundID, string(tr.From), string(tr.To), tr.Cause, nanos(tr.At))
	}
	_, err := t.exec(ctx, "insert transition", `INSERT INTO refund_transitions (refund_id, from_status, to_status, cause, at)
		VALUES `+valuesList(len(ts), 5), args...)
	return err
}

// valuesList is a VALUES list of rows rows of cols placeholders each.
func valuesList(rows, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, rows-1)
}

// ListTransitions returns a refund's transitions in the order they were
// recorded (none for an unknown refund).
func (t *tx) ListTransitions(ctx context.Context, refundID string) ([]refund.Transition, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT refund_id, from_status, to_status, cause, at FROM refund_transitions
		WHERE refund_id = ? ORDER BY id`, refundID)
	if err != nil {
		return nil, wrap("list transitions", err)
	}
	defer rows.Close()
	var ts []refund.Transition
	for rows.Next() {
		var tr refund.Transition
		var at int64
		if err := rows.Scan(&tr.RefundID, &tr.From, &tr.To, &tr.Cause, &at); err != nil {
			return nil, wrap("list transitions", err)
		}
		tr.At = fromNanos(at)
		ts = append(ts, tr)
	}
	return ts, wrapErr("list transitions", rows.Err())
}

// InsertEvent writes an outbox event.
func (t *tx) InsertEvent(ctx context.Context, e *refund.Event) error {
	_, err := t.exec(ctx, "insert event", `INSERT INTO events (id, merchant_id, type, refund_id, order_id, data, request_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.MerchantID, e.Type, e.RefundID, e.OrderID, e.Data, e.RequestID, nanos(e.CreatedAt))
	return err
}
