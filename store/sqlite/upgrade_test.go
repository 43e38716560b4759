package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refundd/refundd/store/migration"
	"github.com/refundd/refundd/store/storetest"
)

// TestUpgradeFromEveryVersion migrates a file from every earlier schema
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
			t.Parallel()
			path := filepath.Join(t.TempDir(), "refundd.db")
			db, err := sql.Open(driverName, dsn(path, roleMigrator))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(t.Context(), `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			for _, m := range ms[:v] {
				if err := apply(t.Context(), db, m); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.ExecContext(t.Context(), upgradeRows(v)); err != nil {
				t.Fatalf("the rows of version %d: %v", v, err)
			}
			db.Close()
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Fatalf("upgrade from version %d: %v", v, err)
			}
			defer s.Close()
			storetest.CheckUpgraded(t, s)
		})
	}
}

// upgradeRows are storetest's upgrade rows in the columns of version v:
// idempotency_keys.refund_id became object_id in 0007, refunds.number
// came in 0003.
func upgradeRows(v int) string {
	const day = int64(1735689600) * 1e9 // 2025-01-01, nanoseconds
	number := func(n int) string {
		if v < 3 {
			return ""
		}
		return fmt.Sprint(", ", n)
	}
	numberCol := ""
	if v >= 3 {
		numberCol = ", number"
	}
	object := "refund_id"
	if v >= 7 {
		object = "object_id"
	}
	r := strings.NewReplacer("{day}", fmt.Sprint(day), "{later}", fmt.Sprint(day+60e9), "{number}", numberCol,
		"{n1}", number(1), "{n2}", number(2), "{n3}", number(3), "{object}", object,
		"{hash}", storetest.UpgradeKeySHA256, "{scopes}", storetest.UpgradeScopes)
	return r.Replace(`
INSERT INTO merchants (id, app_id, name, created_at) VALUES ('mer_old', 1, 'Old Souq', {day});
INSERT INTO api_keys (id, prefix, hash, merchant_id, scopes, created_at) VALUES ('key_old', 'rk_0123456789ab', x'{hash}', 'mer_old', '{scopes}', {day});
INSERT INTO orders (id, merchant_id, reference, currency, amount, captured_amount, refunded_amount, pending_refund_amount, payment_method, refund_count, created_at, updated_at)
    VALUES ('ord_old', 'mer_old', 'OLD-1', 'SAR', 10000, 10000, 3000, 2000, 'card', 3, {day}, {day});
INSERT INTO transactions (id, order_id, seq, type, status, amount, refunded_amount, pending_amount, created_at)
    VALUES ('txn_old', 'ord_old', 1, 'capture', 'succeeded', 10000, 3000, 2000, {day});
INSERT INTO refunds (id, merchant_id, order_id, seq, amount, currency, status, capture_id, surface, attempts, next_attempt_at, version, created_at, updated_at{number}) VALUES
    ('re_old_s', 'mer_old', 'ord_old', 1, 3000, 'SAR', 'succeeded', 'txn_old', 'native', 1, 0, 3, {day}, {later}{n1}),
    ('re_old_p', 'mer_old', 'ord_old', 2, 2000, 'SAR', 'processing', 'txn_old', 'native', 1, {later}, 2, {day}, {day}{n2}),
    ('re_old_f', 'mer_old', 'ord_old', 3, 1000, 'SAR', 'failed', 'txn_old', 'native', 1, 0, 3, {day}, {later}{n3});
INSERT INTO refund_transitions (refund_id, from_status, to_status, cause, at) VALUES
    ('re_old_s', '', 'pending', 'created', {day}), ('re_old_s', 'pending', 'processing', 'submitted', {day}),
    ('re_old_s', 'processing', 'succeeded', 'approved', {later}),
    ('re_old_p', '', 'pending', 'created', {day}), ('re_old_p', 'pending', 'processing', 'submitted', {day}),
    ('re_old_f', '', 'pending', 'created', {day}), ('re_old_f', 'pending', 'processing', 'submitted', {day}),
    ('re_old_f', 'processing', 'failed', 'declined', {later});
INSERT INTO idempotency_keys (merchant_id, idempotency_key, request_hash, {object}, created_at, expires_at, completed_at)
    VALUES ('mer_old', 'old-key', 'h', 're_old_s', {day}, {later}, {later});
`)
}

// TestFailedMigrationLeavesNothing: a migration that fails part-way
// leaves none of its statements behind and is not recorded, so the next
// start runs it again whole (SQLite's DDL is transactional, and the
// migration runs in one transaction with its record).
func TestFailedMigrationLeavesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "refundd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open(driverName, dsn(path, roleMigrator))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bad := migration.Migration{Version: 9999, Name: "9999_half.sql", SQL: `CREATE TABLE half (a INTEGER);
ALTER TABLE refunds ADD COLUMN half INTEGER;
UPDATE orders SET description = 'half';
INSERT INTO no_such_table VALUES (1);
CREATE TABLE never (a INTEGER);`}
	if err := apply(t.Context(), db, bad); err == nil {
		t.Fatal("a migration with a failing statement applied")
	}
	var tables, columns, recorded int
	if err := db.QueryRowContext(t.Context(), `SELECT
		(SELECT count(*) FROM sqlite_master WHERE name IN ('half', 'never')),
		(SELECT count(*) FROM pragma_table_info('refunds') WHERE name = 'half'),
		(SELECT count(*) FROM schema_migrations WHERE version = 9999)`).Scan(&tables, &columns, &recorded); err != nil {
		t.Fatal(err)
	}
	if tables+columns+recorded != 0 {
		t.Fatalf("after the failed migration: %d of its tables, %d of its columns, recorded %d times; want none", tables, columns, recorded)
	}
	if s, err := Open(t.Context(), path); err != nil {
		t.Fatalf("reopen after the failed migration: %v", err)
	} else {
		s.Close()
	}
}
