package sqlitetest_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// TestPathIsWhatOpenMakes: a copy has the schema, indexes, triggers and
// recorded migrations a fresh file gets from sqlite.Open, and each copy
// is a database of its own.
func TestPathIsWhatOpenMakes(t *testing.T) {
	ctx := context.Background()
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	st, err := sqlite.Open(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	a, b := sqlitetest.Path(t), sqlitetest.Path(t)
	if a == b {
		t.Fatalf("two tests' databases share %s", a)
	}
	want := schema(t, fresh)
	if len(want) < 20 {
		t.Fatalf("a fresh database has only %d schema objects: %v", len(want), want)
	}
	if got := schema(t, a); !slices.Equal(got, want) {
		t.Fatalf("the copy's schema differs from a fresh one's:\n got %v\nwant %v", got, want)
	}
	// The store opens the copy as it is.
	st, err = sqlite.Open(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db := open(t, a)
	if _, err := db.Exec(`CREATE TABLE only_in_a (x)`); err != nil {
		t.Fatal(err)
	}
	if got := schema(t, b); !slices.Equal(got, want) {
		t.Fatalf("a write to one copy shows in another: %v", got)
	}
}

// schema lists path's schema objects with their SQL, and the migration
// versions recorded.
func schema(t *testing.T, path string) []string {
	t.Helper()
	db := open(t, path)
	var out []string
	for _, q := range []string{
		`SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name`,
		`SELECT 'migration ' || version FROM schema_migrations ORDER BY version`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// open opens path with whichever SQLite driver the store registered (the
// default one, or modernc's under -tags modernc).
func open(t *testing.T, path string) *sql.DB {
	t.Helper()
	drivers := sql.Drivers()
	i := slices.IndexFunc(drivers, func(d string) bool { return d == "sqlite3" || d == "sqlite" })
	if i < 0 {
		t.Fatalf("no SQLite driver among %v", drivers)
	}
	db, err := sql.Open(drivers[i], "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
