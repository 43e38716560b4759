package service

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/store/sqlite"
)

// Journal keeps the sandbox acquirer's ledger in a SQLite file, one row per
// idempotency key, synced before the acquirer answers (synchronous=FULL):
// what the acquirer said it executed survives its own crash too.
type Journal struct {
	db *sql.DB
}

var _ sandbox.Journal = (*Journal)(nil)

// OpenJournal opens (creating if needed) the ledger file at path.
func OpenJournal(ctx context.Context, path string) (*Journal, error) {
	if path == "" || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sandbox: %q is not a usable ledger file path", path)
	}
	db, err := sqlite.OpenFile(path)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // the acquirer writes under its own lock anyway
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ledger (
		idempotency_key TEXT PRIMARY KEY,
		record          TEXT NOT NULL -- JSON sandbox.Record
	);
	CREATE TABLE IF NOT EXISTS executions ( -- append-only: one row per time money moved
		seq   INTEGER PRIMARY KEY,
		entry TEXT NOT NULL -- JSON sandbox.LogEntry
	)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("sandbox: open ledger %s: %w", path, err)
	}
	return &Journal{db: db}, nil
}

// Load returns every recorded entry, or an error for one the acquirer
// could not restore as it was (Record.Check).
func (j *Journal) Load(ctx context.Context) ([]sandbox.Record, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT record FROM ledger ORDER BY idempotency_key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sandbox.Record
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var r sandbox.Record
		if err := json.Unmarshal([]byte(raw), &r); err != nil {
			return nil, fmt.Errorf("sandbox: ledger row: %w", err)
		}
		if err := r.Check(); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Save records r, replacing the key's previous record, and appends l (if
// any) to the execution log, in one transaction. The log's INSERT is a
// plain one: a row is never replaced, so a second execution of a key is a
// second row.
func (j *Journal) Save(r sandbox.Record, l *sandbox.LogEntry) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tx, err := j.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT INTO ledger (idempotency_key, record) VALUES (?, ?)
		ON CONFLICT (idempotency_key) DO UPDATE SET record = excluded.record`, r.Key, string(raw)); err != nil {
		return err
	}
	if l != nil {
		row, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO executions (seq, entry) VALUES (?, ?)`, l.Seq, string(row)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// LoadLog returns the execution log, oldest first.
func (j *Journal) LoadLog(ctx context.Context) ([]sandbox.LogEntry, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT entry FROM executions ORDER BY seq`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sandbox.LogEntry
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var l sandbox.LogEntry
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("sandbox: execution log row: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Close closes the file.
func (j *Journal) Close() error { return j.db.Close() }
