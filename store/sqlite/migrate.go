package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/refundd/refundd/store/migration"
)

// migrations holds the schema, one file per version: NNNN_name.sql. The
// PostgreSQL store keeps files with the same numbers, so version N means
// the same schema on both backends.
//
//go:embed migrations/*.sql
var migrations embed.FS

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration.Migration, error) {
	ms, err := migration.Load(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return ms, nil
}

// Migrate brings the schema up to date: it applies, in version order, each
// embedded migration not yet recorded in schema_migrations, each in its own
// transaction together with its record. Running it again changes nothing,
// and two processes migrating one file at once are serialised by the write
// lock every write transaction takes at BEGIN.
//
// It runs on a connection of its own, which SQLite's file lock serialises
// with the committer like any other process's, and which keeps a large
// migration's savepoint journal on disk, not in memory as the committer's
// (dsn).
func (s *Store) Migrate(ctx context.Context) error {
	db, err := sql.Open(driverName, dsn(s.path, roleMigrator))
	if err != nil {
		return hide(wrap("migrate: open", err))
	}
	defer db.Close()
	return migrate(ctx, db)
}

func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return hide(wrap("create schema_migrations", err))
	}
	for _, m := range ms {
		if err := apply(ctx, db, m); err != nil {
			return hide(err)
		}
	}
	return nil
}

// apply runs one migration on a connection of its own with foreign key
// enforcement off, as SQLite's procedure for rebuilding a table requires
// (the pragma is a no-op inside a transaction), and checks every foreign
// key before it commits, so a migration can never leave a dangling one.
func apply(ctx context.Context, db *sql.DB, m migration.Migration) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return wrap("migrate: connect", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF`); err != nil {
		return wrap("migrate: foreign keys off", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA foreign_keys = ON`)
	q, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return wrap("migrate: begin", err)
	}
	defer q.Rollback()
	var done int
	err = q.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.Version).Scan(&done)
	switch {
	case err == nil:
		return nil // applied earlier
	case !errors.Is(err, sql.ErrNoRows):
		return wrap("migrate", err)
	}
	if _, err := q.ExecContext(ctx, m.SQL); err != nil {
		return wrap("migrate "+m.Name, err)
	}
	var dangling int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM pragma_foreign_key_check`).Scan(&dangling); err != nil {
		return wrap("migrate "+m.Name+": foreign key check", err)
	}
	if dangling > 0 {
		return fmt.Errorf("sqlite: migrate %s: %d rows would break a foreign key", m.Name, dangling)
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.Version, time.Now().UnixNano()); err != nil {
		return wrap("migrate "+m.Name, err)
	}
	if err := q.Commit(); err != nil {
		return wrap("migrate "+m.Name+": commit", err)
	}
	return nil
}
