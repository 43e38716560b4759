package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/refundd/refundd/refund"
)

// tx is one transaction: a read-write one from Update or a read-only one
// from View.
type tx struct {
	q *pipe
	// write is set inside Update: reads of rows the caller may write back
	// lock them (see forUpdate).
	write bool
	// failed is the first driver error of the transaction, which aborts
	// it in PostgreSQL; Update retries on it even if fn swallowed it.
	failed error
	// ahead is what the transaction read before it was asked (see ahead).
	ahead ahead
	// invoiceReads, when not nil, go with the next guarded update.
	invoiceReads *invoiceReads
	// chains is the store's set of merchants known to invoice (inside
	// Update; see batchMerchants).
	chains *sync.Map
	// lockedOrder is the order GetOrderForRefund read and locked in this
	// transaction, and lockedCount its refund count from then on: a
	// reservation on it is held (see holdReserve).
	lockedOrder string
	lockedCount int
	// refundLocked: the transaction read a refund's row inside Update,
	// which locks it (GetOrderForRefund then leaves the order unlocked).
	refundLocked bool
	// ordersLocked are the orders whose rows an earlier statement of the
	// transaction locked: a locked read, or a guarded update held or
	// answered (a held one that is refused fails the transaction).
	ordersLocked []string
	// claimed are the idempotency keys this transaction inserted.
	claimed []idemKey
	// numberLater: CreateRefund's insert, after ReserveRefund, takes the
	// refund's number from the column and hands it back with its round
	// trip.
	numberLater bool
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// fail is wrap for a statement of t: it also remembers the first driver
// error, which aborts the transaction.
func (t *tx) fail(op string, err error) error {
	var re *refund.Error
	if errors.As(err, &re) {
		// A held statement's check refused and its answer arrived with
		// this statement (see pipe): it is the caller's, as it stands.
		return err
	}
	err = wrap(op, err)
	if t.failed == nil {
		t.failed = err
	}
	return err
}

// forUpdate is the locking clause of a read whose row the caller may write
// back. Inside Update it locks the row until commit, so that a concurrent
// read-check-write of the same row (two requests applying a processor
// answer, a cancel racing the worker) waits and then sees the first one's
// result, as SQLite's single writer would have it, instead of failing on
// the version check. NO KEY UPDATE, not UPDATE: ids never change, and the
// weaker lock does not block inserts of rows that reference this one.
func (t *tx) forUpdate() string {
	if t.write {
		return " FOR NO KEY UPDATE"
	}
	return ""
}

// exec runs a statement and returns how many rows it changed.
func (t *tx) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	tag, err := t.q.Exec(ctx, query, args...)
	if err != nil {
		return 0, t.fail(op, err)
	}
	return tag.RowsAffected(), nil
}

// later is exec for a write whose result nothing waits for: inside Update
// it travels with the transaction's next round trip (see pipe).
func (t *tx) later(ctx context.Context, op, query string, args ...any) error {
	if t.write {
		t.q.later(op, query, args...)
		return nil
	}
	if _, err := t.q.Exec(ctx, query, args...); err != nil {
		return t.fail(op, err)
	}
	return nil
}

// lockOrder notes that the transaction holds the order's row lock.
func (t *tx) lockOrder(id string) {
	if !slices.Contains(t.ordersLocked, id) {
		t.ordersLocked = append(t.ordersLocked, id)
	}
}

// join is later for a write that may share its statement with the
// writes held around it (see pipe.join): it changes table and reads
// nothing the others write.
func (t *tx) join(ctx context.Context, op, table, query string, args ...any) error {
	if t.write {
		t.q.join(table, held{op: op, sql: query, args: args})
		return nil
	}
	return t.later(ctx, op, query, args...)
}

// refusing is later for a write checked in the server: query returns one
// row, or raises through refundd_refuse (migration 0017) with a reason
// that refused turns into the caller's error. Inside Update the refusal
// arrives with the transaction's next round trip, or from Update itself,
// and the transaction commits nothing.
func (t *tx) refusing(ctx context.Context, op string, refused func(why string) error, query string, args ...any) error {
	if t.write {
		t.q.hold(held{op: op, sql: query, args: args, scan: scanTrue, refused: refused})
		return nil
	}
	err := scanTrue(t.q.QueryRow(ctx, query, args...))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == refusal {
		return refused(pe.Message)
	}
	if err != nil {
		return t.fail(op, err)
	}
	return nil
}

// scanTrue reads the one boolean a refusing statement returns when it
// does not raise.
func scanTrue(row pgx.Row) error {
	var ok bool
	return row.Scan(&ok)
}

// exists reports whether query returns a row.
func (t *tx) exists(ctx context.Context, op, query string, args ...any) (bool, error) {
	var one int
	err := t.q.QueryRow(ctx, query, args...).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	}
	return false, t.fail(op, err)
}

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, t *tx, op, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	rows, err := t.q.Query(ctx, query, args...)
	if err != nil {
		return nil, t.fail(op, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if err != nil {
		return nil, t.fail(op, err)
	}
	if len(out) == 0 {
		return nil, nil // as the SQLite store answers an empty list
	}
	return out, nil
}

// params numbers the parameters of a query built from a filter.
type params []any

// add appends v and returns its placeholder ($1, $2, ...).
func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// limit is a list's page size: 100 unless the filter says.
func limit(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

// nullString stores "" as NULL, for optional references.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const merchantColumns = `id, app_id, name, cr, freelancer, email, mobile, account_no, vat_number, time_zone, created_at`

// merchantByID reads one merchant for scanMerchant.
const merchantByID = `SELECT ` + merchantColumns + ` FROM merchants WHERE id = $1`

func scanMerchant(s scanner) (*refund.Merchant, error) {
	var m refund.Merchant
	if err := s.Scan(&m.ID, &m.AppID, &m.Name, &m.CR, &m.Freelancer, &m.Email, &m.Mobile, &m.AccountNo, &m.VATNumber, &m.TimeZone, &m.CreatedAt); err != nil {
		return nil, err
	}
	return &m, nil
}

// CreateMerchant inserts m and assigns m.AppID from the column's identity
// sequence: distinct across nodes without a read-then-write (numbers of
// rolled-back inserts are skipped).
func (t *tx) CreateMerchant(ctx context.Context, m *refund.Merchant) error {
	err := t.q.QueryRow(ctx, `INSERT INTO merchants (id, name, cr, freelancer, email, mobile, account_no, vat_number, time_zone, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING app_id`,
		m.ID, m.Name, m.CR, m.Freelancer, m.Email, m.Mobile, m.AccountNo, m.VATNumber, m.TimeZone, m.CreatedAt,
	).Scan(&m.AppID)
	if err != nil {
		return t.fail("create merchant", err)
	}
	return nil
}

// GetMerchant returns EMerchantNotFound.
func (t *tx) GetMerchant(ctx context.Context, id string) (*refund.Merchant, error) {
	if v, ok := t.recall(aheadMerchant + id); ok {
		m := *v.(*refund.Merchant)
		return &m, nil
	}
	m, err := scanMerchant(t.q.QueryRow(ctx, merchantByID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EMerchantNotFound, "", "merchant %q not found", id)
	}
	if err != nil {
		return nil, t.fail("get merchant", err)
	}
	return m, nil
}

// SetMerchantTimeZone returns EMerchantNotFound.
func (t *tx) SetMerchantTimeZone(ctx context.Context, merchantID, zone string) error {
	t.forget(aheadMerchant)
	n, err := t.exec(ctx, "set merchant time zone", `UPDATE merchants SET time_zone = $1 WHERE id = $2`, zone, merchantID)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EMerchantNotFound, "", "merchant %q not found", merchantID)
	}
	return nil
}

// LockMerchant takes the merchant's row FOR NO KEY UPDATE: it orders
// those who lock it, and leaves alone the key-share locks every refund's
// foreign keys take on it.
func (t *tx) LockMerchant(ctx context.Context, merchantID string) error {
	if found, err := t.exists(ctx, "lock merchant", `SELECT 1 FROM merchants WHERE id = $1 FOR NO KEY UPDATE`, merchantID); err != nil || found {
		return err
	}
	return refund.Errorf(refund.EMerchantNotFound, "", "merchant %q not found", merchantID)
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
	where := col + ` = $1`
	if col == "email" {
		// Case folds ASCII letters only, as SQLite's lower() does: in
		// the database's UTF-8 locale lower() also folded Ä to ä, and
		// one address found a merchant on PostgreSQL and none on SQLite.
		where = `lower(email COLLATE "C") = lower($1 COLLATE "C")`
	}
	// The partner filter is in the query, not applied to its first rows:
	// an unlinked merchant sharing the value must not hide a linked one.
	rows, err := t.q.Query(ctx, `SELECT `+merchantColumns+` FROM merchants WHERE `+where+`
		AND ($2 = '' OR id IN (SELECT merchant_id FROM partner_merchants WHERE partner_id = $2))
		ORDER BY app_id LIMIT $3`, arg, partnerID, limit)
	if err != nil {
		return nil, t.fail("find merchants", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*refund.Merchant, error) { return scanMerchant(r) })
	if err != nil {
		return nil, t.fail("find merchants", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// CreatePartner inserts p and its merchant links, keeping their order.
func (t *tx) CreatePartner(ctx context.Context, p *refund.Partner) error {
	if _, err := t.exec(ctx, "create partner", `INSERT INTO partners (id, name, created_at) VALUES ($1, $2, $3)`,
		p.ID, p.Name, p.CreatedAt); err != nil {
		return err
	}
	if len(p.MerchantIDs) == 0 {
		return nil
	}
	// One statement for all links; WITH ORDINALITY keeps their order.
	_, err := t.exec(ctx, "link partner", `INSERT INTO partner_merchants (partner_id, merchant_id, position)
		SELECT $1, m.id, m.n - 1 FROM unnest($2::text[]) WITH ORDINALITY AS m (id, n)`, p.ID, p.MerchantIDs)
	return err
}

// GetPartner returns EPartnerNotFound.
func (t *tx) GetPartner(ctx context.Context, id string) (*refund.Partner, error) {
	var p refund.Partner
	err := t.q.QueryRow(ctx, `SELECT id, name, created_at,
		ARRAY(SELECT merchant_id FROM partner_merchants WHERE partner_id = p.id ORDER BY position)
		FROM partners p WHERE id = $1`, id).Scan(&p.ID, &p.Name, &p.CreatedAt, &p.MerchantIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EPartnerNotFound, "", "partner %q not found", id)
	}
	if err != nil {
		return nil, t.fail("get partner", err)
	}
	if len(p.MerchantIDs) == 0 {
		p.MerchantIDs = nil // as the SQLite store reads a partner without links
	}
	return &p, nil
}

const apiKeyColumns = `id, prefix, hash, merchant_id, partner_id, scopes, created_at, revoked_at`

func scanAPIKey(s scanner) (*refund.APIKey, error) {
	var k refund.APIKey
	var merchantID, partnerID *string
	if err := s.Scan(&k.ID, &k.Prefix, &k.Hash, &merchantID, &partnerID, &k.Scopes, &k.CreatedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	if merchantID != nil {
		k.MerchantID = *merchantID
	}
	if partnerID != nil {
		k.PartnerID = *partnerID
	}
	return &k, nil
}

func (t *tx) CreateAPIKey(ctx context.Context, k *refund.APIKey) error {
	hash, scopes := k.Hash, k.Scopes
	if hash == nil {
		hash = []byte{} // NOT NULL; pgx sends a nil slice as NULL
	}
	if scopes == nil {
		scopes = []string{}
	}
	// Every node drops the prefix from its cache when (and only if) this
	// transaction commits: one that saw it as unknown must not refuse it.
	_, err := t.exec(ctx, "create api key", `WITH k AS (INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING prefix)
		SELECT pg_notify('`+keysChannel+`', prefix) FROM k`,
		k.ID, k.Prefix, hash, nullString(k.MerchantID), nullString(k.PartnerID), scopes, k.CreatedAt, k.RevokedAt)
	return err
}

// GetAPIKeyByPrefix returns EKeyNotFound. Revoked keys are returned too:
// the caller decides what a revoked key means.
func (t *tx) GetAPIKeyByPrefix(ctx context.Context, prefix string) (*refund.APIKey, error) {
	k, err := scanAPIKey(t.q.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, refund.Errorf(refund.EKeyNotFound, "", "no key with prefix %q", prefix)
	}
	if err != nil {
		return nil, t.fail("get api key", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, oldest first.
func (t *tx) ListAPIKeys(ctx context.Context) ([]*refund.APIKey, error) {
	return queryAll(ctx, t, "list api keys", `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`, scanAPIKey)
}

// RevokeAPIKey returns EKeyNotFound. Revoking a revoked key keeps the first
// revocation time.
func (t *tx) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	// The notification goes out when (and only if) this transaction
	// commits: every node's key cache drops the key then.
	n, err := t.exec(ctx, "revoke api key", `WITH k AS (UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING prefix)
		SELECT pg_notify('`+keysChannel+`', prefix) FROM k`, at, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return refund.Errorf(refund.EKeyNotFound, "", "key %q not found", id)
	}
	return nil
}
