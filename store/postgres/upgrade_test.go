package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/refundd/refundd/store/migration"
	"github.com/refundd/refundd/store/storetest"
)

// TestUpgradeFromEveryVersion migrates a schema from every earlier
// version, holding the rows of an installation (storetest.CheckUpgraded),
// to the latest, and checks what those rows promised still holds.
func TestUpgradeFromEveryVersion(t *testing.T) {
	t.Parallel()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v < len(ms); v++ {
		t.Run(fmt.Sprintf("From%04d", v), func(t *testing.T) {
			url := mustSchema(t)
			pool, err := pgxpool.New(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			old := &Store{pool: pool} // only to apply migrations one by one
			for _, m := range ms[:v] {
				if err := old.apply(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pool.Exec(t.Context(), upgradeRows(v)); err != nil {
				t.Fatalf("the rows of version %d: %v", v, err)
			}
			pool.Close()
			storetest.CheckUpgraded(t, mustOpenURL(t, url))
		})
	}
}

// upgradeRows are storetest's upgrade rows in the columns of version v:
// idempotency_keys.refund_id became object_id in 0007; refunds.number
// (0003) numbers itself.
func upgradeRows(v int) string {
	object := "refund_id"
	if v >= 7 {
		object = "object_id"
	}
	r := strings.NewReplacer("{day}", "'2025-01-01T00:00:00Z'", "{later}", "'2025-01-01T00:01:00Z'", "{object}", object,
		"{hash}", storetest.UpgradeKeySHA256, "{scopes}", storetest.UpgradeScopes)
	return r.Replace(`
INSERT INTO merchants (id, app_id, name, created_at) VALUES ('mer_old', 1, 'Old Souq', {day});
INSERT INTO api_keys (id, prefix, hash, merchant_id, scopes, created_at) VALUES ('key_old', 'rk_0123456789ab', '\x{hash}', 'mer_old', string_to_array('{scopes}', ' '), {day});
INSERT INTO orders (id, merchant_id, reference, currency, amount, captured_amount, refunded_amount, pending_refund_amount, payment_method, refund_count, created_at, updated_at)
    VALUES ('ord_old', 'mer_old', 'OLD-1', 'SAR', 10000, 10000, 3000, 2000, 'card', 3, {day}, {day});
INSERT INTO transactions (id, order_id, seq, type, status, amount, refunded_amount, pending_amount, created_at)
    VALUES ('txn_old', 'ord_old', 1, 'capture', 'succeeded', 10000, 3000, 2000, {day});
INSERT INTO refunds (id, merchant_id, order_id, seq, amount, currency, status, capture_id, surface, attempts, next_attempt_at, version, created_at, updated_at) VALUES
    ('re_old_s', 'mer_old', 'ord_old', 1, 3000, 'SAR', 'succeeded', 'txn_old', 'native', 1, {later}, 3, {day}, {later}),
    ('re_old_p', 'mer_old', 'ord_old', 2, 2000, 'SAR', 'processing', 'txn_old', 'native', 1, {later}, 2, {day}, {day}),
    ('re_old_f', 'mer_old', 'ord_old', 3, 1000, 'SAR', 'failed', 'txn_old', 'native', 1, {later}, 3, {day}, {later});
INSERT INTO refund_transitions (refund_id, from_status, to_status, cause, at) VALUES
    ('re_old_s', '', 'pending', 'created', {day}), ('re_old_s', 'pending', 'processing', 'submitted', {day}),
    ('re_old_s', 'processing', 'succeeded', 'approved', {later}),
    ('re_old_p', '', 'pending', 'created', {day}), ('re_old_p', 'pending', 'processing', 'submitted', {day}),
    ('re_old_f', '', 'pending', 'created', {day}), ('re_old_f', 'pending', 'processing', 'submitted', {day}),
    ('re_old_f', 'processing', 'failed', 'declined', {later});
INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_hash, {object}, locked_until, created_at, expires_at, completed_at)
    VALUES ('mer_old', 'old-key', 'h', 're_old_s', {day}, {day}, {later}, {later});
`)
}

// TestFailedMigrationLeavesNothing: a migration that fails part-way
// leaves none of its statements behind and is not recorded, so the next
// start runs it again whole (PostgreSQL's DDL is transactional, and the
// migration runs in one transaction with its record).
func TestFailedMigrationLeavesNothing(t *testing.T) {
	t.Parallel()
	url := mustSchema(t)
	s := mustOpenURL(t, url)
	bad := migration.Migration{Version: 9999, Name: "9999_half.sql", SQL: `CREATE TABLE half (a INTEGER);
ALTER TABLE refunds ADD COLUMN half INTEGER;
UPDATE orders SET description = 'half';
INSERT INTO no_such_table VALUES (1);
CREATE TABLE never (a INTEGER);`}
	if err := s.apply(t.Context(), bad); err == nil {
		t.Fatal("a migration with a failing statement applied")
	}
	var tables, columns, recorded int
	if err := s.pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('half', 'never')),
		(SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'refunds' AND column_name = 'half'),
		(SELECT count(*) FROM schema_migrations WHERE version = 9999)`).Scan(&tables, &columns, &recorded); err != nil {
		t.Fatal(err)
	}
	if tables+columns+recorded != 0 {
		t.Fatalf("after the failed migration: %d of its tables, %d of its columns, recorded %d times; want none", tables, columns, recorded)
	}
	mustOpenURL(t, url) // starts again
}
