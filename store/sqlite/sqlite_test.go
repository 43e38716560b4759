package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/storetest"
)

// mustOpen opens a store on a migrated file in tb's temporary directory
// and closes it when tb ends. The file is a copy of one migrated once per
// test process (as sqlitetest does for other packages, which this package
// cannot import): under the race detector a fresh file's migrations took
// seconds, repeated by every test here. The tests of the migrations
// themselves use mustMigrate.
func mustOpen(tb testing.TB) *Store {
	tb.Helper()
	migrated.once.Do(makeMigrated)
	if migrated.err != nil {
		tb.Fatalf("migrate the template: %v", migrated.err)
	}
	path := filepath.Join(tb.TempDir(), "refundd.db")
	for suffix, b := range migrated.files {
		if err := os.WriteFile(path+suffix, b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return mustOpenPath(tb, path)
}

// mustMigrate opens a store on a fresh file, running every migration.
func mustMigrate(tb testing.TB) *Store {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "refundd.db"))
}

// mustOpenPath opens a store on path and closes it when tb ends.
func mustOpenPath(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// migrated is mustOpen's template: the bytes of a migrated, closed file
// (closing checkpoints the WAL into it; a WAL left behind is kept too).
var migrated struct {
	once  sync.Once
	files map[string][]byte // by suffix: "" and "-wal"
	err   error
}

func makeMigrated() {
	dir, err := os.MkdirTemp("", "refundd-sqlite-template-")
	if err != nil {
		migrated.err = err
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "refundd.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		migrated.err = err
		return
	}
	if err := s.Close(); err != nil {
		migrated.err = err
		return
	}
	migrated.files = map[string][]byte{}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		switch {
		case os.IsNotExist(err) && suffix != "":
		case err != nil:
			migrated.err = err
			return
		default:
			migrated.files[suffix] = b
		}
	}
}

// TestPragmas checks that every connection, writer and readers, runs with
// the pragmas durability and integrity depend on.
func TestPragmas(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	for _, h := range []struct {
		name string
		db   *sql.DB
		want map[string]string
	}{
		{"writer", s.writer, map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000", "query_only": "0", "temp_store": "2"}},
		{"reader", s.reader, map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000", "query_only": "1"}},
	} {
		// Hold every connection of the pool at once so each one is checked.
		// The writer pool's one connection is the committer's, idle here.
		var conns []*sql.Conn
		if h.db == s.writer {
			conns = append(conns, s.wstmts.conn)
		} else {
			for range readers {
				c, err := h.db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
		}
		for i, c := range conns {
			for pragma, want := range h.want {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatalf("%s %d: PRAGMA %s: %v", h.name, i, pragma, err)
				}
				if got != want {
					t.Errorf("%s connection %d: %s = %s, want %s", h.name, i, pragma, got, want)
				}
			}
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "refundd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	m := &refund.Merchant{ID: "mer_1", Name: "Kept", CreatedAt: time.Unix(1700000000, 0)}
	if err := s.Update(t.Context(), func(tx refund.Tx) error { return tx.CreateMerchant(t.Context(), m) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s = mustMigrate(t) // a fresh file: count what one migration run records
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer reopened.Close()
	for _, st := range []*Store{s, reopened} {
		var n, max int
		if err := st.reader.QueryRowContext(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || max != ms[len(ms)-1].Version {
			t.Fatalf("schema_migrations holds %d versions up to %d, want %d up to %d", n, max, len(ms), ms[len(ms)-1].Version)
		}
	}
	err = reopened.View(t.Context(), func(tx refund.Tx) error {
		got, err := tx.GetMerchant(t.Context(), "mer_1")
		if err == nil && got.Name != "Kept" {
			t.Errorf("merchant after reopen = %+v", got)
		}
		return err
	})
	if err != nil {
		t.Fatalf("merchant after reopen: %v", err)
	}
}

func TestOpenRefusesOddPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

func TestViewIsReadOnly(t *testing.T) {
	s := mustOpen(t)
	err := s.View(t.Context(), func(tx refund.Tx) error {
		return tx.CreateMerchant(t.Context(), &refund.Merchant{ID: "mer_1", Name: "No"})
	})
	if err == nil {
		t.Fatal("a write inside View succeeded")
	}
	if refund.ErrorCode(err) != refund.EInternal {
		t.Fatalf("write inside View: code %q, want internal", refund.ErrorCode(err))
	}
}

// TestDriverErrorsStayInside checks that no driver type crosses the edge:
// a constraint violation with no domain meaning is a plain internal error.
func TestDriverErrorsStayInside(t *testing.T) {
	s := mustOpen(t)
	create := func(tx refund.Tx) error {
		return tx.CreateMerchant(t.Context(), &refund.Merchant{ID: "mer_1", Name: "Twice", CreatedAt: time.Unix(1700000000, 0)})
	}
	if err := s.Update(t.Context(), create); err != nil {
		t.Fatal(err)
	}
	err := s.Update(t.Context(), create)
	if err == nil {
		t.Fatal("duplicate merchant id accepted")
	}
	if _, ok := code(err); ok {
		t.Fatalf("Update returned a driver error: %#v", err)
	}
	if refund.ErrorCode(err) != refund.EInternal {
		t.Fatalf("code %q, want internal", refund.ErrorCode(err))
	}
}

// busyError returns a real SQLITE_BUSY from the driver: a second
// connection, with no busy timeout, trying to write while s's writer holds
// the write lock.
func busyError(t *testing.T, s *Store) error {
	t.Helper()
	other, err := sql.Open(driverName, source(s.path, url.Values{"_pragma": {"busy_timeout(0)"}, "_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	locked := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.Update(context.Background(), func(tx refund.Tx) error {
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	_, busy := other.BeginTx(t.Context(), nil)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if busy == nil {
		t.Fatal("a second writer took the lock")
	}
	return busy
}

func TestUpdateRetriesWhenBusy(t *testing.T) {
	s := mustOpen(t)
	busy := busyError(t, s)
	if !retryable(busy) {
		t.Fatalf("retryable(%v) = false, want true", busy)
	}
	if retryable(errors.New("database is locked")) {
		t.Fatal("retryable matched an error by its text")
	}

	calls := 0
	err := s.Update(t.Context(), func(tx refund.Tx) error {
		calls++
		if calls < 3 {
			return wrap("test", busy)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Update = %v after %d calls, want nil after 3", err, calls)
	}

	calls = 0
	err = s.Update(t.Context(), func(tx refund.Tx) error {
		calls++
		return wrap("test", busy)
	})
	if err == nil || calls != maxRetries+1 {
		t.Fatalf("Update = %v after %d calls, want an error after %d", err, calls, maxRetries+1)
	}
	if _, ok := code(err); ok {
		t.Fatalf("Update returned a driver error: %#v", err)
	}
}

func TestFileIsCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub-less.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) refund.Store { return mustOpen(b) })
}

// BenchmarkRefundHistory compares a whole refund on a fresh order with one
// on an order that already has 10,000 refunds.
func BenchmarkRefundHistory(b *testing.B) {
	storetest.BenchmarkRefundHistory(b, func(b *testing.B) refund.Store { return mustOpen(b) })
}

// TestInvoiceLookupsUseAnIndex holds the refund path's invoice lookups
// to an index that leads with the order, the refund or the parent: never
// a walk of the merchant's invoices (invoices_merchant) or of the table,
// which made a refund of an invoiced order cost more with every invoice
// the merchant had issued (BenchmarkInvoiceHistory).
func TestInvoiceLookupsUseAnIndex(t *testing.T) {
	s := mustOpen(t)
	for name, f := range storetest.InvoiceLookups() {
		t.Run(name, func(t *testing.T) {
			query, args := listInvoicesQuery(f)
			got := queryPlan(t, s.reader, query, args...)
			if !storetest.ByLookupIndex(got) || strings.Contains(got, "SCAN invoices") {
				t.Errorf("%s\nis planned as %s", query, got)
			}
			// One type of an order's invoices is a probe, not a walk of the
			// order's others (thousands of credit notes before its tax invoice).
			if f.OrderID != "" && f.Type != "" && !strings.Contains(got, "type=?") && !strings.Contains(got, "invoices_order_sale") {
				t.Errorf("%s\nis planned as %s: the type is not in the index search", query, got)
			}
		})
	}
}

// TestReconciliationLookupsUseAnIndex holds a reconciliation's lookups to
// their indexes: the refunds a report lists by refund id, not by a walk of
// all the merchant's listings (the primary key's prefix); the refunds that
// succeeded in its days through refunds_succeeded, in its order, page
// after page, not a walk of every refund the merchant made
// (refunds_merchant (merchant_id=?), as the filter by creation time was
// planned); and one processor account's refunds through the orders'
// partial index, not a scan of every order; and the refunds an older node
// finished without a time through refunds_succeeded_unknown.
func TestReconciliationLookupsUseAnIndex(t *testing.T) {
	s := mustOpen(t)
	args := []any{"m_1", "pa_1", int64(1), int64(2)}
	for range otherReportsChunk {
		args = append(args, "re_1")
	}
	if got := queryPlan(t, s.reader, listedByOtherReportsSQL, args...); !strings.Contains(got, "reported_refunds_refund") {
		t.Errorf("listings by refund are planned as %s", got)
	}
	for _, account := range []string{"", "pa_1"} {
		for _, after := range []*refund.Refund{nil, {ID: "re_1", SucceededAt: time.Unix(1, 5)}} {
			query, qargs := listSucceededQuery(refund.SucceededFilter{MerchantID: "m_1", ProcessorAccount: account,
				From: time.Unix(1, 0), To: time.Unix(2, 0), After: after, Limit: 500})
			got := queryPlan(t, s.reader, query, qargs...)
			if !strings.Contains(got, "SEARCH refunds USING INDEX refunds_succeeded (merchant_id=? AND ") || strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("the refunds that succeeded in a report's days (account %q, a later page %v) are planned as %s", account, after != nil, got)
			}
			if account != "" && (!strings.Contains(got, "orders_processor_account") || strings.Contains(got, "SCAN orders")) {
				t.Errorf("one account's refunds are planned as %s", got)
			}
		}
	}
	if got := queryPlan(t, s.reader, recoverSucceededAtSQL, "m_1"); !strings.Contains(got, "refunds_succeeded_unknown") {
		t.Errorf("the refunds an older node finished are planned as %s", got)
	}
}

// TestApprovalQueueUsesAnIndex holds the approvals queue (the refunds of
// a merchant waiting for approval, oldest or newest first, a first page or
// a later one) to the partial index of the refunds waiting
// (refunds_approvals), in the index's order. Through refunds_merchant
// (merchant_id, id) each page walked the merchant's history for the few
// waiting in it (BenchmarkApprovalQueue). The plan must not wait for the
// values: SQLite plans a statement before they are bound, and one whose
// bound value a partial index's condition compares (status = ?) again on
// every run, once they are.
func TestApprovalQueueUsesAnIndex(t *testing.T) {
	s := mustOpen(t)
	for name, f := range storetest.ApprovalQueues("m_1", "re_1") {
		t.Run(name, func(t *testing.T) {
			query, args := listRefundsQuery(f)
			unbound := make([]any, len(args)) // NULLs: no value to plan for
			for _, args := range [][]any{args, unbound} {
				got := queryPlan(t, s.reader, query, args...)
				if !strings.HasPrefix(got, "SEARCH refunds USING INDEX refunds_approvals (merchant_id=?") || strings.Contains(got, "TEMP B-TREE") {
					t.Errorf("%s\nis planned, its values %v, as %s", query, args, got)
				}
			}
		})
	}
}

// An order's refunds in a status (a refund's wait for others in flight,
// GET /v1/refunds?order_id=&status=) are found by the order's index, not
// by walking the approvals queue; and no known status is bound, which
// would make SQLite plan the statement again on every run (a partial index
// filters on status).
func TestListRefundsByStatusPlans(t *testing.T) {
	s := mustOpen(t)
	for _, st := range []refund.Status{refund.StatusRequiresApproval, refund.StatusPending, refund.StatusProcessing,
		refund.StatusRequiresReview, refund.StatusSucceeded, refund.StatusFailed, refund.StatusCanceled, refund.StatusReversed} {
		t.Run(string(st), func(t *testing.T) {
			query, args := listRefundsQuery(refund.RefundFilter{MerchantID: "m_1", OrderID: "ord_1", Status: st, Limit: 1})
			if got := queryPlan(t, s.reader, query, args...); !strings.HasPrefix(got, "SEARCH refunds USING INDEX refunds_order") {
				t.Errorf("%s\nis planned as %s", query, got)
			}
			query, args = listRefundsQuery(refund.RefundFilter{MerchantID: "m_1", Status: st})
			if slices.Contains(args, any(string(st))) {
				t.Errorf("%s binds the status: %v", query, args)
			}
		})
	}
}

// backfill runs, in one transaction, what stmts makes of the migration
// file's text.
func backfill(t *testing.T, s *Store, file string, stmts func(string) []string) func(context.Context) error {
	text, err := migrations.ReadFile("migrations/" + file + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) error {
		return s.Update(ctx, func(rt refund.Tx) error {
			for _, stmt := range stmts(string(text)) {
				if _, err := rt.(*tx).q.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// TestCreditedBackfill holds migrations 0019's and 0030's backfills to
// what the Service keeps.
func TestCreditedBackfill(t *testing.T) {
	s := mustOpen(t)
	amounts := backfill(t, s, "0019_credited", storetest.CreditedBackfill)
	split := backfill(t, s, "0030_credited_split", storetest.CreditedSplitBackfill)
	storetest.CheckCreditedBackfill(t, s, func(ctx context.Context) error {
		if err := amounts(ctx); err != nil {
			return err
		}
		return split(ctx)
	})
}

// BenchmarkReconcileDay compares a reconciliation's listing of one day's
// refunds by creation time and by when they succeeded, on a merchant with
// 30,000 refunds.
func BenchmarkReconcileDay(b *testing.B) {
	storetest.BenchmarkReconcileDay(b, func(b *testing.B) refund.Store { return mustOpen(b) })
}

// TestSucceededBackfill holds migration 0022's backfill to what the
// Service keeps.
func TestSucceededBackfill(t *testing.T) {
	s := mustOpen(t)
	storetest.CheckSucceededBackfill(t, s, backfill(t, s, "0022_succeeded_at", storetest.SucceededBackfill))
}

// TestApprovalBackfill holds migration 0024's backfill to what the
// Service keeps.
func TestApprovalBackfill(t *testing.T) {
	s := mustOpen(t)
	storetest.CheckApprovalBackfill(t, s, backfill(t, s, "0024_approval_expires_at", storetest.ApprovalBackfill))
}

// BenchmarkApprovalQueue lists the approvals queue, 50 refunds waiting
// for approval among a merchant's 200,000, oldest first and newest first.
func BenchmarkApprovalQueue(b *testing.B) {
	storetest.BenchmarkApprovalQueue(b, func(b *testing.B) refund.Store { return mustOpen(b) })
}

// BenchmarkInvoiceHistory compares a refund of an invoiced order for a
// merchant without other invoices and for one with 10,000.
func BenchmarkInvoiceHistory(b *testing.B) {
	storetest.BenchmarkInvoiceHistory(b, func(b *testing.B) refund.Store { return mustOpen(b) })
}

// TestCascadesUseAnIndex: a delete that cascades to a child table finds
// the child's rows through an index, not a scan of the whole table per
// parent row (SQLite runs the cascade as this statement).
func TestCascadesUseAnIndex(t *testing.T) {
	s := mustOpen(t)
	rows, err := s.reader.QueryContext(t.Context(), `SELECT m.name, p."table", p."from", p.on_delete
		FROM sqlite_schema m, pragma_foreign_key_list(m.name) p WHERE m.type = 'table' AND p.on_delete = 'CASCADE'`)
	if err != nil {
		t.Fatal(err)
	}
	type fk struct{ child, parent, column, action string }
	var fks []fk
	for rows.Next() {
		var f fk
		if err := rows.Scan(&f.child, &f.parent, &f.column, &f.action); err != nil {
			t.Fatal(err)
		}
		fks = append(fks, f)
	}
	rows.Close()
	if len(fks) == 0 {
		t.Fatal("no cascading foreign key found: the query above is wrong")
	}
	for _, f := range fks {
		if got := queryPlan(t, s.reader, `DELETE FROM `+f.child+` WHERE "`+f.column+`" = ?`, "x"); !strings.Contains(got, "USING INDEX") && !strings.Contains(got, "USING COVERING INDEX") {
			t.Errorf("deleting %s's rows cascades to %s.%s, planned as %q: a scan per %s row", f.parent, f.child, f.column, got, f.parent)
		}
	}
}

// queryPlan is SQLite's plan for query, its steps joined by "; ".
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
