// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the server named by REFUNDD_TEST_POSTGRES, dropped when the
// test ends, so that test runs (and parallel tests) never see each other's
// rows. Tests are skipped, with a message, when the variable is not set.
//
// It is for tests only (store/postgres, server, e2e, cmd); production code
// must not import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the variable that holds the server's URL, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const Env = "REFUNDD_TEST_POSTGRES"

// BaseURL returns the URL in Env, or skips tb when it is empty.
func BaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		tb.Skip(Env + " is not set: skipping the PostgreSQL test (set it to a database URL such as " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run it)")
	}
	return u
}

// URL creates an empty schema refundd_test_<random> and returns the
// database URL with search_path set to it, so that every connection made
// from the URL (a store, a second node, the CLI) works in that schema. The
// schema and everything in it are dropped when tb ends, after the cleanups
// registered later (closing the stores that use it) have run. maxConns caps
// each pool opened from the URL (pool_max_conns); 0 means 8, so parallel
// tests stay within the server's max_connections.
func URL(tb testing.TB, maxConns int) string {
	tb.Helper()
	base := BaseURL(tb)
	b := make([]byte, 8)
	rand.Read(b)
	schema := "refundd_test_" + hex.EncodeToString(b)
	if err := exec(base, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec(base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	// Tests never crash the PostgreSQL server, only refundd's processes,
	// and a commit the server has not flushed is already seen by every
	// session; waiting for each commit's WAL flush made the tests wait on
	// the disk. A store opened outside tests keeps the server's setting.
	params := map[string]string{"search_path": schema, "synchronous_commit": "off"}
	if maxConns <= 0 {
		maxConns = 8
	}
	params["pool_max_conns"] = strconv.Itoa(maxConns)
	return withParams(tb, base, params)
}

// exec runs one statement on a connection of its own.
func exec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// withParams adds query parameters to a postgres:// URL, or key=value
// pairs to a keyword/value connection string.
func withParams(tb testing.TB, dsn string, params map[string]string) string {
	tb.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		for k, v := range params {
			dsn += " " + k + "=" + v
		}
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("pgtest: %s is not a URL: %v", Env, err)
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
