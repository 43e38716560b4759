package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

const endpointColumns = `id, merchant_id, url, description, events, secret, disabled, created_at, updated_at,
	previous_secret, previous_secret_until`

func scanEndpoint(s scanner) (*refund.WebhookEndpoint, error) {
	var e refund.WebhookEndpoint
	var until *time.Time
	if err := s.Scan(&e.ID, &e.MerchantID, &e.URL, &e.Description, &e.Events, &e.Secret, &e.Disabled, &e.CreatedAt, &e.UpdatedAt,
		&e.PreviousSecret, &until); err != nil {
		return nil, err
	}
	if until != nil {
		e.PreviousSecretUntil = *until
	}
	if len(e.Events) == 0 {
		e.Events = nil // all types
	}
	return &e, nil
}

// textArray is xs for a NOT NULL TEXT[] column: pgx sends a nil slice as
// NULL.
func textArray(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// CreateWebhookEndpoint inserts e.
func (t *tx) CreateWebhookEndpoint(ctx context.Context, e *refund.WebhookEndpoint) error {
	t.forget(aheadEndpoints)
	_, err := t.exec(ctx, "create webhook endpoint", `INSERT INTO webhook_endpoints (`+endpointColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, e.ID, e.MerchantID, e.URL, e.Description, textArray(e.Events), e.Secret, e.Disabled,
		e.CreatedAt, e.UpdatedAt, e.PreviousSecret, nullTime(e.PreviousSecretUntil))
	return err
}

// GetWebhookEndpoint returns EWebhookEndpointNotFound, also for another
// merchant's endpoint.
//
// Inside Update it takes a FOR SHARE lock: an endpoint read there is
// either about to be written back (a change of its settings, which must
// not overwrite a concurrent one) or read for its secret by a dispatcher
// claiming deliveries. Shared locks let dispatchers on every node read it
// at once; two concurrent changes of one endpoint cannot both go on to
// write it, and the one PostgreSQL aborts (a deadlock) runs again on the
// other's result.
func (t *tx) GetWebhookEndpoint(ctx context.Context, merchantID, id string) (*refund.WebhookEndpoint, error) {
	lock := ""
	if t.write {
		lock = " FOR SHARE"
	}
	e, err := scanEndpoint(t.q.QueryRow(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = $1 AND (merchant_id = $2 OR $2 = '')`+lock, id, merchantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EWebhookEndpointNotFound, "", "webhook endpoint %q not found", id)
	}
	if err != nil {
		return nil, t.fail("get webhook endpoint", err)
	}
	return e, nil
}

// ListWebhookEndpoints returns a merchant's endpoints, oldest first.
func (t *tx) ListWebhookEndpoints(ctx context.Context, merchantID string) ([]*refund.WebhookEndpoint, error) {
	if v, ok := t.recall(aheadEndpoints + merchantID); ok {
		var out []*refund.WebhookEndpoint
		for _, e := range v.([]*refund.WebhookEndpoint) {
			c := *e
			c.Events = slices.Clone(e.Events)
			out = append(out, &c)
		}
		return out, nil
	}
	return queryAll(ctx, t, "list webhook endpoints", `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE merchant_id = $1 ORDER BY id`, scanEndpoint, merchantID)
}

// ListAllWebhookEndpoints returns up to limit endpoints after afterID, by id.
func (t *tx) ListAllWebhookEndpoints(ctx context.Context, afterID string, limit int) ([]*refund.WebhookEndpoint, error) {
	return queryAll(ctx, t, "list all webhook endpoints", `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id > $1 ORDER BY id LIMIT $2`, scanEndpoint, afterID, limit)
}

// UpdateWebhookEndpoint writes the mutable fields of e.
func (t *tx) UpdateWebhookEndpoint(ctx context.Context, e *refund.WebhookEndpoint) error {
	t.forget(aheadEndpoints)
	n, err := t.exec(ctx, "update webhook endpoint", `UPDATE webhook_endpoints
		SET url = $1, description = $2, events = $3, disabled = $4, updated_at = $5, secret = $8, previous_secret = $9,
			previous_secret_until = $10
		WHERE id = $6 AND merchant_id = $7`, e.URL, e.Description, textArray(e.Events), e.Disabled, e.UpdatedAt, e.ID, e.MerchantID,
		e.Secret, e.PreviousSecret, nullTime(e.PreviousSecretUntil))
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
	t.forget(aheadEndpoints)
	n, err := t.exec(ctx, "delete webhook endpoint", `DELETE FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2`, id, merchantID)
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
	if err := s.Scan(&e.ID, &e.MerchantID, &e.Type, &e.RefundID, &e.OrderID, &e.Data, &e.RequestID, &e.CreatedAt); err != nil {
		return nil, err
	}
	return &e, nil
}

// GetEvent returns EEventNotFound; merchantID "" matches any merchant.
func (t *tx) GetEvent(ctx context.Context, merchantID, id string) (*refund.Event, error) {
	e, err := scanEvent(t.q.QueryRow(ctx, `SELECT `+eventColumns+` FROM events
		WHERE id = $1 AND (merchant_id = $2 OR $2 = '')`, id, merchantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EEventNotFound, "", "event %q not found", id)
	}
	if err != nil {
		return nil, t.fail("get event", err)
	}
	return e, nil
}

// ListEvents returns events newest first (by id).
func (t *tx) ListEvents(ctx context.Context, f refund.EventFilter) ([]*refund.Event, error) {
	var where []string
	var p params
	if f.MerchantID != "" {
		where = append(where, "merchant_id = "+p.add(f.MerchantID))
	}
	if f.Type != "" {
		where = append(where, "type = "+p.add(f.Type))
	}
	if f.RefundID != "" {
		where = append(where, "refund_id = "+p.add(f.RefundID))
	}
	if f.Cursor != "" {
		where = append(where, "id < "+p.add(f.Cursor))
	}
	query := `SELECT ` + eventColumns + ` FROM events` + whereClause(where) + ` ORDER BY id DESC LIMIT ` + p.add(limit(f.Limit))
	return queryAll(ctx, t, "list events", query, scanEvent, p...)
}

const deliveryColumns = `id, merchant_id, event_id, COALESCE(endpoint_id, ''), url, status, attempts, next_attempt_at,
	last_status, last_error, version, created_at, updated_at`

func scanDelivery(s scanner) (*refund.Delivery, error) {
	return scanDeliveryWith(s)
}

// scanDeliveryWith scans deliveryColumns and then extra ones.
func scanDeliveryWith(s scanner, extra ...any) (*refund.Delivery, error) {
	var d refund.Delivery
	dest := append([]any{&d.ID, &d.MerchantID, &d.EventID, &d.EndpointID, &d.URL, &d.Status, &d.Attempts, &d.NextAttemptAt,
		&d.LastStatus, &d.LastError, &d.Version, &d.CreatedAt, &d.UpdatedAt}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	return &d, nil
}

// InsertDelivery inserts d.
func (t *tx) InsertDelivery(ctx context.Context, d *refund.Delivery) error {
	_, err := t.exec(ctx, "insert delivery", `INSERT INTO webhook_deliveries (id, merchant_id, event_id, endpoint_id,
		url, status, attempts, next_attempt_at, last_status, last_error, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, d.ID, d.MerchantID, d.EventID, nullString(d.EndpointID),
		d.URL, string(d.Status), d.Attempts, d.NextAttemptAt, d.LastStatus, d.LastError, d.Version,
		d.CreatedAt, d.UpdatedAt)
	return err
}

// targetSQL is Delivery.Target in SQL.
const targetSQL = `COALESCE(endpoint_id, 'notify:' || merchant_id)`

// unopenedSQL leaves out of a claim the deliveries whose signing secret
// the claimer cannot open (refund.SealedSecrets: $5 its Prefix, $6 its
// Opens; $1 the claim's now ends a previous secret's overlap). Each is a
// probe of the one row by its key for each due delivery the claim reads:
// OFFSET 0 keeps the planner from turning it into an anti join, which it
// planned, on a few thousand endpoints, as a scan of every endpoint and
// notify secret, materialized and compared with each due delivery, on
// every claim.
var unopenedSQL = `
				AND NOT EXISTS (SELECT 1 FROM webhook_endpoints e
					WHERE e.id = webhook_deliveries.endpoint_id AND e.merchant_id = webhook_deliveries.merchant_id
					AND (` + unopened("e.secret") + ` OR (e.previous_secret_until > $1 AND ` + unopened("e.previous_secret") + `))
					OFFSET 0)
				AND NOT EXISTS (SELECT 1 FROM notify_secrets k
					WHERE webhook_deliveries.endpoint_id IS NULL AND k.merchant_id = webhook_deliveries.merchant_id
					AND (` + unopened("k.secret") + ` OR (k.previous_secret_until > $1 AND ` + unopened("k.previous_secret") + `))
					OFFSET 0)`

// claimDeliveriesSQL reads a claim's candidates: $1 now, $2 the full
// targets, $3 the full merchants, $4 how many, and with sealed $5 and $6
// (unopenedSQL).
func claimDeliveriesSQL(sealed bool) string {
	filter := ""
	if sealed {
		filter = unopenedSQL
	}
	return `SELECT id, merchant_id, COALESCE(endpoint_id, '') FROM webhook_deliveries
			WHERE status = 'pending' AND next_attempt_at <= $1 AND ` + targetSQL + ` <> ALL($2::text[])
				AND merchant_id <> ALL($3::text[])` + filter + `
			ORDER BY next_attempt_at, id LIMIT $4
			FOR UPDATE SKIP LOCKED`
}

// unopened is SQL for: col is sealed ($5) under none of the keys ($6).
func unopened(col string) string {
	return `(left(` + col + `, length($5)) = $5
						AND NOT EXISTS (SELECT 1 FROM unnest($6::text[]) o WHERE left(` + col + `, length(o)) = o))`
}

// ClaimDueDeliveries leases due pending deliveries, earliest first, within
// per. As in ClaimDueRefunds, FOR UPDATE SKIP LOCKED lets dispatchers on
// several nodes pass over each other's rows, and the version bump fences
// a stale holder. The candidates are locked first and only those per
// takes are leased; the others are unlocked at commit, still due. A
// read's rows passed over for the caps would use up n while others are
// due, so it reads again for the rest, leaving out the targets and
// merchants the claim filled (the leased rows are no longer due): each
// read leases at least one.
func (t *tx) ClaimDueDeliveries(ctx context.Context, now time.Time, lease time.Duration, n int, per refund.TargetCap) ([]*refund.Delivery, error) {
	count := per.Count()
	seen := map[string]bool{}
	var claimed []*refund.Delivery
	for len(claimed) < n {
		full, fullMerchants := count.Full(), count.FullMerchants()
		if full == nil {
			full = []string{}
		}
		if fullMerchants == nil {
			fullMerchants = []string{}
		}
		args := []any{now, full, fullMerchants, n - len(claimed)}
		if per.Sealed != nil {
			opens := per.Sealed.Opens
			if opens == nil {
				opens = []string{}
			}
			args = append(args, per.Sealed.Prefix, opens)
		}
		cs, err := queryAll(ctx, t, "claim deliveries", claimDeliveriesSQL(per.Sealed != nil),
			func(s scanner) (*refund.Delivery, error) {
				var d refund.Delivery
				err := s.Scan(&d.ID, &d.MerchantID, &d.EndpointID)
				return &d, err
			}, args...)
		if err != nil {
			return nil, err
		}
		var ids []string
		order := map[string]int{}
		for _, c := range cs {
			if !seen[c.ID] && count.Take(c) {
				seen[c.ID] = true
				order[c.ID] = len(ids)
				ids = append(ids, c.ID)
			}
		}
		if len(ids) == 0 {
			break // nothing due, or (a lease of 0) only what the claim took
		}
		ds, err := queryAll(ctx, t, "claim deliveries", `UPDATE webhook_deliveries SET next_attempt_at = $1, version = version + 1
			WHERE id = ANY($2::text[]) RETURNING `+deliveryColumns, scanDelivery, now.Add(lease), ids)
		if err != nil {
			return nil, err
		}
		slices.SortFunc(ds, func(a, b *refund.Delivery) int { return order[a.ID] - order[b.ID] })
		claimed = append(claimed, ds...)
	}
	return claimed, nil
}

// ListPendingDeliveries returns an endpoint's pending deliveries with
// their events' types, oldest first, locked: a claim under way is waited
// for, and a claim after it finds them changed.
func (t *tx) ListPendingDeliveries(ctx context.Context, merchantID, endpointID string) ([]refund.PendingDelivery, error) {
	return queryAll(ctx, t, "list pending deliveries", `SELECT `+deliveryColumns+`,
		(SELECT type FROM events WHERE events.id = webhook_deliveries.event_id)
		FROM webhook_deliveries WHERE merchant_id = $1 AND endpoint_id = $2 AND status = 'pending'
		ORDER BY created_at, id FOR UPDATE`,
		func(s scanner) (refund.PendingDelivery, error) {
			var typ string
			d, err := scanDeliveryWith(s, &typ)
			return refund.PendingDelivery{Delivery: d, EventType: typ}, err
		}, merchantID, endpointID)
}

// UpdateDelivery writes d's outcome fields if its version is current.
func (t *tx) UpdateDelivery(ctx context.Context, d *refund.Delivery) error {
	n, err := t.exec(ctx, "update delivery", `UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
		last_status = $4, last_error = $5, updated_at = $6, version = version + 1 WHERE id = $7 AND version = $8`,
		string(d.Status), d.Attempts, d.NextAttemptAt, d.LastStatus, d.LastError, d.UpdatedAt, d.ID, d.Version)
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
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, a.ID, a.DeliveryID, a.MerchantID, a.EndpointID, a.EventID,
		a.EventType, a.URL, a.Attempt, a.StatusCode, a.LatencyMS, a.Error, a.At, a.NextRetryAt)
	return err
}

// ListDeliveryAttempts returns log rows newest first (by id).
func (t *tx) ListDeliveryAttempts(ctx context.Context, f refund.AttemptFilter) ([]*refund.DeliveryAttempt, error) {
	var p params
	where := []string{"merchant_id = " + p.add(f.MerchantID), "endpoint_id = " + p.add(f.EndpointID)}
	if f.Cursor != "" {
		where = append(where, "id < "+p.add(f.Cursor))
	}
	query := `SELECT id, delivery_id, merchant_id, endpoint_id, event_id, event_type, url,
		attempt, status_code, latency_ms, error, at, next_retry_at FROM webhook_attempts` + whereClause(where) +
		` ORDER BY id DESC LIMIT ` + p.add(limit(f.Limit))
	return queryAll(ctx, t, "list delivery attempts", query, func(s scanner) (*refund.DeliveryAttempt, error) {
		var a refund.DeliveryAttempt
		err := s.Scan(&a.ID, &a.DeliveryID, &a.MerchantID, &a.EndpointID, &a.EventID, &a.EventType, &a.URL,
			&a.Attempt, &a.StatusCode, &a.LatencyMS, &a.Error, &a.At, &a.NextRetryAt)
		return &a, err
	}, p...)
}

// GetNotifySecret returns ENotFound when the merchant has none yet.
func (t *tx) GetNotifySecret(ctx context.Context, merchantID string) (*refund.NotifySecret, error) {
	n, err := scanNotifySecret(t.q.QueryRow(ctx, `SELECT `+notifySecretColumns+` FROM notify_secrets WHERE merchant_id = $1`, merchantID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "", "no notify secret yet")
	}
	if err != nil {
		return nil, t.fail("get notify secret", err)
	}
	return n, nil
}

const notifySecretColumns = `merchant_id, secret, previous_secret, previous_secret_until, updated_at`

func scanNotifySecret(s scanner) (*refund.NotifySecret, error) {
	var n refund.NotifySecret
	var until *time.Time
	if err := s.Scan(&n.MerchantID, &n.Secret, &n.PreviousSecret, &until, &n.UpdatedAt); err != nil {
		return nil, err
	}
	if until != nil {
		n.PreviousSecretUntil = *until
	}
	return &n, nil
}

// ListNotifySecrets returns up to limit notify secrets after
// afterMerchantID, by merchant id.
func (t *tx) ListNotifySecrets(ctx context.Context, afterMerchantID string, limit int) ([]*refund.NotifySecret, error) {
	return queryAll(ctx, t, "list notify secrets", `SELECT `+notifySecretColumns+`
		FROM notify_secrets WHERE merchant_id > $1 ORDER BY merchant_id LIMIT $2`, scanNotifySecret, afterMerchantID, limit)
}

// PutNotifySecret writes n in place of the secrets whose current one was
// read as was ("": none). Each is one guarded statement: an insert that
// does nothing when a row exists, an update that does nothing when the
// secret is no longer was (READ COMMITTED re-checks it against a
// concurrent writer's committed row); either answers EConflict, so a
// secret another transaction wrote meanwhile is never written over.
func (t *tx) PutNotifySecret(ctx context.Context, n *refund.NotifySecret, was string) error {
	query := `INSERT INTO notify_secrets (merchant_id, secret, previous_secret, previous_secret_until, updated_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id) DO NOTHING`
	args := []any{n.MerchantID, n.Secret, n.PreviousSecret, nullTime(n.PreviousSecretUntil), n.UpdatedAt}
	if was != "" {
		query = `UPDATE notify_secrets SET secret = $2, previous_secret = $3, previous_secret_until = $4, updated_at = $5
			WHERE merchant_id = $1 AND secret = $6`
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
