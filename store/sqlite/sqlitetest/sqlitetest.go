// Package sqlitetest gives tests a SQLite database file of their own,
// already at the current schema.
//
// A fresh file runs every migration when the store opens it, and under the
// race detector the WebAssembly SQLite is slow enough that this was a third
// of the console and server tests' CPU. The migrations run once per test
// process, into a template; each test gets a copy. The copy is what
// sqlite.Open would have made, so the store under test is the real one;
// the store's own tests, and the CLI's migrate and demo tests, still
// migrate fresh files.
//
// It is for tests only; production code must not import it.
package sqlitetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/refundd/refundd/store/sqlite"
)

// name is the database's file name in each test's directory.
const name = "refundd.db"

var template struct {
	once  sync.Once
	files map[string][]byte // by suffix after name: "" and "-wal"
	err   error
}

// Path returns the path of a database file at the current schema in a
// directory of tb's own (tb.TempDir), removed when tb ends. Open it with
// sqlite.Open, or hand "sqlite:"+Path to the server or the CLI.
func Path(tb testing.TB) string {
	tb.Helper()
	template.once.Do(makeTemplate)
	if template.err != nil {
		tb.Fatalf("sqlitetest: %v", template.err)
	}
	path := filepath.Join(tb.TempDir(), name)
	for suffix, b := range template.files {
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			tb.Fatalf("sqlitetest: %v", err)
		}
	}
	return path
}

// URL is Path as a database URL: sqlite:PATH.
func URL(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + Path(tb)
}

// makeTemplate migrates a file in a directory of its own, closes it and
// keeps its bytes. Closing the last connection checkpoints the WAL into
// the file; a WAL left behind is kept too, so the copy holds every commit
// either way. The shared-memory index is not copied: SQLite rebuilds it.
func makeTemplate() {
	dir, err := os.MkdirTemp("", "refundd-sqlitetest-")
	if err != nil {
		template.err = err
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		template.err = fmt.Errorf("migrate the template: %w", err)
		return
	}
	if err := st.Close(); err != nil {
		template.err = fmt.Errorf("close the template: %w", err)
		return
	}
	template.files = map[string][]byte{}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		switch {
		case os.IsNotExist(err) && suffix != "":
		case err != nil:
			template.err = err
			return
		default:
			template.files[suffix] = b
		}
	}
}
