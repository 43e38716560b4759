package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/refund"
)

// tx is one transaction: a write transaction from Update or a read-only
// one from View.
type tx struct {
	q *querier
	// failed fails the Update even if fn returns nil (AdjustBalances).
	failed error
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// exec runs a statement and returns how many rows it changed.
func (t *tx) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	res, err := t.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return n, nil
}

// exists reports whether query returns a row.
func (t *tx) exists(ctx context.Context, op, query string, args ...any) (bool, error) {
	var one int
	err := t.q.QueryRowContext(ctx, query, args...).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, wrap(op, err)
}

const merchantColumns = `id, app_id, name, cr, freelancer, email, mobile, account_no, vat_number, time_zone, created_at`

func scanMerchant(s scanner) (*refund.Merchant, error) {
	var m refund.Merchant
	var created int64
	if err := s.Scan(&m.ID, &m.AppID, &m.Name, &m.CR, &m.Freelancer, &m.Email, &m.Mobile, &m.AccountNo, &m.VATNumber, &m.TimeZone, &created); err != nil {
		return nil, err
	}
	m.CreatedAt = fromNanos(created)
	return &m, nil
}

// CreateMerchant inserts m and assigns m.AppID: one more than the highest
// so far, which the single writer makes safe.
func (t *tx) CreateMerchant(ctx context.Context, m *refund.Merchant) error {
	err := t.q.QueryRowContext(ctx, `INSERT INTO merchants (`+merchantColumns+`)
		VALUES (?, (SELECT COALESCE(MAX(app_id), 0) + 1 FROM merchants), ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING app_id`,
		m.ID, m.Name, m.CR, m.Freelancer, m.Email, m.Mobile, m.AccountNo, m.VATNumber, m.TimeZone, nanos(m.CreatedAt),
	).Scan(&m.AppID)
	if err != nil {
		return wrap("create merchant", err)
	}
	return nil
}

// GetMerchant returns EMerchantNotFound.
func (t *tx) GetMerchant(ctx context.Context, id string) (*refund.Merchant, error) {
	m, err := scanMerchant(t.q.QueryRowContext(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EMerchantNotFound, "", "merchant %q not found", id)
	}
	if err != nil {
		return nil, wrap("get merchant", err)
	}
	return m, nil
}

// LockMerchant only checks the merchant exists: SQLite's writers run one
// at a time.
func (t *tx) LockMerchant(ctx context.Context, merchantID string) error {
	if found, err := t.exists(ctx, "lock merchant", `SELECT 1 FROM merchants WHERE id = ?`, merchantID); err != nil || found {
		return err
	}
	return refund.Errorf(refund.EMerchantNotFound, "", "merchant %q not found", merchantID)
}

// SetMerchantTimeZone returns EMerchantNotFound.
func (t *tx) SetMerchantTimeZone(ctx context.Context, merchantID, zone string) error {
	n, err := t.exec(ctx, "set merchant time zone", `UPDATE merchants SET time_zone = ? WHERE id = ?`, zone, merchantID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EMerchantNotFound, "", "merchant %q not found", merchantID)
	}
	return nil
}

// merchantFields maps FindMerchants' field names to columns.
var merchantFields = map[string]string{
	"cr":         "cr",
	"freelancer": "freelancer",
	"mobile":     "mobile",
	"email":      "email",
	"accountNo":  "account_no",
	"app_id":     "app_id",
}

// FindMerchants returns up to limit merchants (by app_id) whose field
// equals value, among those linked to partnerID when it is set. Emails
// compare without case. An empty value matches nobody. An unknown field
// is EInvalidRequest.
func (t *tx) FindMerchants(ctx context.Context, field, value, partnerID string, limit int) ([]*refund.Merchant, error) {
	col, ok := merchantFields[field]
	if !ok {
		return nil, refund.Errorf(refund.EInvalidRequest, "field", "cannot look merchants up by %q", field)
	}
	if value == "" || limit <= 0 {
		return nil, nil
	}
	var arg any = value
	if col == "app_id" {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return nil, nil
		}
		arg = n
	}
	// col comes from merchantFields, never from the caller.
	where := col + ` = ?1`
	if col == "email" {
		where = `lower(email) = lower(?1)`
	}
	// The partner filter is in the query, not applied to its first rows:
	// an unlinked merchant sharing the value must not hide a linked one.
	rows, err := t.q.QueryContext(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE `+where+`
		AND (?2 = '' OR id IN (SELECT merchant_id FROM partner_merchants WHERE partner_id = ?2))
		ORDER BY app_id LIMIT ?3`, arg, partnerID, limit)
	if err != nil {
		return nil, wrap("find merchants", err)
	}
	defer rows.Close()
	var out []*refund.Merchant
	for rows.Next() {
		m, err := scanMerchant(rows)
		if err != nil {
			return nil, wrap("find merchants", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("find merchants", err)
	}
	return out, nil
}

// CreatePartner inserts p and its merchant links, keeping their order.
func (t *tx) CreatePartner(ctx context.Context, p *refund.Partner) error {
	if _, err := t.exec(ctx, "create partner", `INSERT INTO partners (id, name, created_at) VALUES (?, ?, ?)`,
		p.ID, p.Name, nanos(p.CreatedAt)); err != nil {
		return err
	}
	for i, mid := range p.MerchantIDs {
		if _, err := t.exec(ctx, "link partner", `INSERT INTO partner_merchants (partner_id, merchant_id, position) VALUES (?, ?, ?)`,
			p.ID, mid, i); err != nil {
			return err
		}
	}
	return nil
}

// GetPartner returns EPartnerNotFound.
func (t *tx) GetPartner(ctx context.Context, id string) (*refund.Partner, error) {
	var p refund.Partner
	var created int64
	err := t.q.QueryRowContext(ctx, `SELECT id, name, created_at FROM partners WHERE id = ?`, id).Scan(&p.ID, &p.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EPartnerNotFound, "", "partner %q not found", id)
	}
	if err != nil {
		return nil, wrap("get partner", err)
	}
	p.CreatedAt = fromNanos(created)
	rows, err := t.q.QueryContext(ctx, `SELECT merchant_id FROM partner_merchants WHERE partner_id = ? ORDER BY position`, id)
	if err != nil {
		return nil, wrap("get partner merchants", err)
	}
	defer rows.Close()
	for rows.Next() {
		var mid string
		if err := rows.Scan(&mid); err != nil {
			return nil, wrap("get partner merchants", err)
		}
		p.MerchantIDs = append(p.MerchantIDs, mid)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("get partner merchants", err)
	}
	return &p, nil
}

const apiKeyColumns = `id, prefix, hash, merchant_id, partner_id, scopes, created_at, revoked_at`

func scanAPIKey(s scanner) (*refund.APIKey, error) {
	var k refund.APIKey
	var merchantID, partnerID sql.NullString
	var scopes string
	var created int64
	var revoked sql.NullInt64
	if err := s.Scan(&k.ID, &k.Prefix, &k.Hash, &merchantID, &partnerID, &scopes, &created, &revoked); err != nil {
		return nil, err
	}
	k.MerchantID, k.PartnerID = merchantID.String, partnerID.String
	k.Scopes = strings.Fields(scopes)
	k.CreatedAt, k.RevokedAt = fromNanos(created), fromNullNanos(revoked)
	return &k, nil
}

// nullString stores "" as NULL, for optional references.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func (t *tx) CreateAPIKey(ctx context.Context, k *refund.APIKey) error {
	hash := k.Hash
	if hash == nil {
		hash = []byte{}
	}
	_, err := t.exec(ctx, "create api key", `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Prefix, hash, nullString(k.MerchantID), nullString(k.PartnerID), strings.Join(k.Scopes, " "),
		nanos(k.CreatedAt), nullNanos(k.RevokedAt))
	return err
}

// GetAPIKeyByPrefix returns EKeyNotFound. Revoked keys are returned too:
// the caller decides what a revoked key means.
func (t *tx) GetAPIKeyByPrefix(ctx context.Context, prefix string) (*refund.APIKey, error) {
	k, err := scanAPIKey(t.q.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refund.Errorf(refund.EKeyNotFound, "", "no key with prefix %q", prefix)
	}
	if err != nil {
		return nil, wrap("get api key", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (t *tx) ListAPIKeys(ctx context.Context) ([]*refund.APIKey, error) {
	rows, err := t.q.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list api keys", err)
	}
	defer rows.Close()
	var ks []*refund.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, wrap("list api keys", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list api keys", err)
	}
	return ks, nil
}

// RevokeAPIKey returns EKeyNotFound. Revoking a revoked key keeps the first
// revocation time.
func (t *tx) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	n, err := t.exec(ctx, "revoke api key", `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, nanos(at), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EKeyNotFound, "", "key %q not found", id)
	}
	return nil
}
