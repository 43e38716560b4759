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
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
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
	// A string PostgreSQL cannot hold as text: a NUL byte, or bytes that
	// are not UTF-8 (a path's %00 or %FF).
	characterNotInRepertoire = "22021"
	untranslatableCharacter  = "22P05"
)

// Store is a refund.Store on a PostgreSQL database (the schema named first
// in the connection's search_path).
type Store struct {
	pool *pgxpool.Pool

	reqs      chan *commitReq   // Updates any committer may take
	lanes     []chan *commitReq // Updates of one order, by hash, for one committer
	closed    chan struct{}
	loop      sync.WaitGroup
	closeOnce sync.Once

	count *wireCounter

	// chains holds the merchants known to have an invoice chain row
	// (merchant id -> struct{}): rows are never deleted, so once known,
	// always true. See batchMerchants.
	chains sync.Map
}

// commitReq is one Update waiting for its batch.
type commitReq struct {
	ctx  context.Context
	fn   func(tx refund.Tx) error
	err  error
	done chan struct{}
}

// Group commit: committers run the Updates that arrive together in one
// transaction, each in its own savepoint, and commit once. On a hot order
// this is what sets the throughput: a refund holds the order's row lock
// from its guarded update to its commit, so without batching the refunds
// of one order commit one WAL flush at a time; in a batch they share the
// lock and the flush. Updates that name their order (refund.WithOrderKey)
// go to the committer that order hashes to, so one order's refunds gather
// in one committer's batches rather than in several transactions queueing
// on its row; the other committers keep other orders' transactions running
// in parallel.
//
// There are two committers per core the process may use, at least four. A
// committer runs its batch's Updates one after another and each needs the
// process's CPU between round trips; on 2 cores (shared with PostgreSQL
// and the load generator) 4 lanes measured 533-654 refunds/s spread with
// a p99 of 135-163 ms against 8 lanes' 480-537 and 189-234 ms, in three
// alternating rounds, hot within the noise (docs/performance.md).
var committers = max(4, 2*runtime.GOMAXPROCS(0))

const maxBatch = 64

// errClosed answers Update calls on a closed store.
var errClosed = errors.New("postgres: store is closed")

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
	count := &wireCounter{}
	cfg.ConnConfig.Tracer = count
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
	s := &Store{count: count, pool: pool, reqs: make(chan *commitReq), closed: make(chan struct{})}
	for range committers {
		s.lanes = append(s.lanes, make(chan *commitReq))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", hide(err))
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.loadChains(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	for i := range committers {
		s.loop.Add(1)
		go s.commitLoop(s.lanes[i])
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
//
// Updates that arrive together share one transaction (group commit, see
// committers): fn runs in its own savepoint on a committer's goroutine, an
// fn that fails rolls back only its own changes, and every caller is
// answered after the one commit.
func (s *Store) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	req := &commitReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	queue := s.reqs
	if key := refund.OrderKey(ctx); key != "" {
		h := fnv.New32a()
		h.Write([]byte(key))
		queue = s.lanes[h.Sum32()%uint32(len(s.lanes))]
	}
	select {
	case queue <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errClosed
	}
	// Once taken, fn's outcome is the batch's: wait for it even if ctx
	// ends, so that nil always means committed.
	<-req.done
	return hide(req.err)
}

func (s *Store) commitLoop(lane chan *commitReq) {
	defer s.loop.Done()
	for {
		var batch []*commitReq
		select {
		case r := <-lane:
			batch = append(batch, r)
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.closed:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-lane:
				batch = append(batch, r)
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commitBatch(batch)
	}
}

// commitBatch runs a batch, again whole after a serialization failure or a
// deadlock (which abort the whole transaction), and answers every request.
func (s *Store) commitBatch(batch []*commitReq) {
	inOrderOfOrders(batch)
	all := batch
	defer func() {
		for _, r := range all {
			close(r.done)
		}
	}()
	for attempt := 0; ; {
		err := s.runBatch(batch)
		if err == nil {
			return
		}
		var ce *commitError
		var re *refund.Error
		if !retryable(err) && !errors.As(err, &ce) && sqlstate(err) == "" && !errors.As(err, &re) {
			// A caller that gave up mid-statement can break the
			// connection under the whole batch: run the others again
			// without it. Never after a failed COMMIT, though: the server
			// may have committed before the connection broke, and running
			// the batch again would apply it twice. Nor for an answer of
			// the server's (a refusal, a failed statement): that is the
			// batch's outcome, whoever hung up.
			var alive []*commitReq
			for _, r := range batch {
				if cerr := r.ctx.Err(); cerr != nil {
					if r.err == nil {
						r.err = cerr
					}
				} else {
					alive = append(alive, r)
				}
			}
			if len(alive) > 0 && len(alive) < len(batch) {
				batch = alive
				s.count.retries.Add(1)
				continue
			}
		}
		if attempt == maxRetries || !retryable(err) {
			for _, r := range batch {
				if r.err == nil || retryable(r.err) {
					r.err = err
				}
			}
			return
		}
		if pause(context.Background(), attempt) != nil {
			return
		}
		attempt++
		s.count.retries.Add(1)
	}
}

// inOrderOfOrders sorts a batch's Updates by the order each works for
// (refund.WithOrderKey), keeping the order in which they came among those
// of one order and putting those that name none last.
//
// A refund holds its order's row from its guarded update until its batch
// commits. Run as they came, two batches with two orders in common, on two
// nodes, can each hold one row and wait for the other: a deadlock, which
// PostgreSQL breaks only after deadlock_timeout (a second) by failing one
// batch, which then runs again. Three nodes refunding three orders
// (e2e.TestMultiNode) did that 157-179 times in a run. Sorted, every batch
// takes the rows of the orders its Updates name in one order, so those
// rows form no cycle, and nothing more is sent. (Other rows still can: a
// reconciliation, which names no order, may settle refunds of many orders
// in one Update, each in its turn.) Updates that came together were
// concurrent, so none of them was promised to run before another; one
// caller's Updates never share a batch, as Update returns only after its
// batch commits.
func inOrderOfOrders(batch []*commitReq) {
	slices.SortStableFunc(batch, func(a, b *commitReq) int {
		ka, kb := refund.OrderKey(a.ctx), refund.OrderKey(b.ctx)
		switch {
		case ka == kb:
			return 0
		case ka == "":
			return 1
		case kb == "":
			return -1
		}
		return strings.Compare(ka, kb)
	})
}

// batchMerchants lists, sorted, the merchants the batch's Updates work for
// (refund.WithOrderKey) that are known to invoice: to have an invoice
// chain row.
//
// Every invoiced refund of a merchant takes the merchant's invoice chain
// row (NextInvoiceNumber, NextInvoiceChain), and keeps it until its batch
// commits; a batch also holds the rows of each of its orders. Taken as the
// Updates come, a batch holding the chain and wanting an order's row can
// wait on a batch (of another lane, or another node) holding that order's
// row and wanting the chain: a deadlock, broken after deadlock_timeout (a
// second) and the batch run again. Two nodes refunding one merchant's
// orders did that every few seconds. Taken first, at BEGIN, in merchant
// order, a batch waits for a chain before it holds any order's row, and
// chains are always taken in one order: no cycle. An invoicing merchant's
// batches serialise from BEGIN rather than from their first note, which
// its invoicing already imposed.
//
// A merchant counts as invoicing once it had a chain row when this node
// opened the store (loadChains), or this node has seen it number, chain or
// read ahead an invoice (tx.invoices): the batches of merchants that never
// invoice send nothing more. A merchant that starts invoicing on another
// node is taken as it comes here until this node sees it invoice.
func (s *Store) batchMerchants(batch []*commitReq) []string {
	var out []string
	for _, r := range batch {
		m := refund.MerchantKey(r.ctx)
		if m == "" || slices.Contains(out, m) {
			continue
		}
		if _, ok := s.chains.Load(m); ok {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// loadChains learns, at Open, the merchants that already invoice, so that a
// node that starts takes their chains first from its first batch (see
// batchMerchants). One row per invoicing merchant.
func (s *Store) loadChains(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT merchant_id FROM invoice_chains`)
	if err != nil {
		return fmt.Errorf("postgres: open: invoicing merchants: %w", hide(err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("postgres: open: invoicing merchants: %w", hide(err))
	}
	for _, id := range ids {
		s.chains.Store(id, struct{}{})
	}
	return nil
}

// invoices notes that merchantID invoices (see batchMerchants).
func (t *tx) invoices(merchantID string) {
	if t.chains != nil {
		t.chains.Store(merchantID, struct{}{})
	}
}

// runBatch runs the batch in one READ COMMITTED transaction. It returns an
// error that fails every request still without one: begin, savepoint or
// commit failed, or an fn hit a serialization failure or deadlock.
//
// BEGIN, savepoints and COMMIT are plain statements on the pipe: BEGIN and
// an Update's SAVEPOINT travel with its first round trip, RELEASE with its
// held writes, COMMIT with the last ones; an Update costs its reads plus
// one round trip.
func (s *Store) runBatch(batch []*commitReq) error {
	// The transaction serves many callers, so no single caller's context
	// may end it; each fn still passes its own ctx to its statements.
	ctx := context.Background()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap("begin", err)
	}
	defer c.Release()
	p := &pipe{c: c}
	p.later("begin", "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE")
	if merchants := s.batchMerchants(batch); len(merchants) > 0 {
		// The batch's merchants' invoice chains first, in one order (see
		// batchMerchants); with BEGIN, no round trip more.
		p.later("lock invoice chains", `SELECT 1 FROM invoice_chains WHERE merchant_id = ANY($1)
			ORDER BY merchant_id FOR NO KEY UPDATE`, merchants)
	}
	finished := false
	defer func() {
		if !finished && !p.holds("begin") {
			rollback(c)
		}
	}()
	for _, r := range batch {
		r.err = nil
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		t := &tx{q: p, write: true, chains: &s.chains}
		if len(batch) == 1 {
			// Alone: no savepoint needed; an error rolls everything back,
			// and its held writes go with the COMMIT.
			if r.err = run(r.fn, t); r.err == nil {
				r.err = p.err // a held write failed and fn carried on
			}
			if r.err != nil {
				return abortCause(t, r.err)
			}
			break
		}
		p.later("savepoint", "SAVEPOINT batch_item")
		if r.err = run(r.fn, t); r.err == nil {
			r.err = p.err
		}
		if r.err == nil {
			_, err := p.flush(ctx, "RELEASE SAVEPOINT batch_item")
			if err == nil {
				continue
			}
			var pe *pgconn.PgError
			if !p.refused && !errors.As(err, &pe) {
				// Not the server's answer (the connection broke, a row
				// did not scan): whether RELEASE ran is unknown, and a
				// ROLLBACK TO could then reach an earlier Update's
				// savepoint (they share a name). Fail the batch.
				return wrap("release savepoint", err)
			}
			r.err = err // a held write refused (see pipe): RELEASE did not run
			if fromDriver(err) {
				r.err = t.fail("release savepoint", err)
			}
		}
		sent := !p.holds("savepoint")
		if sent {
			p.pending = nil // whatever r still holds is r's: rolled back unsent
		} else {
			p.drop("savepoint") // r's statements not yet sent go with it
		}
		p.err, p.refused = nil, false // r's failure is r's: the next Update starts clean
		if err := abortCause(t, r.err); err != nil {
			return err
		}
		if !sent {
			continue // nothing of r reached the database
		}
		if _, err := c.Exec(ctx, "ROLLBACK TO SAVEPOINT batch_item"); err != nil {
			return wrap("rollback to savepoint", err)
		}
	}
	if len(p.pending) == 1 && p.pending[0].op == "begin" {
		p.pending = nil // nothing ran: nothing to commit
		return nil
	}
	if p.err != nil {
		return p.err // a held write failed: nothing commits
	}
	tag, err := p.flush(ctx, "COMMIT")
	var pe *pgconn.PgError
	var re *refund.Error
	switch {
	case err != nil && p.refused && errors.As(err, &re):
		// A held write refused (see pipe): the server skipped the COMMIT.
		return err
	case err != nil && errors.As(err, &pe) && (pe.Severity == "FATAL" || pe.Severity == "PANIC" ||
		strings.HasPrefix(pe.Code, "57") || strings.HasPrefix(pe.Code, "08")):
		// The session ended under the COMMIT (an administrator's
		// termination, a shutdown): the server may have committed
		// locally first. The outcome is unknown, as for a broken
		// connection.
		finished = true
		return &commitError{wrap("commit", err)}
	case err != nil && (p.refused || errors.As(err, &pe)):
		// The server refused a statement of the last round trip, or the
		// COMMIT itself: nothing was committed.
		return wrap("commit", err)
	case err != nil:
		finished = true
		return &commitError{wrap("commit", err)}
	case tag.String() != "COMMIT":
		// An error earlier in the transaction that fn swallowed: the
		// server rolled it back (the tag says ROLLBACK).
		finished = true
		return fmt.Errorf("postgres: commit: the transaction was rolled back (%s)", tag)
	}
	finished = true
	return nil
}

// rollback ends the transaction open on c; a connection that cannot is
// closed, so the pool does not hand it out again.
func rollback(c *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
		c.Conn().Close(ctx)
	}
}

// commitError is a COMMIT whose outcome is unknown (the connection broke,
// say): the batch may have committed, so it is never run again.
type commitError struct{ err error }

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// abortCause returns the error that must fail and retry the whole batch
// when fn failed with err: a serialization failure or deadlock, even one
// fn swallowed (the first driver error of t says), aborts the transaction
// beyond any savepoint. Any other failure is fn's own: nil.
func abortCause(t *tx, err error) error {
	switch {
	case t.failed != nil && retryable(t.failed):
		return t.failed
	case retryable(err):
		return err
	}
	return nil
}

// run calls fn, turning a panic into an error: fn runs on a committer's
// goroutine, where a panic would take every batched caller down with it.
func run(fn func(tx refund.Tx) error, t *tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("postgres: update panicked: %v", p)
		}
	}()
	return fn(t)
}

// View runs fn in a read-only REPEATABLE READ transaction: one snapshot
// for all of fn's statements (an order and its items are read in separate
// statements and must agree). A read-only transaction never fails to
// serialize, so View does not retry.
//
// A View whose fn succeeded commits rather than rolls back: both change
// nothing, but PostgreSQL counts a rollback in
// pg_stat_database.xact_rollback, which monitoring reads as failed
// transactions. Nobody waits for that COMMIT: fn has its answers, so View
// returns and the COMMIT ends the transaction behind it, before its
// connection goes back to the pool (a refund's Idempotency-Key lookup is
// one round trip, not two). An fn that swallowed a failed statement is
// answered with that failure instead, and rolled back, as before.
func (s *Store) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return hide(wrap("begin", err))
	}
	// BEGIN travels with fn's first statement (see pipe).
	p := &pipe{c: c}
	p.later("begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	t := &tx{q: p}
	err = fn(t)
	switch {
	case p.holds("begin"):
		c.Release()
		return hide(err) // nothing was sent
	case err == nil && t.failed != nil:
		err = t.failed
		fallthrough
	case err != nil:
		rollback(c)
		c.Release()
		return hide(err)
	}
	go func() {
		defer c.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if tag, err := c.Exec(ctx, "COMMIT"); err != nil || tag.String() != "COMMIT" {
			rollback(c)
		}
	}()
	return nil
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
	s.closeOnce.Do(func() {
		close(s.closed)
		s.loop.Wait()
		s.pool.Close() // waits for the connections out, Views' COMMITs included
	})
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
	if re := badText(err); re != nil {
		return re
	}
	return newDBError("postgres: "+op+": "+err.Error(), err)
}

// badText is the caller's error when err is the server refusing a string
// it cannot hold as text: every such string came from a request (an id in
// a path, a query's filter, a field of a body), so it is that request's
// bad input, not the database failing. SQLite holds the same strings; no
// stored id or reference can equal one.
func badText(err error) *refund.Error {
	switch sqlstate(err) {
	case characterNotInRepertoire, untranslatableCharacter:
		return refund.Errorf(refund.EInvalidRequest, "", "text must be UTF-8 without NUL characters")
	}
	return nil
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
	if re := badText(err); re != nil {
		return re
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
