//go:build modernc

package sqlite

// The alternative driver, chosen with `-tags modernc`: modernc.org/sqlite,
// SQLite's C translated to Go (no cgo). The default until ncruces measured
// faster on the same bench; kept buildable so that comparison can be run
// again (docs/performance.md).

import (
	"database/sql"
	"errors"
	"net/url"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

const driverName = "sqlite"

// source is the data source name of path with the parameters q: modernc
// reads them from after a plain path's '?'.
func source(path string, q url.Values) string { return path + "?" + q.Encode() }

// writerParams adds nothing, and commitWindow only commits: the WAL write
// gathering (wal_ncruces.go) needs a Go VFS, which this driver does not
// offer in the same way.
func writerParams(url.Values) {}

func commitWindow(_ *sql.Conn, commit func() error) error { return commit() }

// writerState cannot tell, through this driver, what a batch's callers
// changed: every caller of a batch gets its own savepoint (runBatch).
func writerState(*sql.Conn) (changes int64, open, ok bool) { return 0, false, false }

// Result codes, extended where SQLite has one.
const (
	codeBusy       = sqlite3.SQLITE_BUSY
	codeLocked     = sqlite3.SQLITE_LOCKED
	codeUnique     = sqlite3.SQLITE_CONSTRAINT_UNIQUE
	codePrimaryKey = sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
)

// code returns the SQLite extended result code in err's chain.
func code(err error) (int, bool) {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}
