package sqlite

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"
)

// OpenFile opens the SQLite file at path with this build's driver for a
// component that keeps a small file of its own beside the store (the
// sandbox acquirer's journal, tests reading the store's file): WAL,
// synchronous=FULL, a 10 s busy timeout. It exists so that one binary
// carries one SQLite driver.
func OpenFile(path string) (*sql.DB, error) {
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("sqlite: %q is not a usable database file path", path)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	db, err := sql.Open(driverName, source(path, q))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, hide(err))
	}
	return db, nil
}
