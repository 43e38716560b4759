// Package sqlite implements refund.Store on an embedded SQLite file: the
// default store of single-node installs and of `refundd demo`.
//
// It is the only package that imports the SQLite driver
// (github.com/ncruces/go-sqlite3, pure Go, no cgo; `-tags modernc` swaps in
// modernc.org/sqlite, see driver_*.go; OpenFile lends it to the few other
// components that keep a SQLite file) and it translates the driver's errors at its edge: a
// missing row becomes the matching refund not-found code, a unique violation
// the matching conflict code, and any other driver error an internal error
// that carries no driver type. It must not import HTTP, dialect or other
// store packages.
//
// SQLite has one writer. The Store keeps two handles on the file: a writer
// limited to one connection, whose transactions take the write lock at BEGIN
// (no deferred read-to-write upgrades, so no upgrade deadlocks), and a small
// pool of query-only readers that WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refundd/refundd/refund"
)

// readers is the size of the read-only connection pool used by View.
const readers = 4

// maxRetries is how many times Update runs fn again after SQLITE_BUSY or
// SQLITE_LOCKED. busy_timeout already waits up to 10 s for the lock, so a
// busy error that still reaches Update is rare (a lock held by another
// process past the timeout, a checkpoint, a snapshot conflict).
const maxRetries = 4

// maxBatch bounds how many Update calls share one transaction.
const maxBatch = 256

// Store is a refund.Store on one SQLite file.
type Store struct {
	path   string
	writer *sql.DB // one connection: SQLite has one writer
	reader *sql.DB // query_only connections for View
	wstmts *stmtCache
	rstmts map[string]*sql.Stmt // viewQueries on the readers; read-only after Open

	// Group commit: Update hands its fn to the committer, which runs
	// every fn waiting at that moment in one transaction (runBatch) and
	// syncs once for all of them.
	reqs   chan *commitReq
	closed chan struct{}
	loop   sync.WaitGroup

	// careful is how many more batches run each caller in a savepoint of
	// its own: set when a batch was lost to a caller that failed after
	// writing or ended the transaction (runBatch), as such failures come
	// in runs (an order refunded in full refuses every refund after).
	// Only the committer goroutine uses it.
	careful int

	closeOnce sync.Once
	closeErr  error

	// What the store sent SQLite, and the batches it ran again (Counts).
	stmts, txs, retries atomic.Uint64
}

// Counts reports the statements and transactions run so far, and the
// batches run again. SQLite runs in process: no round trips.
func (s *Store) Counts() refund.StoreCounts {
	return refund.StoreCounts{Statements: s.stmts.Load(), Transactions: s.txs.Load(), Retries: s.retries.Load()}
}

// commitReq is one Update waiting for its batch.
type commitReq struct {
	ctx  context.Context
	fn   func(tx refund.Tx) error
	err  error
	done chan struct{}
}

// errClosed answers Update calls on a closed store.
var errClosed = errors.New("sqlite: store is closed")

var (
	_ refund.Store = (*Store)(nil)
	_ refund.Tx    = (*tx)(nil)
)

// Open opens the SQLite file at path, creating it when missing, sets the
// connection pragmas and runs the migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	// The path goes into a DSN whose query carries the pragmas, so it can
	// hold no '?' of its own; a "file:" URI or ":memory:" would bypass the
	// file (and two handles on ":memory:" would be two databases).
	if path == "" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("sqlite: %q is not a usable database file path", path)
	}
	s := &Store{path: path}
	var err error
	if s.writer, err = sql.Open(driverName, dsn(path, roleWriter)); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, hide(err))
	}
	// One writer connection: serialising writers here, in Go, is cheaper
	// than letting several connections fight over the file lock and come
	// back with SQLITE_BUSY.
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	// The writer connects first: it creates the file and switches it to WAL
	// before any query-only reader, which could not, opens it.
	if err := s.writer.PingContext(ctx); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, hide(err))
	}
	if err := checkWriter(ctx, s.writer); err != nil {
		s.writer.Close()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		s.writer.Close()
		return nil, err
	}
	wconn, err := s.writer.Conn(ctx)
	if err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, hide(err))
	}
	s.wstmts = newStmtCache(wconn)
	s.reqs, s.closed = make(chan *commitReq), make(chan struct{})
	s.loop.Add(1)
	go s.commitLoop()
	if s.reader, err = sql.Open(driverName, dsn(path, roleReader)); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, hide(err))
	}
	s.reader.SetMaxOpenConns(readers)
	s.reader.SetMaxIdleConns(readers)
	s.reader.SetConnMaxLifetime(0)
	s.reader.SetConnMaxIdleTime(0)
	if err := s.reader.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, hide(err))
	}
	s.rstmts = make(map[string]*sql.Stmt, len(viewQueries))
	for _, q := range viewQueries {
		st, err := s.reader.PrepareContext(ctx, q)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite: open %s: prepare: %w", path, hide(err))
		}
		s.rstmts[q] = st
	}
	return s, nil
}

// viewQueries are the reads (nearly) every request runs: the
// Idempotency-Key lookup, on its own (LookupIdempotency) or in a View.
// Prepared once on the reader pool, database/sql prepares each on a reader
// connection the first time it runs there and reuses it after; any other
// View query is parsed and planned on every run. Prepared here, at Open,
// because preparing on the pool later could wait for a connection that
// every View holds.
var viewQueries = []string{getIdempotency}

// role is what a connection is for; dsn gives each its own settings.
type role int

const (
	roleReader   role = iota // query_only, for View
	roleWriter               // the committer's one connection
	roleMigrator             // Migrate's own connection
)

// dsn is the data source name of path with the pragmas a connection of
// role runs when it opens.
//
//   - busy_timeout(10000) first, so that even the pragmas below wait for a
//     lock held by another connection instead of failing.
//   - journal_mode(WAL): readers never block the writer, nor it them.
//   - synchronous(FULL): every commit syncs the WAL to disk before Update
//     returns, so every acknowledged refund survives a crash or a power
//     loss. (NORMAL, the usual WAL choice, can lose the last commits on a
//     power loss; a refund engine may not.)
//   - foreign_keys(1): SQLite leaves them off by default.
//
// The writer and the migrator take _txlock=immediate (BEGIN IMMEDIATE: the
// write lock is taken at BEGIN, so a transaction never fails half-way
// trying to upgrade from reading to writing). The readers get
// query_only(1). The writer also gets:
//   - temp_store(MEMORY): the committer may run each Update in a savepoint,
//     and SQLite keeps the pages a savepoint may have to restore in a
//     sub-journal that, past 64 KiB, it spills to a temporary file,
//     recreated for every transaction. A group commit passes that size,
//     and writing the file took a third of the process's CPU at 32
//     clients (docs/performance.md). In memory it costs a batch's pages.
//   - writerParams: what the driver adds (the VFS that gathers a commit's
//     WAL writes on ncruces, wal_ncruces.go).
//
// Migrations, which may rewrite whole tables, run on the migrator: a
// connection of their own without the sub-journal in memory.
func dsn(path string, r role) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	switch r {
	case roleReader:
		q.Add("_pragma", "query_only(1)")
	case roleWriter:
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
		writerParams(q)
	case roleMigrator:
		q.Set("_txlock", "immediate")
	}
	return source(path, q)
}

// checkWriter refuses a writer connection that does not sync its WAL at
// every commit (synchronous FULL or EXTRA), should a driver or a later
// edit drop the pragma: durability and the WAL write gathering depend on
// it (dsn, wal_ncruces.go).
func checkWriter(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: check the writer: %w", hide(err))
	}
	if v < 2 {
		return fmt.Errorf("sqlite: the writer runs with synchronous = %d; it must be 2 (FULL) or more", v)
	}
	return nil
}

// Update runs fn in a write transaction and returns once that transaction
// has committed (synced to disk) or fn's changes have been rolled back.
//
// Updates that arrive together share one transaction (group commit): an
// fn that fails leaves none of its changes behind and takes none of the
// others' (runBatch), and the batch commits once. Every caller is answered
// only after that commit. fn runs on the committer's goroutine; it may
// run again when SQLite reports the database busy or locked, or when
// another fn's failure lost the batch.
func (s *Store) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	req := &commitReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errClosed
	}
	// Once fn has been taken its outcome is the batch's: wait for it even
	// if ctx ends, so that nil always means committed.
	<-req.done
	return hide(req.err)
}

func (s *Store) commitLoop() {
	defer s.loop.Done()
	for {
		var batch []*commitReq
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.closed:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commitBatch(batch)
	}
}

// commitBatch runs a batch, retrying it whole when the database is busy,
// and answers every request in it.
func (s *Store) commitBatch(batch []*commitReq) {
	all := batch
	defer func() {
		for _, r := range all {
			close(r.done)
		}
	}()
	careful := s.careful > 0
	if careful {
		s.careful--
	}
	for attempt := 0; ; attempt++ {
		err := s.runBatch(batch, careful)
		var lost *lostBatch
		if errors.As(err, &lost) {
			// One caller's failure took the transaction down with it
			// (nothing was committed): answer that caller, run the others
			// again without it, each in a savepoint, and the next batches
			// too.
			lost.culprit.err = lost.cause
			batch = slices.DeleteFunc(slices.Clone(batch), func(r *commitReq) bool { return r == lost.culprit })
			careful, s.careful = true, carefulBatches
			if len(batch) == 0 {
				return
			}
			s.retries.Add(1)
			attempt--
			continue
		}
		if err == nil {
			return
		}
		if attempt == maxRetries || !retryable(err) {
			for _, r := range batch {
				if r.err == nil {
					r.err = err
				}
			}
			return
		}
		if err := pause(context.Background(), attempt); err != nil {
			return
		}
		s.retries.Add(1)
	}
}

// carefulBatches is how many batches after a lost one run every caller in
// a savepoint (Store.careful).
const carefulBatches = 64

// runBatch runs the batch in one transaction. It returns an error that
// fails every request still without one (begin, savepoint or commit
// failed, or an fn hit a busy database and the batch must run again).
//
// Careful, each fn runs inside a savepoint of its own, rolled back if fn
// fails. Otherwise fns run bare: a savepoint makes SQLite copy every page
// an fn writes into its sub-journal first, about a seventh of a refund's
// cost in a batch, and most fns succeed. An fn that fails without having
// changed a row (SQLite counts every row an INSERT, UPDATE or DELETE
// changed, and a failed statement changes none) leaves the transaction as
// it found it; this holds because fns run only SELECT, INSERT, UPDATE and
// DELETE (no DDL, PRAGMA or SAVEPOINT), each statement closed before the
// next. One that fails after changing rows, or whose error ended
// the transaction, loses the batch (lostBatch): nothing is committed and
// commitBatch runs the others again, carefully.
func (s *Store) runBatch(batch []*commitReq, careful bool) error {
	// The transaction serves many callers, so no single caller's context
	// may cancel it; each fn still passes its own ctx to its statements.
	ctx := context.Background()
	t := &tx{q: &querier{cache: s.wstmts, n: &s.stmts}}
	// The batch's own statements (BEGIN, each Update's SAVEPOINT and
	// RELEASE, COMMIT) go through the statement cache too: parsed again
	// for every Update they cost the committer as much as a small write.
	exec := func(stmt string) error {
		_, err := t.q.ExecContext(ctx, stmt)
		return err
	}
	s.txs.Add(1)
	if err := exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			exec("ROLLBACK")
		}
	}()
	bare := !careful && len(batch) > 1
	var mark int64 // rows changed when the next fn begins
	if bare {
		var open, ok bool
		mark, open, ok = writerState(s.wstmts.conn)
		bare = ok && open
	}
	for _, r := range batch {
		r.err = nil
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if bare {
			r.err = run(r.fn, t)
			if retryable(r.err) {
				return r.err
			}
			changes, open, _ := writerState(s.wstmts.conn)
			if !open || (r.err != nil && changes != mark) {
				cause := r.err
				if cause == nil {
					// fn swallowed an error that ended the transaction.
					cause = errors.New("sqlite: the transaction ended inside an update")
				}
				return &lostBatch{culprit: r, cause: cause}
			}
			mark = changes
			continue
		}
		if len(batch) == 1 {
			// Alone: no savepoint needed; an error rolls everything back.
			if r.err = run(r.fn, t); r.err != nil {
				if retryable(r.err) {
					return r.err
				}
				return nil
			}
			break
		}
		if err := exec("SAVEPOINT batch_item"); err != nil {
			return fmt.Errorf("sqlite: savepoint: %w", err)
		}
		r.err = run(r.fn, t)
		if retryable(r.err) {
			return r.err
		}
		if r.err != nil {
			if err := exec("ROLLBACK TO batch_item"); err != nil {
				// The savepoint is gone: r's error aborted the whole
				// transaction (SQLite does so on some errors).
				return &lostBatch{culprit: r, cause: r.err}
			}
		}
		if err := exec("RELEASE batch_item"); err != nil {
			// The savepoint is gone though r succeeded: r swallowed an
			// error that ended the transaction.
			return &lostBatch{culprit: r, cause: fmt.Errorf("sqlite: release savepoint: %w", err)}
		}
	}
	if err := commitWindow(s.wstmts.conn, func() error { return exec("COMMIT") }); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	committed = true
	return nil
}

// lostBatch reports that culprit's failure rolled back the whole batch
// transaction before its commit: the others are run again without it.
type lostBatch struct {
	culprit *commitReq
	cause   error
}

func (e *lostBatch) Error() string { return "sqlite: batch transaction lost: " + e.cause.Error() }

// run calls fn, turning a panic into an error: fn runs on the committer's
// goroutine, where a panic would take every batched caller down with it.
// A failure that fails the whole Update (tx.failed) is fn's error even if
// fn carried on.
func run(fn func(tx refund.Tx) error, t *tx) (err error) {
	t.failed = nil
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: update panicked: %v", p)
		}
		if err == nil {
			err = t.failed
		}
	}()
	return fn(t)
}

// View runs fn in a read-only transaction on one of the reader
// connections: a consistent snapshot that does not wait for the writer.
func (s *Store) View(ctx context.Context, fn func(tx refund.Tx) error) error {
	q, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return hide(fmt.Errorf("sqlite: begin: %w", err))
	}
	defer q.Rollback() // a no-op after Commit
	s.txs.Add(1)
	s.stmts.Add(2) // BEGIN, and COMMIT or ROLLBACK
	if err := fn(&tx{q: &querier{tx: q, pre: s.rstmts, n: &s.stmts}}); err != nil {
		return hide(err)
	}
	// As the PostgreSQL store does: a View that read what it wanted ends
	// as a success.
	if err := q.Commit(); err != nil {
		return hide(fmt.Errorf("sqlite: commit: %w", err))
	}
	return nil
}

// Ping checks that a reader answers and that the committer can begin and
// commit a write transaction (its connection is the writer pool's only one).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return hide(fmt.Errorf("sqlite: ping: %w", err))
	}
	return s.Update(ctx, func(refund.Tx) error { return nil })
}

// Close closes both handles. It is safe to call twice.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.closed != nil {
			close(s.closed)
			s.loop.Wait()
		}
		var errs []error
		if s.wstmts != nil {
			s.wstmts.close()
			errs = append(errs, s.wstmts.conn.Close())
		}
		for _, st := range s.rstmts {
			st.Close()
		}
		if s.reader != nil {
			errs = append(errs, s.reader.Close())
		}
		errs = append(errs, s.writer.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", hide(err))
		}
	})
	return s.closeErr
}

// pause waits before retry attempt+1: 5, 10, 20, 40 ms, each with up to
// 50% jitter so that retrying writers spread out.
func pause(ctx context.Context, attempt int) error {
	d := 5 * time.Millisecond << attempt
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

// retryable reports whether err says the database was busy or locked, a
// condition that running the transaction again can clear.
func retryable(err error) bool {
	c, ok := code(err)
	if !ok {
		return false
	}
	switch c & 0xff { // the primary code of an extended one
	case codeBusy, codeLocked:
		return true
	}
	return false
}

// isUnique reports whether err is a UNIQUE constraint violation (not a
// primary key one).
func isUnique(err error) bool {
	c, ok := code(err)
	return ok && c == codeUnique
}

// isPrimaryKey reports whether err is a PRIMARY KEY violation.
func isPrimaryKey(err error) bool {
	c, ok := code(err)
	return ok && c == codePrimaryKey
}

// driverError is what a driver error becomes at the Store's edge: the same
// text, no driver type to unwrap to.
type driverError struct{ msg string }

func (e *driverError) Error() string { return e.msg }

// hide replaces an error chain holding a driver error by its text alone,
// so that no driver error type leaves the package. Domain errors (*refund.Error)
// and the caller's own errors pass unchanged.
func hide(err error) error {
	if _, ok := code(err); ok {
		var re *refund.Error
		if errors.As(err, &re) {
			return err
		}
		return &driverError{msg: err.Error()}
	}
	return err
}

// wrap makes a driver error internal, naming the operation that failed.
func wrap(op string, err error) error {
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// Times are stored as INTEGER nanoseconds since the Unix epoch, UTC; the
// zero time.Time is stored as 0 (optional times as NULL). Read back, every
// time is in UTC.

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// boundNanos is t as a bound of a range a caller filters by: a time before
// or after what int64 nanoseconds hold (1677 to 2262), which a query such
// as created_gte may give, is the least or the greatest of them, not a
// wrapped value that turns the comparison around.
func boundNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return nanos(t)
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: nanos(*t), Valid: true}
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}
