package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/refundd/refundd/refund"
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
	storetest.UpgradeFromEveryVersion(t, len(ms), func(t *testing.T, v int) refund.Store {
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
		return mustOpenURL(t, url)
	})
}

// upgradeRows are storetest's upgrade rows in the columns of version v:
// refunds.number (0003) numbers itself.
func upgradeRows(v int) string {
	return storetest.UpgradeRows(v, storetest.UpgradeDialect{Day: "'2025-01-01T00:00:00Z'", Later: "'2025-01-01T00:01:00Z'",
		Finished: "'2025-01-01T00:01:00Z'", Hash: `'\x` + storetest.UpgradeKeySHA256 + "'",
		Scopes: "string_to_array('" + storetest.UpgradeScopes + "', ' ')", LockedUntil: true})
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
