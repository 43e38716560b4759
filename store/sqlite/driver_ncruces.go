//go:build !modernc

package sqlite

// The default driver: github.com/ncruces/go-sqlite3, SQLite built to Wasm
// and translated to Go (no cgo). `-tags modernc` builds driver_modernc.go
// instead; see docs/performance.md for the two measured side by side.

import (
	"database/sql"
	"errors"
	"net/url"
	"strings"

	"github.com/ncruces/go-sqlite3"
	sqlite3driver "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"
)

const driverName = "sqlite3"

// source is the data source name of path with the parameters q: ncruces
// reads them only from a "file:" URI, whose path must escape '%' and '#'
// (Open already refuses '?').
func source(path string, q url.Values) string {
	return "file:" + uriPath.Replace(path) + "?" + q.Encode()
}

var uriPath = strings.NewReplacer("%", "%25", "#", "%23")

// Result codes, extended where SQLite has one.
const (
	codeBusy       = int(sqlite3.BUSY)
	codeLocked     = int(sqlite3.LOCKED)
	codeUnique     = int(sqlite3.CONSTRAINT_UNIQUE)
	codePrimaryKey = int(sqlite3.CONSTRAINT_PRIMARYKEY)
)

// code returns the SQLite extended result code in err's chain. ncruces
// returns some errors as a bare ErrorCode or ExtendedErrorCode (BUSY from
// BEGIN, for one), not only as *Error; all three convert to this one.
func code(err error) (int, bool) {
	var c sqlite3.ExtendedErrorCode
	if errors.As(err, &c) {
		return int(c), true
	}
	return 0, false
}

// writerState reports how many rows conn has changed since it opened
// (sqlite3_total_changes64: every INSERT, UPDATE and DELETE that
// completed, triggers' included) and whether its transaction is still
// open; ok is false if the driver cannot tell.
func writerState(conn *sql.Conn) (changes int64, open, ok bool) {
	err := conn.Raw(func(dc any) error {
		raw := dc.(sqlite3driver.Conn).Raw()
		changes, open = raw.TotalChanges(), !raw.GetAutocommit()
		return nil
	})
	return changes, open, err == nil
}
