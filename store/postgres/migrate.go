package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/store/migration"
)

// migrations holds the schema, one file per version: NNNN_name.sql. The
// SQLite store keeps files with the same numbers, so version N means the
// same schema on both backends.
//
//go:embed migrations/*.sql
var migrations embed.FS

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration.Migration, error) {
	ms, err := migration.Load(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// migrationLock is the first key of the advisory lock that serialises
// migrators; the second is a hash of the schema being migrated, so that
// migrations of different schemas (test runs, tenants) do not wait for
// each other.
const migrationLock = 0x72666e64 // "rfnd"

// Migrate brings the schema up to date: it applies, in version order, each
// embedded migration not yet recorded in schema_migrations, each in its own
// transaction together with its record (DDL is transactional in
// PostgreSQL, so a failed migration leaves nothing behind). Running it
// again changes nothing. Several processes may migrate at once (nodes
// starting together): each transaction first takes a transaction-scoped
// advisory lock, so they run one after the other and the later ones find
// the work done.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	// The versions already recorded are skipped without a transaction
	// each: a node starting on an up-to-date schema asks once. A version
	// missing here is checked again under the lock.
	applied := map[int]bool{}
	var exists, readOnly bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL,
		current_setting('transaction_read_only') = 'on'`).Scan(&exists, &readOnly); err != nil {
		return wrap("migrate", err)
	}
	if readOnly {
		// A standby, say: refundd writes, so it must not start there.
		return errors.New("postgres: the database is read-only (a standby, or default_transaction_read_only): refundd needs the primary")
	}
	if exists {
		rows, err := s.pool.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return wrap("migrate", err)
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return wrap("migrate", err)
		}
		for _, v := range versions {
			applied[v] = true
		}
	}
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return hide(err)
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration.Migration) error {
	// READ COMMITTED, so that the statements after the lock see what the
	// migrator that held it before committed (a REPEATABLE READ snapshot
	// would date from before the lock was granted).
	q, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return wrap("migrate: begin", err)
	}
	defer q.Rollback(context.WithoutCancel(ctx))
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(COALESCE(current_schema(), '')))`, migrationLock); err != nil {
		return wrap("migrate: lock", err)
	}
	if _, err := q.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
	)`); err != nil {
		return wrap("create schema_migrations", err)
	}
	var done bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
		return wrap("migrate", err)
	}
	if done {
		return nil // applied earlier; the deferred rollback ends the transaction
	}
	// Without arguments pgx sends the file as one simple query, so it may
	// hold many statements.
	if _, err := q.Exec(ctx, m.SQL); err != nil {
		return wrap("migrate "+m.Name, err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
		return wrap("migrate "+m.Name, err)
	}
	if err := q.Commit(ctx); err != nil {
		return wrap("migrate "+m.Name+": commit", err)
	}
	return nil
}
