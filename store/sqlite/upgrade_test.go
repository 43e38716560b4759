package sqlite

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/refundd/refundd/refund"
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
	storetest.UpgradeFromEveryVersion(t, len(ms), func(t *testing.T, v int) refund.Store {
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
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// upgradeRows are storetest's upgrade rows in the columns of version v:
// times in nanoseconds, the number of a refund written (0003 on).
func upgradeRows(v int) string {
	const day = int64(1735689600) * 1e9 // 2025-01-01, nanoseconds
	return storetest.UpgradeRows(v, storetest.UpgradeDialect{Day: fmt.Sprint(day), Later: fmt.Sprint(day + 60e9), Finished: "0",
		Hash: "x'" + storetest.UpgradeKeySHA256 + "'", Scopes: "'" + storetest.UpgradeScopes + "'", Numbered: true})
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
