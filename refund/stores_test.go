package refund_test

import (
	"context"
	"os"
	"testing"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres"
	"github.com/refundd/refundd/store/postgres/pgtest"
	"github.com/refundd/refundd/store/sqlite"
	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// opener opens a fresh store for one test, closed when the test ends.
type opener func(t *testing.T) refund.Store

// The Service's tests whose paths differ most between the stores (the
// invoices: PostgreSQL reads them ahead, pipelines their writes and
// refuses in the server) run on both: SQLite always, PostgreSQL when
// REFUNDD_TEST_POSTGRES names a server (pgtest skips it otherwise).
var storeKinds = []struct {
	name string
	open opener
}{
	{"sqlite", openSQLite},
	{"postgres", openPostgres},
}

// onEachStore runs fn as a subtest per store kind.
func onEachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) { fn(t, k.open) })
	}
}

func openSQLite(t *testing.T) refund.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlitetest.Path(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t *testing.T) refund.Store {
	t.Helper()
	return openPostgresURL(t, postgresSchema(t))
}

// postgresSchema is an empty migrated schema of the test's own, from
// pgtest's pool (pgtest.Migrated).
func postgresSchema(t *testing.T) string {
	return pgtest.Migrated(t, 8, func(ctx context.Context, url string) error {
		st, err := postgres.Open(ctx, url)
		if err != nil {
			return err
		}
		return st.Close()
	})
}

func TestMain(m *testing.M) { os.Exit(pgtest.AfterTests(m.Run())) }

// openPostgresURL opens a store on url, a schema pgtest made.
func openPostgresURL(t *testing.T, url string) refund.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// twoNodes opens the stores of two nodes sharing one database: on SQLite
// one store (one process), on PostgreSQL two pools on one schema.
var twoNodes = []struct {
	name string
	open func(t *testing.T) [2]refund.Store
}{
	{"sqlite", func(t *testing.T) [2]refund.Store { st := openSQLite(t); return [2]refund.Store{st, st} }},
	{"postgres", func(t *testing.T) [2]refund.Store {
		url := postgresSchema(t)
		return [2]refund.Store{openPostgresURL(t, url), openPostgresURL(t, url)}
	}},
}
