// Package postgres implements refund.Store on PostgreSQL through pgx: the
// store of production installs, where several stateless `refundd serve`
// nodes share one database.
//
// It is the only package that imports the PostgreSQL driver and it
// translates the driver's errors at its edge: a missing row becomes the
// matching refund not-found code, a unique violation the matching conflict
// code, and any other driver error an internal error that carries no driver
// type. It must not import HTTP, dialect or other store packages.
//
// Nothing here relies on one process: money is reserved by guarded
// single-statement updates, rows read before they are written are locked,
// and work is leased with SELECT ... FOR UPDATE SKIP LOCKED, so any number
// of nodes can run against the same database.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/refundd/refundd/refund"
)

// maxRetries is how many times Update runs fn again after a serialization
// failure or a deadlock.
const maxRetries = 8

// SQLSTATEs the store acts on.
const (
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	uniqueViolation      = "23505"
)

// Store is a refund.Store on a PostgreSQL database (the schema named first
// in the connection's search_path).
type Store struct {
	pool *pgxpool.Pool
}

var (
	_ refund.Store = (*Store)(nil)
	_ refund.Tx    = (*tx)(nil)
)

// defaultMaxConns is the pool size per node unless the URL says otherwise
// (pool_max_conns); size max_connections for nodes x this.
const defaultMaxConns = 32

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN; pool settings such as pool_max_conns and run-time parameters such as
// search_path may ride along as query parameters), runs the migrations and
// returns the store.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors already hide the password.
		return nil, fmt.Errorf("postgres: %w", hide(err))
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (4 on two cores) caps a node at 4 commits in
		// flight, each waiting on a WAL flush: the pool, not the database,
		// would set the throughput. PostgreSQL flushes concurrent commits
		// together, so more connections mean more refunds per flush.
		cfg.MaxConns = defaultMaxConns
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		// Read times back in UTC (pgx's default is time.Local), as the
		// SQLite store does: the instant is the same, but callers and the
		// conformance suite expect UTC.
		c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", hide(err))
	}
	s := &Store{pool: pool}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", hide(err))
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Update runs fn in a READ COMMITTED transaction and commits when fn
// returns nil. On a serialization failure or a deadlock it rolls back and
// runs fn again, after a jittered backoff, up to maxRetries times.
//
// Why READ COMMITTED and not REPEATABLE READ or SERIALIZABLE: the store
// never relies on a snapshot to keep an invariant. A reservation is one
// guarded UPDATE (... WHERE captured - refunded - pending >= amount); when
// it has to wait for a concurrent transaction's row lock, PostgreSQL
// re-checks the WHERE clause against the row that transaction committed,
// so two reservations can never both spend the same remainder. Every other
// read that a write depends on locks its row (GetRefund and friends inside
// Update take FOR NO KEY UPDATE, numbering a transaction locks its order)
// or is a guarded/versioned single statement, and claims skip rows other
// claimers hold (FOR UPDATE SKIP LOCKED). Under the stricter levels every
// refund that queued behind another on a hot order's row would instead be
// aborted with 40001 and redone from the start: the same outcome, at a
// fraction of the throughput. The 40001 retry stays for Postgres-compatible
// engines that only run serializable, and for deadlocks (40P01), which row
// locks taken in different orders can still cause.
//
// fn may run more than once, so it must have no effects outside tx. Once
// fn has returned nil the commit is finished even if ctx ends meanwhile,
// so that nil always means committed.
func (s *Store) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.update(ctx, fn)
		if err == nil {
			return nil
		}
		if attempt == maxRetries || !retryable(err) {
			return hide(err)
		}
		if err := pause(ctx, attempt); err != nil {
			return err
		}
	}
}

func (s *Store) update(ctx context.Context, fn func(tx refund.Tx) error) error {
	q, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted, AccessMode: pgx.ReadWrite})
	if err != nil {
		return wrap("begin", err)
	}
	t := &tx{q: q, write: true}
	defer q.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	if err := fn(t); err != nil {
		// A driver error fn swallowed leaves the transaction aborted and
		// fails the statements after it; the first one says whether to
		// retry.
		if t.failed != nil && retryable(t.failed) && !retryable(err) {
			return t.failed
		}
		return err
	}
	if err := q.Commit(context.WithoutCancel(ctx)); err != nil {
		return wrap("commit", err)
	}
	return nil
}

// View runs fn in a read-only REPEATABLE READ transaction: one snapshot
// for all of fn's statements (an order and its items are read in separate
// statements and must agree). A read-only transaction never fails to
// serialize, so View does not retry.
func (s *Store) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	q, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return hide(wrap("begin", err))
	}
	defer q.Rollback(context.WithoutCancel(ctx))
	return hide(fn(&tx{q: q}))
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return hide(wrap("ping", err))
	}
	return nil
}

// Close closes the pool's connections. It is safe to call twice.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// pause waits before retry attempt+1: 5, 10, 20, ... ms up to 500 ms, each
// with up to 50% jitter so that transactions that collided spread out.
func pause(ctx context.Context, attempt int) error {
	d := min(5*time.Millisecond<<attempt, 500*time.Millisecond)
	d += rand.N(d / 2)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// dbError is what a driver error becomes at the Store's edge: its text and
// SQLSTATE, no driver type to unwrap to. A context error that caused it
// stays reachable through errors.Is.
type dbError struct {
	msg   string
	state string // SQLSTATE, "" when the server did not answer with one
	cause error  // context.Canceled or context.DeadlineExceeded, or nil
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.cause }

// wrap turns a driver error into an internal *dbError naming the
// operation that failed.
func wrap(op string, err error) error {
	return newDBError("postgres: "+op+": "+err.Error(), err)
}

func newDBError(msg string, err error) *dbError {
	e := &dbError{msg: msg}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		e.state = pe.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		e.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		e.cause = context.DeadlineExceeded
	}
	return e
}

// sqlstate returns the SQLSTATE err carries, if any.
func sqlstate(err error) string {
	var de *dbError
	if errors.As(err, &de) {
		return de.state
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// retryable reports whether err says the transaction lost a race that
// running it again can win: a serialization failure or a deadlock.
func retryable(err error) bool {
	switch sqlstate(err) {
	case serializationFailure, deadlockDetected:
		return true
	}
	return false
}

// hide replaces an error chain that still holds a pgx type by a *dbError
// with its text, so that no driver type leaves the package. Domain errors
// (*refund.Error) and the caller's own errors pass unchanged.
func hide(err error) error {
	if err == nil || !fromDriver(err) {
		return err
	}
	var re *refund.Error
	if errors.As(err, &re) {
		return err
	}
	return newDBError(err.Error(), err)
}

// fromDriver reports whether any error in err's tree is declared in a pgx
// package (pgconn.PgError, pgx.ErrNoRows, connect errors, ...).
func fromDriver(err error) bool {
	if err == nil {
		return false
	}
	if driverType(reflect.TypeOf(err)) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return fromDriver(u.Unwrap())
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if fromDriver(e) {
				return true
			}
		}
	}
	return false
}

func driverType(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	const pgx = "github.com/jackc/"
	return len(t.PkgPath()) >= len(pgx) && t.PkgPath()[:len(pgx)] == pgx
}
