package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/refundd/refundd/refund"
)

const idempotencyColumns = `merchant_id, idempotency_key, request_hash, object_id, reply_status, reply_type, reply_body,
	locked_until, completed_at, created_at, expires_at, version`

// getIdempotency is GetIdempotency's query, prepared on the readers (see
// viewQueries): every request with an Idempotency-Key runs it.
const getIdempotency = `SELECT ` + idempotencyColumns + ` FROM idempotency_keys
		WHERE merchant_id = ? AND idempotency_key = ?`

// GetIdempotency returns ENotFound.
func (t *tx) GetIdempotency(ctx context.Context, merchantID, key string) (*refund.IdempotencyRecord, error) {
	return scanIdempotency(t.q.QueryRowContext(ctx, getIdempotency, merchantID, key), key)
}

// LookupIdempotency is GetIdempotency on a reader, with no transaction
// around the one statement (refund.Store).
func (s *Store) LookupIdempotency(ctx context.Context, merchantID, key string) (*refund.IdempotencyRecord, error) {
	s.stmts.Add(1)
	r, err := scanIdempotency(s.rstmts[getIdempotency].QueryRowContext(ctx, merchantID, key), key)
	return r, hide(err)
}

func scanIdempotency(row *sql.Row, key string) (*refund.IdempotencyRecord, error) {
	var r refund.IdempotencyRecord
	var locked, created, expires int64
	var completed sql.NullInt64
	err := row.Scan(
		&r.MerchantID, &r.Key, &r.RequestHash, &r.ObjectID, &r.Reply.Status, &r.Reply.ContentType, &r.Reply.Body,
		&locked, &completed, &created, &expires, &r.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "Idempotency-Key", "idempotency key %q not found", key)
	}
	if err != nil {
		return nil, wrap("get idempotency key", err)
	}
	r.LockedUntil, r.CompletedAt = fromNanos(locked), fromNullNanos(completed)
	r.CreatedAt, r.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &r, nil
}

// InsertIdempotency returns EIdempotencyKeyInUse when the merchant already
// has the key.
func (t *tx) InsertIdempotency(ctx context.Context, r *refund.IdempotencyRecord) error {
	_, err := t.q.ExecContext(ctx, `INSERT INTO idempotency_keys (`+idempotencyColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.MerchantID, r.Key, r.RequestHash, r.ObjectID, r.Reply.Status, r.Reply.ContentType, r.Reply.Body,
		nanos(r.LockedUntil), nullNanos(r.CompletedAt), nanos(r.CreatedAt), nanos(r.ExpiresAt), r.Version)
	if isPrimaryKey(err) || isUnique(err) {
		return refund.Errorf(refund.EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
	}
	if err != nil {
		return wrap("insert idempotency key", err)
	}
	return nil
}

// UpdateIdempotency stores ObjectID, Reply, LockedUntil and CompletedAt
// if the stored version is still r.Version, then bumps r.Version. Returns
// EIdempotencyKeyInUse when the row moved on, ENotFound when it is gone.
func (t *tx) UpdateIdempotency(ctx context.Context, r *refund.IdempotencyRecord) error {
	n, err := t.exec(ctx, "update idempotency key", `UPDATE idempotency_keys SET object_id = ?, reply_status = ?, reply_type = ?,
		reply_body = ?, locked_until = ?, completed_at = ?, version = version + 1
		WHERE merchant_id = ? AND idempotency_key = ? AND version = ?`,
		r.ObjectID, r.Reply.Status, r.Reply.ContentType, r.Reply.Body, nanos(r.LockedUntil), nullNanos(r.CompletedAt), r.MerchantID, r.Key, r.Version)
	if err != nil {
		return err
	}
	if n == 0 {
		// Which refusal: read only on this path.
		if _, err := t.GetIdempotency(ctx, r.MerchantID, r.Key); err != nil {
			return err
		}
		return refund.Errorf(refund.EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
	}
	r.Version++
	return nil
}

// DeleteExpiredIdempotency deletes up to limit records whose ExpiresAt is
// before t, the earliest first, but for those a retry's lease holds past
// t, and returns how many.
func (t *tx) DeleteExpiredIdempotency(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := t.exec(ctx, "delete expired idempotency keys", `DELETE FROM idempotency_keys WHERE rowid IN
		(SELECT rowid FROM idempotency_keys WHERE expires_at < ? AND locked_until < ? ORDER BY expires_at LIMIT `+strconv.Itoa(limit)+`)`, nanos(before), nanos(before))
	return int(n), err
}
