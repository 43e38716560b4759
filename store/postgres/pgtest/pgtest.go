// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the server named by REFUNDD_TEST_POSTGRES, dropped when the
// test ends, so that test runs (and parallel tests) never see each other's
// rows. Tests are skipped, with a message, when the variable is not set.
//
// Migrated hands out schemas already migrated, from a pool the test
// process keeps: creating and migrating a schema costs the server about as
// much as a short test, and the conformance suite alone asks for hundreds.
//
// It is for tests only (store/postgres, server, e2e, cmd); production code
// must not import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
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
	return schemaURL(tb, base, schema, maxConns)
}

// schemaURL returns base with search_path set to schema and the pool
// capped at maxConns (0 means 8).
func schemaURL(tb testing.TB, base, schema string, maxConns int) string {
	tb.Helper()
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

// connect opens a connection of its own to dsn, for at most 30 seconds
// of work; the caller closes it and calls cancel.
func connect(dsn string) (context.Context, context.CancelFunc, *pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("connect: %w", err)
	}
	return ctx, cancel, c, nil
}

// exec runs one statement on a connection of its own.
func exec(dsn, sql string) error {
	ctx, cancel, c, err := connect(dsn)
	if err != nil {
		return err
	}
	defer cancel()
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
	u, err := addParams(dsn, params)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return u
}

func addParams(dsn string, params map[string]string) (string, error) {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		for k, v := range params {
			dsn += " " + k + "=" + v
		}
		return dsn, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL: %v", Env, err)
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Migrated is URL for a test that wants the schema already migrated (by
// migrate, which store/postgres's Open or Migrate does, given the schema's
// URL). The schema comes from the process's pool: when tb ends, after the
// stores on it are closed, its rows are deleted and its sequences
// restarted, and it goes back to the pool for the next test; one that
// cannot be emptied is dropped instead. Every caller in a process must
// migrate the same way. A test that changes the schema itself (adds a
// table, runs old migrations) or reads the planner's statistics must use
// URL. A package that calls Migrated calls AfterTests from its TestMain;
// pools a killed process left behind are dropped by the next run after a
// day.
func Migrated(tb testing.TB, maxConns int, migrate func(ctx context.Context, url string) error) string {
	tb.Helper()
	base := BaseURL(tb)
	schema, err := pool.take(base, migrate)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := pool.give(base, schema); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	// Connections from the URL name the schema, so that give can tell a
	// store left open on it.
	return withParams(tb, schemaURL(tb, base, schema, maxConns), map[string]string{"application_name": schema})
}

// AfterTests drops the schemas Migrated handed out, once the tests are
// done, and returns the code the test binary exits with: code, or 1 when
// a schema could not be dropped. A TestMain calls it with m.Run's code.
func AfterTests(code int) int {
	pool.mu.Lock()
	free, base := pool.free, pool.base
	pool.free = nil
	pool.mu.Unlock()
	var errs []error
	for _, schema := range free {
		errs = append(errs, exec(base, "DROP SCHEMA "+schema+" CASCADE"))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	return code
}

// poolPrefix starts the pool's schema names, followed by the Unix time
// of their creation, so a later run can tell those a killed process left.
const poolPrefix = "refundd_test_pool_"

// pool is the process's pool of migrated schemas.
var pool schemaPool

type schemaPool struct {
	mu     sync.Mutex
	base   string
	free   []string
	swept  bool
	empty  string // the statements that empty a schema, %[1]s for its name
	tables int    // how many tables empty names, to notice a schema that differs
}

func (p *schemaPool) take(base string, migrate func(ctx context.Context, url string) error) (string, error) {
	p.mu.Lock()
	p.base = base
	sweep := !p.swept
	p.swept = true
	if n := len(p.free); n > 0 {
		schema := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return schema, nil
	}
	p.mu.Unlock()
	if sweep {
		// Best effort: another run's leftovers must not fail this test.
		if err := sweepPools(base); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: dropping pools left by killed runs: %v\n", err)
		}
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := fmt.Sprintf("%s%d_%s", poolPrefix, time.Now().Unix(), hex.EncodeToString(b))
	if err := exec(base, "CREATE SCHEMA "+schema); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	u, err := addParams(base, map[string]string{"search_path": schema, "synchronous_commit": "off"})
	if err == nil {
		err = migrate(ctx, u)
	}
	if err != nil {
		exec(base, "DROP SCHEMA "+schema+" CASCADE")
		return "", fmt.Errorf("migrate %s: %w", schema, err)
	}
	return schema, nil
}

// give empties schema and puts it back in the pool, or drops it.
func (p *schemaPool) give(base, schema string) error {
	if err := p.emptySchema(base, schema); err != nil {
		// Dropping waits for whatever held the rows; it is what URL does.
		if derr := exec(base, "DROP SCHEMA "+schema+" CASCADE"); derr != nil {
			return fmt.Errorf("%w (emptying it: %v)", derr, err)
		}
		return nil
	}
	p.mu.Lock()
	p.free = append(p.free, schema)
	p.mu.Unlock()
	return nil
}

// emptySchema deletes every row but the migrations' records and restarts
// the sequences, in one transaction. DELETE, not TRUNCATE: TRUNCATE
// replaces each table's files, which costs as much as creating them.
func (p *schemaPool) emptySchema(base, schema string) error {
	ctx, cancel, c, err := connect(base)
	if err != nil {
		return err
	}
	defer cancel()
	defer c.Close(ctx)
	p.mu.Lock()
	empty, tables := p.empty, p.tables
	p.mu.Unlock()
	if empty == "" {
		if empty, tables, err = emptyStatements(ctx, c, schema); err != nil {
			return err
		}
		p.mu.Lock()
		p.empty, p.tables = empty, tables
		p.mu.Unlock()
	}
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&n); err != nil {
		return err
	}
	if n != tables {
		return fmt.Errorf("schema %s has %d tables, its pool's schemas %d", schema, n, tables)
	}
	// A store left open on the schema would write into the next test's
	// rows: such a schema is dropped, so that the store's writes fail as
	// they would have without the pool. A closed store's connections may
	// take a moment to leave pg_stat_activity.
	for wait := time.Millisecond; ; wait *= 2 {
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, schema).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if wait > 256*time.Millisecond {
			return fmt.Errorf("%d connections still on schema %s", n, schema)
		}
		time.Sleep(wait)
	}
	// A transaction left open would hold its rows; do not wait for it.
	_, err = c.Exec(ctx, "SET lock_timeout = '5s'; BEGIN; "+fmt.Sprintf(empty, schema)+" COMMIT;")
	return err
}

// emptyStatements lists the DELETEs that empty schema (each table after
// the tables that reference it, so no foreign key is ever broken) and the
// ALTER SEQUENCEs that restart its sequences, with %[1]s for the schema.
func emptyStatements(ctx context.Context, c *pgx.Conn, schema string) (string, int, error) {
	rows, err := c.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, schema)
	if err != nil {
		return "", 0, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", 0, err
	}
	rows, err = c.Query(ctx, `SELECT DISTINCT f.relname, t.relname FROM pg_constraint k
		JOIN pg_class f ON f.oid = k.conrelid JOIN pg_class t ON t.oid = k.confrelid
		WHERE k.contype = 'f' AND k.connamespace = $1::regnamespace AND k.conrelid <> k.confrelid`, schema)
	if err != nil {
		return "", 0, err
	}
	refs := map[string][]string{} // table -> tables that reference it
	for rows.Next() {
		var from, to string
		if err := rows.Scan(&from, &to); err != nil {
			return "", 0, err
		}
		refs[to] = append(refs[to], from)
	}
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	var b strings.Builder
	done := map[string]bool{}
	var visit func(t string, depth int) error
	visit = func(t string, depth int) error {
		if done[t] {
			return nil
		}
		if depth > len(tables) {
			return fmt.Errorf("foreign keys of %s form a cycle", t)
		}
		for _, r := range refs[t] {
			if err := visit(r, depth+1); err != nil {
				return err
			}
		}
		done[t] = true
		if t != "schema_migrations" {
			fmt.Fprintf(&b, "DELETE FROM %%[1]s.%s; ", pgx.Identifier{t}.Sanitize())
		}
		return nil
	}
	for _, t := range tables {
		if err := visit(t, 0); err != nil {
			return "", 0, err
		}
	}
	rows, err = c.Query(ctx, `SELECT sequencename FROM pg_sequences WHERE schemaname = $1 ORDER BY 1`, schema)
	if err != nil {
		return "", 0, err
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", 0, err
	}
	for _, s := range seqs {
		fmt.Fprintf(&b, "ALTER SEQUENCE %%[1]s.%s RESTART; ", pgx.Identifier{s}.Sanitize())
	}
	return b.String(), len(tables), nil
}

// sweepPools drops the pools' schemas created more than a day ago: a
// process killed before its AfterTests left them, and no test runs a day.
func sweepPools(base string) error {
	ctx, cancel, c, err := connect(base)
	if err != nil {
		return err
	}
	defer cancel()
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, poolPrefix)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		created, _, _ := strings.Cut(strings.TrimPrefix(name, poolPrefix), "_")
		unix, err := strconv.ParseInt(created, 10, 64)
		if err != nil || time.Since(time.Unix(unix, 0)) < 24*time.Hour {
			continue
		}
		if _, err := c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			return err
		}
	}
	return nil
}
