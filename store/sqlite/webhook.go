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

const endpointColumns = `id, merchant_id, url, description, events, secret, disabled, created_at, updated_at,
	previous_secret, previous_secret_until`

func scanEndpoint(s scanner) (*refund.WebhookEndpoint, error) {
	var e refund.WebhookEndpoint
	var events string
	var created, updated, until int64
	if err := s.Scan(&e.ID, &e.MerchantID, &e.URL, &e.Description, &events, &e.Secret, &e.Disabled, &created, &updated,
		&e.PreviousSecret, &until); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(events), &e.Events); err != nil {
		return nil, fmt.Errorf("endpoint %s events: %w", e.ID, err)
	}
	if len(e.Events) == 0 {
		e.Events = nil
	}
	e.CreatedAt, e.UpdatedAt, e.PreviousSecretUntil = fromNanos(created), fromNanos(updated), fromNanos(until)
	return &e, nil
}

// CreateWebhookEndpoint inserts e.
func (t *tx) CreateWebhookEndpoint(ctx context.Context, e *refund.WebhookEndpoint) error {
	events, err := jsonList(e.Events)
	if err != nil {
		return wrap("create webhook endpoint", err)
	}
	_, err = t.exec(ctx, "create webhook endpoint", `INSERT INTO webhook_endpoints (`+endpointColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ID, e.MerchantID, e.URL, e.Description, events, e.Secret, e.Disabled,
		nanos(e.CreatedAt), nanos(e.UpdatedAt), e.PreviousSecret, nanos(e.PreviousSecretUntil))
	return err
}

// GetWebhookEndpoint returns EWebhookEndpointNotFound, also for another
// merchant's endpoint.
func (t *tx) GetWebhookEndpoint(ctx context.Context, merchantID, id string) (*refund.WebhookEndpoint, error) {
	e, err := scanEndpoint(t.q.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = ? AND (merchant_id = ? OR ? = '')`, id, merchantID, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EWebhookEndpointNotFound, "", "webhook endpoint %q not found", id)
	}
	if err != nil {
		return nil, wrap("get webhook endpoint", err)
	}
	return e, nil
}

// ListAllWebhookEndpoints returns up to limit endpoints after afterID, by id.
func (t *tx) ListAllWebhookEndpoints(ctx context.Context, afterID string, limit int) ([]*refund.WebhookEndpoint, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, wrap("list all webhook endpoints", err)
	}
	defer rows.Close()
	var es []*refund.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, wrap("list all webhook endpoints", err)
		}
		es = append(es, e)
	}
	return es, wrapErr("list all webhook endpoints", rows.Err())
}

// ListWebhookEndpoints returns a merchant's endpoints, oldest first.
func (t *tx) ListWebhookEndpoints(ctx context.Context, merchantID string) ([]*refund.WebhookEndpoint, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE merchant_id = ? ORDER BY id`, merchantID)
	if err != nil {
		return nil, wrap("list webhook endpoints", err)
	}
	defer rows.Close()
	var es []*refund.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, wrap("list webhook endpoints", err)
		}
		es = append(es, e)
	}
	return es, wrapErr("list webhook endpoints", rows.Err())
}

// UpdateWebhookEndpoint writes the mutable fields of e.
func (t *tx) UpdateWebhookEndpoint(ctx context.Context, e *refund.WebhookEndpoint) error {
	events, err := jsonList(e.Events)
	if err != nil {
		return wrap("update webhook endpoint", err)
	}
	n, err := t.exec(ctx, "update webhook endpoint", `UPDATE webhook_endpoints
		SET url = ?, description = ?, events = ?, disabled = ?, updated_at = ?, secret = ?, previous_secret = ?, previous_secret_until = ?
		WHERE id = ? AND merchant_id = ?`, e.URL, e.Description, events, e.Disabled, nanos(e.UpdatedAt), e.Secret, e.PreviousSecret,
		nanos(e.PreviousSecretUntil), e.ID, e.MerchantID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EWebhookEndpointNotFound, "", "webhook endpoint %q not found", e.ID)
	}
	return nil
}

// DeleteWebhookEndpoint removes an endpoint; its deliveries and their log
// go with it (ON DELETE CASCADE).
func (t *tx) DeleteWebhookEndpoint(ctx context.Context, merchantID, id string) error {
	n, err := t.exec(ctx, "delete webhook endpoint", `DELETE FROM webhook_endpoints WHERE id = ? AND merchant_id = ?`, id, merchantID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EWebhookEndpointNotFound, "", "webhook endpoint %q not found", id)
	}
	return nil
}

const eventColumns = `id, merchant_id, type, refund_id, order_id, data, request_id, created_at`

func scanEvent(s scanner) (*refund.Event, error) {
	var e refund.Event
	var created int64
	if err := s.Scan(&e.ID, &e.MerchantID, &e.Type, &e.RefundID, &e.OrderID, &e.Data, &e.RequestID, &created); err != nil {
		return nil, err
	}
	e.CreatedAt = fromNanos(created)
	return &e, nil
}

// GetEvent returns EEventNotFound; merchantID "" matches any merchant.
func (t *tx) GetEvent(ctx context.Context, merchantID, id string) (*refund.Event, error) {
	e, err := scanEvent(t.q.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE id = ? AND (merchant_id = ? OR ? = '')`, id, merchantID, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EEventNotFound, "", "event %q not found", id)
	}
	if err != nil {
		return nil, wrap("get event", err)
	}
	return e, nil
}

// ListEvents returns events newest first (by id).
func (t *tx) ListEvents(ctx context.Context, f refund.EventFilter) ([]*refund.Event, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where, args = append(where, cond), append(args, arg) }
	if f.MerchantID != "" {
		add("merchant_id = ?", f.MerchantID)
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.RefundID != "" {
		add("refund_id = ?", f.RefundID)
	}
	if f.Cursor != "" {
		add("id < ?", f.Cursor)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+eventColumns+` FROM events`+whereClause(where)+
		` ORDER BY id DESC`+limitSQL(limit(f.Limit), 0), args...)
	if err != nil {
		return nil, wrap("list events", err)
	}
	defer rows.Close()
	var es []*refund.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, wrap("list events", err)
		}
		es = append(es, e)
	}
	return es, wrapErr("list events", rows.Err())
}

const deliveryColumns = `id, merchant_id, event_id, COALESCE(endpoint_id, ''), url, status, attempts, next_attempt_at,
	last_status, last_error, version, created_at, updated_at`

func scanDelivery(s scanner) (*refund.Delivery, error) { return scanDeliveryWith(s) }

// scanDeliveryWith scans deliveryColumns and then extra ones.
func scanDeliveryWith(s scanner, extra ...any) (*refund.Delivery, error) {
	var d refund.Delivery
	var next, created, updated int64
	if err := s.Scan(append([]any{&d.ID, &d.MerchantID, &d.EventID, &d.EndpointID, &d.URL, &d.Status, &d.Attempts, &next,
		&d.LastStatus, &d.LastError, &d.Version, &created, &updated}, extra...)...); err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromNanos(next), fromNanos(created), fromNanos(updated)
	return &d, nil
}

// InsertDelivery inserts d.
func (t *tx) InsertDelivery(ctx context.Context, d *refund.Delivery) error {
	_, err := t.exec(ctx, "insert delivery", `INSERT INTO webhook_deliveries (id, merchant_id, event_id, endpoint_id,
		url, status, attempts, next_attempt_at, last_status, last_error, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.MerchantID, d.EventID, nullString(d.EndpointID),
		d.URL, string(d.Status), d.Attempts, nanos(d.NextAttemptAt), d.LastStatus, d.LastError, d.Version,
		nanos(d.CreatedAt), nanos(d.UpdatedAt))
	return err
}

// targetSQL is Delivery.Target in SQL.
const targetSQL = `COALESCE(endpoint_id, 'notify:' || merchant_id)`

// ClaimDueDeliveries leases due pending deliveries, earliest first, within
// per. As in ClaimDueRefunds, select-then-update is safe under SQLite's
// single writer. A read's rows passed over for the caps would use up n
// while others are due, so it reads again for the rest, leaving out the
// targets and merchants the claim filled: each read leases at least one.
func (t *tx) ClaimDueDeliveries(ctx context.Context, now time.Time, lease time.Duration, n int, per refund.TargetCap) ([]*refund.Delivery, error) {
	count := per.Count()
	until := nanos(now.Add(lease))
	seen := map[string]bool{}
	var ds []*refund.Delivery
	for len(ds) < n {
		due, err := t.dueDeliveries(ctx, now, n-len(ds), count.Full(), count.FullMerchants(), per.Sealed)
		if err != nil {
			return nil, err
		}
		took := len(ds)
		for _, d := range due {
			if seen[d.ID] || !count.Take(d) {
				continue
			}
			seen[d.ID] = true
			if _, err := t.exec(ctx, "claim delivery", `UPDATE webhook_deliveries SET next_attempt_at = ?, version = version + 1
				WHERE id = ? AND version = ?`, until, d.ID, d.Version); err != nil {
				return nil, err
			}
			d.NextAttemptAt = fromNanos(until)
			d.Version++
			ds = append(ds, d)
		}
		if len(ds) == took {
			break // nothing due, or (a lease of 0) only what the claim took
		}
	}
	return ds, nil
}

// dueDeliveries reads up to n due pending deliveries, earliest first, none
// to a target in full or a merchant in fullMerchants, nor one whose
// signing secret the claimer cannot open (sealed).
func (t *tx) dueDeliveries(ctx context.Context, now time.Time, n int, full, fullMerchants []string, sealed *refund.SealedSecrets) ([]*refund.Delivery, error) {
	where := []string{"status = 'pending'", "next_attempt_at <= ?"}
	args := []any{nanos(now)}
	if sealed != nil {
		// unopened is SQL for: col is sealed under none of the keys.
		unopened := func(col string) string {
			sql := `(substr(` + col + `, 1, length(?)) = ?`
			args = append(args, sealed.Prefix, sealed.Prefix)
			for _, o := range sealed.Opens {
				sql += ` AND substr(` + col + `, 1, length(?)) <> ?`
				args = append(args, o, o)
			}
			return sql + `)`
		}
		until := func() string { args = append(args, nanos(now)); return "?" }
		where = append(where,
			`NOT EXISTS (SELECT 1 FROM webhook_endpoints e
				WHERE e.id = webhook_deliveries.endpoint_id AND e.merchant_id = webhook_deliveries.merchant_id
				AND (`+unopened("e.secret")+` OR (e.previous_secret_until > `+until()+` AND `+unopened("e.previous_secret")+`)))`,
			`NOT EXISTS (SELECT 1 FROM notify_secrets k
				WHERE webhook_deliveries.endpoint_id IS NULL AND k.merchant_id = webhook_deliveries.merchant_id
				AND (`+unopened("k.secret")+` OR (k.previous_secret_until > `+until()+` AND `+unopened("k.previous_secret")+`)))`)
	}
	for _, not := range []struct {
		col  string
		vals []string
	}{{targetSQL, full}, {"merchant_id", fullMerchants}} {
		if len(not.vals) == 0 {
			continue
		}
		where = append(where, not.col+" NOT IN (?"+strings.Repeat(", ?", len(not.vals)-1)+")")
		for _, v := range not.vals {
			args = append(args, v)
		}
	}
	rows, err := t.q.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries`+whereClause(where)+
		` ORDER BY next_attempt_at, id`+limitSQL(n, 0), args...)
	if err != nil {
		return nil, wrap("claim deliveries", err)
	}
	defer rows.Close()
	var due []*refund.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, wrap("claim deliveries", err)
		}
		due = append(due, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("claim deliveries", err)
	}
	return due, nil
}

// ListPendingDeliveries returns an endpoint's pending deliveries with
// their events' types, oldest first. SQLite runs one writer at a time: no
// claim is under way while this transaction writes.
func (t *tx) ListPendingDeliveries(ctx context.Context, merchantID, endpointID string) ([]refund.PendingDelivery, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+deliveryColumns+`,
		(SELECT type FROM events WHERE events.id = webhook_deliveries.event_id)
		FROM webhook_deliveries WHERE merchant_id = ? AND endpoint_id = ? AND status = 'pending'
		ORDER BY created_at, id`, merchantID, endpointID)
	if err != nil {
		return nil, wrap("list pending deliveries", err)
	}
	defer rows.Close()
	var ps []refund.PendingDelivery
	for rows.Next() {
		var typ string
		d, err := scanDeliveryWith(rows, &typ)
		if err != nil {
			return nil, wrap("list pending deliveries", err)
		}
		ps = append(ps, refund.PendingDelivery{Delivery: d, EventType: typ})
	}
	return ps, wrapErr("list pending deliveries", rows.Err())
}

// UpdateDelivery writes d's outcome fields if its version is current.
func (t *tx) UpdateDelivery(ctx context.Context, d *refund.Delivery) error {
	n, err := t.exec(ctx, "update delivery", `UPDATE webhook_deliveries SET status = ?, attempts = ?, next_attempt_at = ?,
		last_status = ?, last_error = ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ?`,
		string(d.Status), d.Attempts, nanos(d.NextAttemptAt), d.LastStatus, d.LastError, nanos(d.UpdatedAt), d.ID, d.Version)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EConflict, "", "delivery %q was changed concurrently or deleted", d.ID)
	}
	d.Version++
	return nil
}

// InsertDeliveryAttempt appends to the delivery log.
func (t *tx) InsertDeliveryAttempt(ctx context.Context, a *refund.DeliveryAttempt) error {
	_, err := t.exec(ctx, "insert delivery attempt", `INSERT INTO webhook_attempts (id, delivery_id, merchant_id,
		endpoint_id, event_id, event_type, url, attempt, status_code, latency_ms, error, at, next_retry_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.DeliveryID, a.MerchantID, a.EndpointID, a.EventID,
		a.EventType, a.URL, a.Attempt, a.StatusCode, a.LatencyMS, a.Error, nanos(a.At), nullNanos(a.NextRetryAt))
	return err
}

// ListDeliveryAttempts returns log rows newest first (by id).
func (t *tx) ListDeliveryAttempts(ctx context.Context, f refund.AttemptFilter) ([]*refund.DeliveryAttempt, error) {
	where := []string{"merchant_id = ?", "endpoint_id = ?"}
	args := []any{f.MerchantID, f.EndpointID}
	if f.Cursor != "" {
		where, args = append(where, "id < ?"), append(args, f.Cursor)
	}
	rows, err := t.q.QueryContext(ctx, `SELECT id, delivery_id, merchant_id, endpoint_id, event_id, event_type, url,
		attempt, status_code, latency_ms, error, at, next_retry_at FROM webhook_attempts`+whereClause(where)+
		` ORDER BY id DESC`+limitSQL(limit(f.Limit), 0), args...)
	if err != nil {
		return nil, wrap("list delivery attempts", err)
	}
	defer rows.Close()
	var as []*refund.DeliveryAttempt
	for rows.Next() {
		var a refund.DeliveryAttempt
		var at int64
		var next sql.NullInt64
		if err := rows.Scan(&a.ID, &a.DeliveryID, &a.MerchantID, &a.EndpointID, &a.EventID, &a.EventType, &a.URL,
			&a.Attempt, &a.StatusCode, &a.LatencyMS, &a.Error, &at, &next); err != nil {
			return nil, wrap("list delivery attempts", err)
		}
		a.At, a.NextRetryAt = fromNanos(at), fromNullNanos(next)
		as = append(as, &a)
	}
	return as, wrapErr("list delivery attempts", rows.Err())
}

// GetNotifySecret returns ENotFound when the merchant has none yet.
func (t *tx) GetNotifySecret(ctx context.Context, merchantID string) (*refund.NotifySecret, error) {
	n, err := scanNotifySecret(t.q.QueryRowContext(ctx, `SELECT `+notifySecretColumns+` FROM notify_secrets WHERE merchant_id = ?`, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no notify secret yet")
	}
	if err != nil {
		return nil, wrap("get notify secret", err)
	}
	return n, nil
}

const notifySecretColumns = `merchant_id, secret, previous_secret, previous_secret_until, updated_at`

func scanNotifySecret(s scanner) (*refund.NotifySecret, error) {
	var n refund.NotifySecret
	var updated, until int64
	if err := s.Scan(&n.MerchantID, &n.Secret, &n.PreviousSecret, &until, &updated); err != nil {
		return nil, err
	}
	n.PreviousSecretUntil, n.UpdatedAt = fromNanos(until), fromNanos(updated)
	return &n, nil
}

// ListNotifySecrets returns up to limit notify secrets after
// afterMerchantID, by merchant id.
func (t *tx) ListNotifySecrets(ctx context.Context, afterMerchantID string, limit int) ([]*refund.NotifySecret, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+notifySecretColumns+`
		FROM notify_secrets WHERE merchant_id > ? ORDER BY merchant_id LIMIT ?`, afterMerchantID, limit)
	if err != nil {
		return nil, wrap("list notify secrets", err)
	}
	defer rows.Close()
	var ns []*refund.NotifySecret
	for rows.Next() {
		n, err := scanNotifySecret(rows)
		if err != nil {
			return nil, wrap("list notify secrets", err)
		}
		ns = append(ns, n)
	}
	return ns, wrapErr("list notify secrets", rows.Err())
}

// PutNotifySecret writes n in place of the secrets whose current one was
// read as was ("": none); EConflict when they are no longer so.
func (t *tx) PutNotifySecret(ctx context.Context, n *refund.NotifySecret, was string) error {
	query := `INSERT INTO notify_secrets (merchant_id, secret, previous_secret, previous_secret_until, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (merchant_id) DO NOTHING`
	args := []any{n.MerchantID, n.Secret, n.PreviousSecret, nanos(n.PreviousSecretUntil), nanos(n.UpdatedAt)}
	if was != "" {
		query = `UPDATE notify_secrets SET secret = ?2, previous_secret = ?3, previous_secret_until = ?4, updated_at = ?5
			WHERE merchant_id = ?1 AND secret = ?6`
		args = append(args, was)
	}
	rows, err := t.exec(ctx, "put notify secret", query, args...)
	if err != nil {
		return err
	}
	if rows == 0 {
		return refund.Errorf(refund.EConflict, "", "the notify secret was changed concurrently")
	}
	return nil
}
