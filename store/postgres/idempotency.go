package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

const idempotencyColumns = `merchant_id, idempotency_key, request_hash, object_id, reply_status, reply_type, reply_body,
	locked_until, completed_at, created_at, expires_at, version`

// GetIdempotency returns ENotFound.
//
// It does not lock the record inside Update: every write of it names
// the version read (UpdateIdempotency), so of two requests that read it
// the second to write changes nothing; inserting the key is what the
// primary key guards.
func (t *tx) GetIdempotency(ctx context.Context, merchantID, key string) (*refund.IdempotencyRecord, error) {
	r, err := scanIdempotency(t.q.QueryRow(ctx, getIdempotency, merchantID, key), key)
	if err != nil && refund.ErrorCode(err) != refund.ENotFound {
		return nil, t.fail("get idempotency key", err)
	}
	return r, err
}

// LookupIdempotency is GetIdempotency with no transaction around its one
// statement (refund.Store): no BEGIN before it, no COMMIT after.
func (s *Store) LookupIdempotency(ctx context.Context, merchantID, key string) (*refund.IdempotencyRecord, error) {
	r, err := scanIdempotency(s.pool.QueryRow(ctx, getIdempotency, merchantID, key), key)
	if err != nil && refund.ErrorCode(err) != refund.ENotFound {
		return nil, hide(wrap("get idempotency key", err))
	}
	return r, err
}

const getIdempotency = `SELECT ` + idempotencyColumns + ` FROM idempotency_keys
		WHERE merchant_id = $1 AND idempotency_key = $2`

func scanIdempotency(row pgx.Row, key string) (*refund.IdempotencyRecord, error) {
	var r refund.IdempotencyRecord
	err := row.Scan(&r.MerchantID, &r.Key, &r.RequestHash, &r.ObjectID, &r.Reply.Status, &r.Reply.ContentType, &r.Reply.Body,
		&r.LockedUntil, &r.CompletedAt, &r.CreatedAt, &r.ExpiresAt, &r.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.ENotFound, "Idempotency-Key", "idempotency key %q not found", key)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// InsertIdempotency returns EIdempotencyKeyInUse when the merchant already
// has the key, also when another transaction inserted it and has not
// committed yet (the insert waits for it).
//
// Inside Update the insert travels with the next round trip (a claimed
// key is followed by the reads of what the request works on), so
// EIdempotencyKeyInUse may come from that statement or from Update, and
// the transaction commits nothing: the refusal is raised in the server
// (see refusing).
func (t *tx) InsertIdempotency(ctx context.Context, r *refund.IdempotencyRecord) error {
	if t.write {
		t.claimed = append(t.claimed, idemKey{r.MerchantID, r.Key})
	}
	return t.refusing(ctx, "insert idempotency key", func(string) error {
		return refund.Errorf(refund.EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
	}, `WITH i AS (INSERT INTO idempotency_keys (`+idempotencyColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (merchant_id, idempotency_key) DO NOTHING RETURNING 1)
		SELECT CASE WHEN EXISTS (SELECT 1 FROM i) THEN true ELSE refundd_refuse('in use') END`,
		r.MerchantID, r.Key, r.RequestHash, r.ObjectID, r.Reply.Status, r.Reply.ContentType, r.Reply.Body,
		r.LockedUntil, r.CompletedAt, r.CreatedAt, r.ExpiresAt, r.Version)
}

// UpdateIdempotency stores ObjectID, Reply, LockedUntil and CompletedAt
// if the stored version is still r.Version, then bumps r.Version. Returns
// EIdempotencyKeyInUse when the row moved on, ENotFound when it is gone;
// inside Update either may come from a later statement or from Update,
// and the transaction commits nothing (see refusing).
func (t *tx) UpdateIdempotency(ctx context.Context, r *refund.IdempotencyRecord) error {
	key, version := r.Key, r.Version
	args := []any{r.ObjectID, r.Reply.Status, r.Reply.ContentType, r.Reply.Body, r.LockedUntil, r.CompletedAt, r.MerchantID, key, version}
	if t.write && slices.Contains(t.claimed, idemKey{r.MerchantID, key}) {
		// This transaction inserted the row (or its insert refused and
		// the transaction commits nothing): it is there, and no other
		// transaction sees it yet. Nothing to check, so the update may
		// share its statement with the writes around it.
		r.Version++
		return t.join(ctx, "update idempotency key", "idempotency_keys", updateIdempotency, args...)
	}
	err := t.refusing(ctx, "update idempotency key", func(why string) error {
		r.Version = version // the loser's copy stays as it was
		if why == "not found" {
			return refund.Errorf(refund.ENotFound, "Idempotency-Key", "idempotency key %q not found", key)
		}
		return refund.Errorf(refund.EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
	}, `WITH u AS (`+updateIdempotency+` RETURNING 1)
		SELECT CASE WHEN EXISTS (SELECT 1 FROM u) THEN true
			WHEN EXISTS (SELECT 1 FROM idempotency_keys WHERE merchant_id = $7 AND idempotency_key = $8) THEN refundd_refuse('moved')
			ELSE refundd_refuse('not found') END`, args...)
	if err == nil {
		// Inside Update the update is held and r.Version moves now, as
		// UpdateRefund's does; a refusal puts it back.
		r.Version++
	}
	return err
}

const updateIdempotency = `UPDATE idempotency_keys SET object_id = $1, reply_status = $2, reply_type = $3,
		reply_body = $4, locked_until = $5, completed_at = $6, version = version + 1
		WHERE merchant_id = $7 AND idempotency_key = $8 AND version = $9`

// idemKey names an idempotency key.
type idemKey struct{ merchantID, key string }

// DeleteExpiredIdempotency deletes up to limit records whose ExpiresAt is
// before t, the earliest first, but for those a retry's lease holds past
// t, and returns how many.
func (t *tx) DeleteExpiredIdempotency(ctx context.Context, before time.Time, limit int) (int, error) {
	// The conditions again outside: a row a retry takes over while this
	// waits for its lock is checked again as it now is, not as the
	// subquery found it.
	n, err := t.exec(ctx, "delete expired idempotency keys", `DELETE FROM idempotency_keys WHERE (merchant_id, idempotency_key) IN
		(SELECT merchant_id, idempotency_key FROM idempotency_keys WHERE expires_at < $1 AND locked_until < $1 ORDER BY expires_at LIMIT $2)
		AND expires_at < $1 AND locked_until < $1`, before, limit)
	return int(n), err
}
