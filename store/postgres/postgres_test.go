package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/store/postgres/pgtest"
	"github.com/refundd/refundd/store/storetest"
)

// poolSize caps each test pool, so that parallel tests stay well inside
// the server's max_connections.
const poolSize = 4

// mustSchema returns the URL of a fresh schema, dropped when tb ends (see
// pgtest.URL); it skips tb when REFUNDD_TEST_POSTGRES is not set.
func mustSchema(tb testing.TB) string {
	tb.Helper()
	return pgtest.URL(tb, poolSize)
}

// mustOpenURL opens a store on url and closes it when tb ends.
func mustOpenURL(tb testing.TB, url string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), url)
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

// mustOpen opens a store on an empty migrated schema of its own (from
// pgtest's pool; see pgtest.Migrated).
func mustOpen(tb testing.TB) *Store {
	tb.Helper()
	return mustOpenURL(tb, pgtest.Migrated(tb, poolSize, migrate))
}

// migrate migrates the schema at url, for pgtest's pool.
func migrate(ctx context.Context, url string) error {
	s, err := Open(ctx, url)
	if err != nil {
		return err
	}
	return s.Close()
}

func TestMain(m *testing.M) { os.Exit(pgtest.AfterTests(m.Run())) }

func TestStore(t *testing.T) {
	pgtest.BaseURL(t) // one skip message, not one per check
	storetest.Run(t, func(t *testing.T) refund.Store { return mustOpen(t) })
}

func TestMigrate(t *testing.T) {
	url := mustSchema(t)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	// Nodes starting together all migrate the same schema at once.
	const nodes = 4
	stores := make([]*Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: Open: %v", i, err)
		}
		defer stores[i].Close()
	}
	s := stores[0]
	m := &refund.Merchant{ID: "mer_1", Name: "Kept", CreatedAt: time.Unix(1700000000, 0)}
	if err := s.Update(t.Context(), func(tx refund.Tx) error { return tx.CreateMerchant(t.Context(), m) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	var n, max int
	if err := s.pool.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || max != ms[len(ms)-1].Version {
		t.Fatalf("schema_migrations holds %d versions up to %d, want %d up to %d", n, max, len(ms), ms[len(ms)-1].Version)
	}
	err = stores[1].View(t.Context(), func(tx refund.Tx) error {
		got, err := tx.GetMerchant(t.Context(), "mer_1")
		if err == nil && got.Name != "Kept" {
			t.Errorf("merchant after migrating again = %+v", got)
		}
		return err
	})
	if err != nil {
		t.Fatalf("merchant after migrating again: %v", err)
	}
}

// TestOpenFails checks that Open reports bad URLs, unreachable servers,
// missing databases or schemas and read-only connections without leaking
// the password or a driver type. The first cases need no server: nothing listens on port 1.
func TestOpenFails(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"NotAURL", "postgres://refundd:s3cret-pw@%zz/refundd"},
		{"BadSSLMode", "postgres://refundd:s3cret-pw@127.0.0.1:5432/refundd?sslmode=bogus"},
		{"NothingListens", "postgres://refundd:s3cret-pw@127.0.0.1:1/refundd?sslmode=disable&connect_timeout=5"},
		{"NoSuchDatabase", ""},
		{"NoSuchSchema", ""},
		{"ReadOnly", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url
			switch tc.name {
			case "NoSuchDatabase":
				url = withParam(t, pgtest.BaseURL(t), "", "refundd_no_such_database")
			case "NoSuchSchema":
				url = withParam(t, pgtest.BaseURL(t), "search_path", "refundd_no_such_schema")
			case "ReadOnly":
				// Up to date, so no migration would write.
				url = withParam(t, pgtest.Migrated(t, poolSize, migrate), "default_transaction_read_only", "on")
			}
			s, err := Open(t.Context(), url)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", url)
			}
			if strings.Contains(err.Error(), "s3cret-pw") || fromDriver(err) {
				t.Fatalf("Open error %#v leaks the password or a driver type", err)
			}
		})
	}
}

// TestMigrationsMatchSQLite keeps the two stores' schema versions in step:
// version N must mean the same change on both backends.
func TestMigrationsMatchSQLite(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
	}
	sqlite, err := filepath.Glob("../sqlite/migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range sqlite {
		want = append(want, filepath.Base(p))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("PostgreSQL migrations %v, SQLite migrations %v: want the same files", got, want)
	}
}

// withParam returns url with query parameter key set to value, or with
// its database replaced by value when key is "".
func withParam(t *testing.T, raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if key == "" {
		u.Path = "/" + value
		return u.String()
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestViewIsReadOnly(t *testing.T) {
	s := mustOpen(t)
	err := s.View(t.Context(), func(tx refund.Tx) error {
		return tx.CreateMerchant(t.Context(), &refund.Merchant{ID: "mer_1", Name: "No"})
	})
	if err == nil {
		t.Fatal("a write inside View succeeded")
	}
	if refund.ErrorCode(err) != refund.EInternal || fromDriver(err) {
		t.Fatalf("write inside View: %#v, want an internal error without driver types", err)
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
	var pe *pgconn.PgError
	if errors.As(err, &pe) || fromDriver(err) {
		t.Fatalf("Update returned a driver error: %#v", err)
	}
	if refund.ErrorCode(err) != refund.EInternal {
		t.Fatalf("code %q, want internal", refund.ErrorCode(err))
	}
	if sqlstate(err) != uniqueViolation {
		t.Fatalf("SQLSTATE %q kept inside the error, want %s", sqlstate(err), uniqueViolation)
	}

	// A driver error that fn wraps on its own (not through the store's
	// methods) is hidden too.
	err = s.Update(t.Context(), func(refund.Tx) error { return fmt.Errorf("mine: %w", pgx.ErrNoRows) })
	if err == nil || fromDriver(err) || errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("Update returned %#v, want the text without the driver type", err)
	}

	// A canceled context stays recognisable.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = s.View(ctx, func(tx refund.Tx) error { _, err := tx.GetMerchant(ctx, "mer_1"); return err })
	if !errors.Is(err, context.Canceled) || fromDriver(err) {
		t.Fatalf("View on a canceled context = %#v, want context.Canceled without driver types", err)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"SerializationFailure", &pgconn.PgError{Code: "40001"}, true},
		{"Deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"Wrapped", wrap("adjust order balance", &pgconn.PgError{Code: "40P01"}), true},
		{"UniqueViolation", &pgconn.PgError{Code: "23505"}, false},
		{"DomainError", refund.Errorf(refund.EConflict, "", "stale"), false},
		{"MatchingText", errors.New("ERROR: deadlock detected (SQLSTATE 40P01)"), false},
		{"Nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryable(tc.err); got != tc.want {
				t.Fatalf("retryable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestUpdateRetriesDeadlock makes PostgreSQL abort one of two transactions
// that lock two rows in opposite orders, and checks that Update runs the
// loser's fn again and both commit.
func TestUpdateRetriesDeadlock(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	for _, id := range []string{"mer_a", "mer_b"} {
		if err := s.Update(ctx, func(tx refund.Tx) error {
			return tx.CreateMerchant(ctx, &refund.Merchant{ID: id, Name: "0", CreatedAt: time.Unix(1700000000, 0)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	calls := map[string]int{}
	var locked sync.WaitGroup // both have taken their first row
	locked.Add(2)
	lockBoth := func(first, second string) error {
		return s.Update(ctx, func(rtx refund.Tx) error {
			mu.Lock()
			calls[first]++
			n := calls[first]
			mu.Unlock()
			q := rtx.(*tx).q
			// Detect the deadlock at once instead of after the server's
			// default second.
			if _, err := q.Exec(ctx, `SET LOCAL deadlock_timeout = '10ms'`); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, `UPDATE merchants SET name = name || '+' WHERE id = $1`, first); err != nil {
				return wrap("lock first", err)
			}
			if n == 1 {
				locked.Done()
				locked.Wait()
			}
			if _, err := q.Exec(ctx, `UPDATE merchants SET name = name || '+' WHERE id = $1`, second); err != nil {
				return wrap("lock second", err)
			}
			return nil
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lockBoth("mer_a", "mer_b") }()
	go func() { errs <- lockBoth("mer_b", "mer_a") }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("Update: %v", err)
		}
	}
	// The loser runs again; under load its rerun can take its first row
	// back before the winner's wait wakes, deadlock once more and run a
	// third time. What must hold: a retry happened, and each committed
	// once (below).
	if total := calls["mer_a"] + calls["mer_b"]; total < 3 || calls["mer_a"] < 1 || calls["mer_b"] < 1 {
		t.Fatalf("fn ran %d times (%v), want both at least once and the deadlock's loser again", total, calls)
	}
	for _, id := range []string{"mer_a", "mer_b"} {
		var name string
		if err := s.pool.QueryRow(ctx, `SELECT name FROM merchants WHERE id = $1`, id).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != "0++" {
			t.Fatalf("merchant %s name = %q, want both updates committed once (0++)", id, name)
		}
	}
}

// seed creates a merchant and an order captured for amount on s.
func seed(t testing.TB, s *Store, amount int64) *refund.Order {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	m := &refund.Merchant{ID: "mer_1", Name: "Merchant", CreatedAt: at}
	o := &refund.Order{ID: "ord_1", MerchantID: m.ID, Reference: "ORD-1", Currency: "SAR", Amount: amount, CapturedAmount: amount,
		CreatedAt: at, UpdatedAt: at, Transactions: []refund.Transaction{{ID: "txn_1", Type: refund.TxCapture,
			Status: refund.TxSucceeded, Amount: amount, CreatedAt: at}}}
	err := s.Update(ctx, func(tx refund.Tx) error {
		if err := tx.CreateMerchant(ctx, m); err != nil {
			return err
		}
		return tx.CreateOrder(ctx, o)
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestNodesNeverOverRefund reserves on one order from two pools at once,
// as two nodes would: exactly what was captured is reserved, never more.
func TestNodesNeverOverRefund(t *testing.T) {
	url := mustSchema(t)
	nodes := []*Store{mustOpenURL(t, url), mustOpenURL(t, url)}
	o := seed(t, nodes[0], 30000)
	const perNode = 25 // 50 reservations of 1000 on 30000
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	start := make(chan struct{})
	for _, s := range nodes {
		for range perNode {
			wg.Go(func() {
				<-start
				errs <- s.Update(t.Context(), func(tx refund.Tx) error {
					return tx.AdjustBalances(t.Context(), refund.Balances{OrderID: o.ID, CaptureID: "txn_1", Amount: 1000}, refund.Reserve)
				})
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	got := map[string]int{}
	for err := range errs {
		switch {
		case err == nil:
			got["reserved"]++
		case refund.ErrorCode(err) == refund.EAmountExceedsRefundable && refund.ErrorParam(err) == "amount":
			got["refused"]++
		default:
			t.Fatalf("reserve: %v", err)
		}
	}
	if got["reserved"] != 30 || got["refused"] != 20 {
		t.Fatalf("outcomes %v, want 30 reserved and 20 refused", got)
	}
	var pending, captured int64
	if err := nodes[1].pool.QueryRow(t.Context(), `SELECT o.pending_refund_amount, c.pending_amount
		FROM orders o JOIN transactions c ON c.order_id = o.id WHERE o.id = $1`, o.ID).Scan(&pending, &captured); err != nil {
		t.Fatal(err)
	}
	if pending != 30000 || captured != 30000 {
		t.Fatalf("pending on order %d, on capture %d; want 30000 each", pending, captured)
	}
}

// TestReadThenWriteWaits runs many read-check-write transactions on one
// refund from two nodes at once, as requests and workers applying
// processor answers do. A refund read inside Update stays locked, so each
// transaction sees the one before it committed and none fails on the
// version check: the outcome SQLite's single writer gives.
func TestReadThenWriteWaits(t *testing.T) {
	url := mustSchema(t)
	nodes := []*Store{mustOpenURL(t, url), mustOpenURL(t, url)}
	o := seed(t, nodes[0], 30000)
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	r := &refund.Refund{ID: "re_1", MerchantID: o.MerchantID, OrderID: o.ID, Seq: 1, Amount: 100, Currency: "SAR",
		Status: refund.StatusProcessing, NextAttemptAt: at, Version: 1, CreatedAt: at, UpdatedAt: at}
	if err := nodes[0].Update(t.Context(), func(tx refund.Tx) error { return tx.CreateRefund(t.Context(), r) }); err != nil {
		t.Fatal(err)
	}
	const perNode = 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	for _, s := range nodes {
		for range perNode {
			wg.Go(func() {
				errs <- s.Update(t.Context(), func(tx refund.Tx) error {
					cur, err := tx.GetRefund(t.Context(), "", r.ID)
					if err != nil {
						return err
					}
					cur.Attempts++
					return tx.UpdateRefund(t.Context(), cur)
				})
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("read-check-write: %v", err)
		}
	}
	var got *refund.Refund
	if err := nodes[1].View(t.Context(), func(tx refund.Tx) (err error) {
		got, err = tx.GetRefund(t.Context(), "", r.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.Attempts != 2*perNode || got.Version != 2*perNode+1 {
		t.Fatalf("Attempts = %d, Version = %d; want %d and %d", got.Attempts, got.Version, 2*perNode, 2*perNode+1)
	}
}

// TestOrderReadForARefundLocks: inside Update, GetOrderForRefund locks the
// order's row (a reservation then needs no answer, see holdReserve),
// except in a transaction that already holds a refund's row, which must
// take the order after the refund as every other transaction does. Read
// from another connection with NOWAIT while the Update is open.
func TestOrderReadForARefundLocks(t *testing.T) {
	s := mustOpen(t)
	o := seed(t, s, 30000)
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	r := &refund.Refund{ID: "re_1", MerchantID: o.MerchantID, OrderID: o.ID, Seq: 1, Amount: 100, Currency: "SAR",
		Status: refund.StatusProcessing, NextAttemptAt: at, Version: 1, CreatedAt: at, UpdatedAt: at}
	if err := s.Update(t.Context(), func(tx refund.Tx) error { return tx.CreateRefund(t.Context(), r) }); err != nil {
		t.Fatal(err)
	}
	locked := func() bool {
		t.Helper()
		c, err := s.pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		_, err = c.Exec(t.Context(), `SELECT 1 FROM orders WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, o.ID)
		if sqlstate(err) == "55P03" { // lock_not_available
			return true
		}
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	for _, tc := range []struct {
		name       string
		refundRead bool
		want       bool
	}{{"OrderFirst", false, true}, {"AfterARefund", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			err := s.Update(t.Context(), func(tx refund.Tx) error {
				if tc.refundRead {
					if _, err := tx.GetRefund(t.Context(), "", r.ID); err != nil {
						return err
					}
				}
				if _, err := tx.GetOrderForRefund(t.Context(), o.MerchantID, o.ID); err != nil {
					return err
				}
				got = locked()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("order locked while the Update runs = %v, want %v", got, tc.want)
			}
			if locked() {
				t.Fatal("order still locked after the Update")
			}
		})
	}
}

// TestNodesNeverShareClaims claims refunds and webhook deliveries from two
// pools at once: every item is claimed exactly once. Then, with one node's
// claim transaction held open, the other still claims the rest at once:
// locked rows are skipped, not waited for.
func TestNodesNeverShareClaims(t *testing.T) {
	url := mustSchema(t)
	nodes := []*Store{mustOpenURL(t, url), mustOpenURL(t, url)}
	o := seed(t, nodes[0], 1000000)
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	const items = 60
	err := nodes[0].Update(t.Context(), func(tx refund.Tx) error {
		ev := &refund.Event{ID: "evt_1", MerchantID: o.MerchantID, Type: refund.EventRefundSucceeded, CreatedAt: at}
		if err := tx.InsertEvent(t.Context(), ev); err != nil {
			return err
		}
		for i := range items {
			r := &refund.Refund{ID: fmt.Sprintf("re_%03d", i), MerchantID: o.MerchantID, OrderID: o.ID, Seq: i + 1, Amount: 100,
				Currency: "SAR", Status: refund.StatusProcessing, Attempts: 1, NextAttemptAt: at.Add(-time.Minute),
				Version: 1, CreatedAt: at, UpdatedAt: at}
			if err := tx.CreateRefund(t.Context(), r); err != nil {
				return err
			}
			d := &refund.Delivery{ID: fmt.Sprintf("wd_%03d", i), MerchantID: o.MerchantID, EventID: ev.ID, URL: "https://merchant.example/h",
				Status: refund.DeliveryPending, NextAttemptAt: at.Add(-time.Minute), Version: 1, CreatedAt: at, UpdatedAt: at}
			if err := tx.InsertDelivery(t.Context(), d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	claimRefunds := func(s *Store, limit int) ([]string, error) {
		var ids []string
		err := s.Update(t.Context(), func(tx refund.Tx) error {
			ids = ids[:0]
			rs, err := tx.ClaimDueRefunds(t.Context(), at, time.Minute, limit)
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			return err
		})
		return ids, err
	}
	claimDeliveries := func(s *Store, limit int) ([]string, error) {
		var ids []string
		err := s.Update(t.Context(), func(tx refund.Tx) error {
			ids = ids[:0]
			ds, err := tx.ClaimDueDeliveries(t.Context(), at, time.Minute, limit, refund.TargetCap{})
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			return err
		})
		return ids, err
	}

	for _, tc := range []struct {
		name  string
		claim func(s *Store, limit int) ([]string, error)
	}{
		{"Refunds", claimRefunds},
		{"Deliveries", claimDeliveries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for _, s := range nodes {
				for range 3 { // a few claimers per node
					wg.Go(func() {
						for {
							ids, err := tc.claim(s, 4)
							if err != nil {
								t.Error(err)
								return
							}
							if len(ids) == 0 {
								return
							}
							mu.Lock()
							for _, id := range ids {
								seen[id]++
							}
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			if len(seen) != items {
				t.Fatalf("claimed %d distinct items, want %d", len(seen), items)
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("%s claimed %d times", id, n)
				}
			}
		})
	}

	// The leases above run out a minute after at; claim again from there.
	later := at.Add(time.Minute)
	t.Run("SkipsLockedRows", func(t *testing.T) {
		held := make(chan []*refund.Refund)
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			done <- nodes[0].Update(t.Context(), func(tx refund.Tx) error {
				rs, err := tx.ClaimDueRefunds(t.Context(), later, time.Minute, 10)
				if err != nil {
					return err
				}
				held <- rs
				<-release // keep the claimed rows locked
				return nil
			})
		}()
		first := <-held
		// If node 1 waited for node 0's locks instead of skipping them, it
		// would block until the deadline: fail rather than hang.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var second []*refund.Refund
		err := nodes[1].Update(ctx, func(tx refund.Tx) (err error) {
			second, err = tx.ClaimDueRefunds(ctx, later, time.Minute, items)
			return err
		})
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("claim beside a held claim: %v", err)
		}
		if len(first) != 10 || len(second) != items-10 {
			t.Fatalf("claimed %d and %d, want 10 and %d", len(first), len(second), items-10)
		}
		for _, a := range first {
			for _, b := range second {
				if a.ID == b.ID {
					t.Fatalf("%s claimed by both nodes", a.ID)
				}
			}
		}
	})
}

// The benchmarks take fresh schemas: a pooled one holds an earlier
// test's dead rows and statistics.

// BenchmarkStore is the conformance benchmark every store runs (a
// refund's reservation and insert, serial, spread and on one hot order).
func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) refund.Store { return mustOpenURL(b, mustSchema(b)) })
}

// BenchmarkRefundHistory compares a whole refund on a fresh order with one
// on an order that already has 10,000 refunds.
func BenchmarkRefundHistory(b *testing.B) {
	storetest.BenchmarkRefundHistory(b, func(b *testing.B) refund.Store { return mustOpenURL(b, mustSchema(b)) })
}

// TestInvoiceLookupsUseAnIndex holds the refund path's invoice lookups,
// as generic plans (what a prepared statement gets after five runs), to an
// index that leads with the order, the refund or the parent: never a scan
// of the table or of the merchant's invoices, which made a refund of an
// invoiced order cost more with every invoice issued
// (BenchmarkInvoiceHistory). The merchant has 2,000 invoices, analyzed.
func TestInvoiceLookupsUseAnIndex(t *testing.T) {
	// A fresh schema: the plans follow the statistics, which a pooled
	// schema's earlier rows would have moved.
	s := mustOpenURL(t, mustSchema(t))
	storetest.SeedInvoices(t, s, "mer_1", 2000)
	conn := genericPlanning(t, s, "invoices")
	for name, f := range storetest.InvoiceLookups() {
		t.Run(name, func(t *testing.T) {
			query, args := listInvoicesQuery(f)
			lines := genericPlan(t, conn, "lookup_"+strings.ToLower(name), query, args)
			plan := strings.Join(lines, "\n")
			if !strings.Contains(plan, "$1") || !storetest.ByLookupIndex(plan) || strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s\nis planned as\n%s", query, plan)
			}
			// One type of an order's invoices is a probe, not a walk of the
			// order's others (thousands of credit notes before its tax invoice).
			if f.OrderID != "" && f.Type != "" && !slices.ContainsFunc(lines, func(l string) bool {
				return strings.Contains(l, "Index Cond") && strings.Contains(l, "type")
			}) {
				t.Errorf("%s\nis planned as\n%s: the type is not in the index condition", query, plan)
			}
		})
	}
}

// genericPlan is the plan of query prepared as stmt on conn, whose
// session forces generic plans: EXPLAIN with parameters plans for their
// values, a statement prepared by name gets the generic plan.
func genericPlan(t *testing.T, conn *pgxpool.Conn, stmt, query string, args []any) []string {
	t.Helper()
	var types, values []string
	for _, a := range args {
		switch a := a.(type) {
		case string:
			types, values = append(types, "text"), append(values, "'"+strings.ReplaceAll(a, "'", "''")+"'")
		case time.Time:
			types, values = append(types, "timestamptz"), append(values, "'"+a.Format(time.RFC3339Nano)+"'")
		default:
			types, values = append(types, "bigint"), append(values, fmt.Sprint(a))
		}
	}
	ctx := t.Context()
	if _, err := conn.Exec(ctx, "PREPARE "+stmt+" ("+strings.Join(types, ", ")+") AS "+query); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE "+stmt+" ("+strings.Join(values, ", ")+")")
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestReconciliationListingUsesAnIndex holds a reconciliation's question,
// which refunds succeeded in a report's days, to refunds_succeeded in its
// order as a generic plan, first page and later ones, of one processor
// account or all, on a merchant with 60 days of refunds, analyzed, and
// its recovery of refunds an older node finished to their partial index. Asked as a filter of ListRefunds (newest
// first by id), the generic plan walked refunds_pkey backwards through
// every refund the merchant made.
func TestReconciliationListingUsesAnIndex(t *testing.T) {
	// A fresh schema: the plans follow the statistics, which a pooled
	// schema's earlier rows would have moved.
	s := mustOpenURL(t, mustSchema(t))
	storetest.SeedSucceededRefunds(t, s, "mer_1", 60, 100)
	conn := genericPlanning(t, s, "refunds")
	day := time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC) // the seed's 31st day
	i := 0
	for _, account := range []string{"", "pa_1"} {
		for _, after := range []*refund.Refund{nil, {ID: "re_mer_1_0003050", SucceededAt: day.Add(10*time.Hour + 19*time.Minute)}} {
			query, args := listSucceededQuery(refund.SucceededFilter{MerchantID: "mer_1", ProcessorAccount: account,
				From: day, To: day.Add(24 * time.Hour), After: after, Limit: 500})
			i++
			plan := strings.Join(genericPlan(t, conn, fmt.Sprintf("succeeded_in_a_day_%d", i), query, args), "\n")
			if !strings.Contains(plan, "Index Scan using refunds_succeeded") || strings.Contains(plan, "Sort") || strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s\nis planned as\n%s", query, plan)
			}
		}
	}
	if plan := strings.Join(genericPlan(t, conn, "recover_succeeded_at", recoverSucceededAtSQL, []any{"mer_1"}), "\n"); !strings.Contains(plan, "refunds_succeeded_unknown") {
		t.Errorf("%s\nis planned as\n%s", recoverSucceededAtSQL, plan)
	}
}

// TestApprovalQueueUsesAnIndex holds the approvals queue (the refunds
// of a merchant waiting for approval, oldest or newest first, a first page
// or a later one) to the partial index of the refunds waiting
// (refunds_approvals), as generic plans, on a merchant with 20,000
// refunds of which 50 wait, analyzed. Through refunds_merchant (merchant_id,
// id) each page walked the merchant's history for the few waiting in it
// (BenchmarkApprovalQueue); with its status bound, the generic plan could
// not use the partial index.
func TestApprovalQueueUsesAnIndex(t *testing.T) {
	// A fresh schema: the plans follow the statistics, which a pooled
	// schema's earlier rows would have moved.
	s := mustOpenURL(t, mustSchema(t))
	queue := storetest.SeedApprovalQueue(t, s, "mer_1", 20_000, 50)
	conn := genericPlanning(t, s, "refunds")
	for name, f := range storetest.ApprovalQueues("mer_1", queue[25]) {
		t.Run(name, func(t *testing.T) {
			query, args := listRefundsQuery(f)
			plan := strings.Join(genericPlan(t, conn, "approvals_"+strings.ToLower(name), query, args), "\n")
			if !strings.Contains(plan, "$1") || !strings.Contains(plan, "Index Scan") || !strings.Contains(plan, "using refunds_approvals") ||
				strings.Contains(plan, "Sort") || strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s\nis planned as\n%s", query, plan)
			}
		})
	}
}

// backfill runs what stmts makes of the migration file's text, one
// statement at a time.
func backfill(t *testing.T, s *Store, file string, stmts func(string) []string) func(context.Context) error {
	text, err := migrations.ReadFile("migrations/" + file + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) error {
		for _, stmt := range stmts(string(text)) {
			if _, err := s.pool.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
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
	storetest.BenchmarkReconcileDay(b, func(b *testing.B) refund.Store { return mustOpenURL(b, mustSchema(b)) })
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
	storetest.BenchmarkApprovalQueue(b, func(b *testing.B) refund.Store { return mustOpenURL(b, mustSchema(b)) })
}

// BenchmarkInvoiceHistory compares a refund of an invoiced order for a
// merchant without other invoices and for one with 10,000.
func BenchmarkInvoiceHistory(b *testing.B) {
	storetest.BenchmarkInvoiceHistory(b, func(b *testing.B) refund.Store { return mustOpenURL(b, mustSchema(b)) })
}

// TestInvoices round-trips invoices and their configuration, and checks
// that serial numbers handed out from two nodes at once are gapless even
// when some of the transactions roll back.
func TestInvoices(t *testing.T) {
	url := mustSchema(t)
	nodes := []*Store{mustOpenURL(t, url), mustOpenURL(t, url)}
	s, ctx := nodes[0], t.Context()
	o := seed(t, s, 30000)
	at := time.Date(2025, 3, 1, 9, 30, 0, 123456000, time.UTC)

	t.Run("Config", func(t *testing.T) {
		err := s.View(ctx, func(tx refund.Tx) error { _, err := tx.GetInvoiceConfig(ctx, o.MerchantID); return err })
		if refund.ErrorCode(err) != refund.ENotFound {
			t.Fatalf("GetInvoiceConfig before any: %v, want not_found", err)
		}
		for _, c := range []*refund.InvoiceConfig{
			{MerchantID: o.MerchantID, SerialPrefix: "INV-", ZATCAEnabled: true, UpdatedAt: at},
			{MerchantID: o.MerchantID, SerialPrefix: "CN-", SellerName: "Souq", VATNumber: "300000000000003", UpdatedAt: at.Add(time.Hour)},
		} {
			var got *refund.InvoiceConfig
			err := s.Update(ctx, func(tx refund.Tx) (err error) {
				if err := tx.PutInvoiceConfig(ctx, c); err != nil {
					return err
				}
				got, err = tx.GetInvoiceConfig(ctx, o.MerchantID)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if *got != *c {
				t.Fatalf("config = %+v, want %+v", *got, *c)
			}
		}
	})

	sale := &refund.Invoice{MerchantID: o.MerchantID, OrderID: o.ID, Serial: "INV-202500001", Number: 1,
		Type: refund.InvoiceSale, Status: refund.InvoicePaid, Currency: "SAR", Seller: refund.Seller{Name: "Souq", VATNumber: "300000000000003"},
		Customer: refund.Customer{Name: "Noura", Email: "noura@example.com"}, PaymentMethod: "mada",
		SubTotalAmount: 30000, NetAmount: 30000, TotalExcludingTax: 26087, TaxAmount: 3913, TotalAmount: 30000, TaxRate: "15",
		ZATCAStatus: refund.ZATCAReported, IssuedAt: at, CreatedAt: at, UpdatedAt: at,
		Lines: []refund.InvoiceLine{
			{ItemID: "line-1", SKU: "SKU-1", NameEN: "Dates", NameAR: "تمر", Qty: 2, UnitAmount: 10000, Amount: 20000, NetAmount: 20000,
				TotalExcludingTax: 17391, TaxAmount: 2609, TaxRate: "15", Taxable: true},
			{ItemID: "line-2", Qty: 1, UnitAmount: 10000, Amount: 10000, NetAmount: 10000, TotalExcludingTax: 8696, TaxAmount: 1304, TaxRate: "15", Taxable: true},
		}}
	credit := &refund.Invoice{MerchantID: o.MerchantID, OrderID: o.ID, RefundID: "re_1", ParentSerial: sale.Serial,
		Serial: "INV-202500002", Number: 2, Type: refund.InvoiceRefund, Status: refund.InvoicePending, Currency: "SAR",
		Reason: "damaged", SubTotalAmount: 10000, NetAmount: 10000, TotalExcludingTax: 8696, TaxAmount: 1304, TotalAmount: 10000,
		TaxRate: "15", ZATCAStatus: refund.ZATCANotSubmitted, IssuedAt: at, CreatedAt: at, UpdatedAt: at,
		Lines: []refund.InvoiceLine{{ItemID: "line-2", Qty: 1, UnitAmount: 10000, Amount: 10000, NetAmount: 10000,
			TotalExcludingTax: 8696, TaxAmount: 1304, TaxRate: "15", Taxable: true}}}
	err := s.Update(ctx, func(tx refund.Tx) error {
		if err := tx.CreateInvoice(ctx, sale); err != nil {
			return err
		}
		credit.ParentID, credit.Lines[0].ParentLineID = sale.ID, sale.Lines[1].ID
		// A second tax invoice for the order is a conflict that leaves
		// the transaction usable.
		dup := *sale
		dup.Serial, dup.Lines = "INV-202500009", nil
		if err := tx.CreateInvoice(ctx, &dup); refund.ErrorCode(err) != refund.EConflict {
			t.Errorf("second tax invoice: %v, want conflict", err)
		}
		return tx.CreateInvoice(ctx, credit)
	})
	if err != nil {
		t.Fatal(err)
	}
	if sale.ID == 0 || credit.ID <= sale.ID || sale.Lines[0].ID == 0 || sale.Lines[1].ID <= sale.Lines[0].ID {
		t.Fatalf("ids not assigned in order: sale %d lines %d %d, credit %d", sale.ID, sale.Lines[0].ID, sale.Lines[1].ID, credit.ID)
	}

	t.Run("ReadBack", func(t *testing.T) {
		credit.Status, credit.ZATCAStatus, credit.InvoiceError, credit.UpdatedAt = refund.InvoiceVoid, refund.ZATCAAborted, "refund failed", at.Add(time.Minute)
		if err := s.Update(ctx, func(tx refund.Tx) error { return tx.UpdateInvoice(ctx, credit) }); err != nil {
			t.Fatal(err)
		}
		err := nodes[1].View(ctx, func(tx refund.Tx) error {
			for _, want := range []*refund.Invoice{sale, credit} {
				got, err := tx.GetInvoice(ctx, o.MerchantID, want.ID)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("GetInvoice(%d):\n got %+v\nwant %+v", want.ID, got, want)
				}
			}
			if _, err := tx.GetInvoice(ctx, "mer_other", sale.ID); refund.ErrorCode(err) != refund.EInvoiceNotFound {
				t.Errorf("another merchant's invoice: %v, want invoice_not_found", err)
			}
			for _, tc := range []struct {
				name string
				f    refund.InvoiceFilter
				want []*refund.Invoice
			}{
				{"All", refund.InvoiceFilter{MerchantID: o.MerchantID}, []*refund.Invoice{credit, sale}},
				{"Type", refund.InvoiceFilter{MerchantID: o.MerchantID, Type: refund.InvoiceSale}, []*refund.Invoice{sale}},
				{"Parent", refund.InvoiceFilter{MerchantID: o.MerchantID, ParentID: sale.ID}, []*refund.Invoice{credit}},
				{"Cursor", refund.InvoiceFilter{MerchantID: o.MerchantID, Cursor: credit.ID}, []*refund.Invoice{sale}},
				{"Offset", refund.InvoiceFilter{MerchantID: o.MerchantID, Offset: 1, Limit: 1}, []*refund.Invoice{sale}},
				{"Serial", refund.InvoiceFilter{MerchantID: o.MerchantID, Serial: credit.Serial}, []*refund.Invoice{credit}},
				{"None", refund.InvoiceFilter{MerchantID: o.MerchantID, ZATCAStatus: refund.ZATCAFailed}, nil},
			} {
				got, err := tx.ListInvoices(ctx, tc.f)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("ListInvoices %s: got %d invoices, want %d (%+v)", tc.name, len(got), len(tc.want), got)
				}
				n, err := tx.CountInvoices(ctx, tc.f)
				if err != nil {
					return err
				}
				tc.f.Cursor, tc.f.Offset, tc.f.Limit = 0, 0, 0
				all, err := tx.ListInvoices(ctx, tc.f)
				if err != nil {
					return err
				}
				if n != len(all) {
					t.Errorf("CountInvoices %s = %d, want %d", tc.name, n, len(all))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("GaplessSerialsAcrossNodes", func(t *testing.T) {
		const perNode = 15
		var mu sync.Mutex
		var got []int64
		var wg sync.WaitGroup
		for _, n := range nodes {
			for i := range perNode {
				wg.Go(func() {
					var num int64
					err := n.Update(ctx, func(tx refund.Tx) (err error) {
						if num, err = tx.NextInvoiceNumber(ctx, o.MerchantID, 2026); err != nil {
							return err
						}
						if i%3 == 0 {
							return errors.New("roll back: the number goes back")
						}
						return nil
					})
					if err != nil {
						return
					}
					mu.Lock()
					got = append(got, num)
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		slices.Sort(got)
		want := make([]int64, 2*(perNode-(perNode+2)/3))
		for i := range want {
			want[i] = int64(i + 1)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("committed numbers %v, want %v", got, want)
		}
	})
}

// inBatch runs fns as one group commit (one transaction, each fn in its
// own savepoint), as a committer does with Updates that arrive together,
// and returns what each Update would have returned.
func inBatch(s *Store, fns ...func(tx refund.Tx) error) []error {
	var batch []*commitReq
	for _, fn := range fns {
		batch = append(batch, &commitReq{ctx: context.Background(), fn: fn, done: make(chan struct{})})
	}
	s.commitBatch(batch)
	errs := make([]error, len(batch))
	for i, r := range batch {
		<-r.done
		errs[i] = hide(r.err)
	}
	return errs
}

// heldFixture is a store with one merchant and order (seed) for the held
// writes' tests, with what they write: idempotency keys and events.
type heldFixture struct {
	t  *testing.T
	s  *Store
	o  *refund.Order
	at time.Time
}

func newHeldFixture(t *testing.T) heldFixture {
	s := mustOpen(t)
	return heldFixture{t: t, s: s, o: seed(t, s, 1000), at: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}
}

func (f heldFixture) key(k string) *refund.IdempotencyRecord {
	return &refund.IdempotencyRecord{MerchantID: f.o.MerchantID, Key: k, RequestHash: "h", LockedUntil: f.at,
		CreatedAt: f.at, ExpiresAt: f.at.Add(time.Hour)}
}

// event writes (holds, inside Update) an event of the order.
func (f heldFixture) event(tx refund.Tx, id string) error {
	return tx.InsertEvent(context.Background(), &refund.Event{ID: id, MerchantID: f.o.MerchantID, Type: "refund.created",
		OrderID: f.o.ID, Data: []byte(`{}`), CreatedAt: f.at})
}

// committed reports whether the event id was committed.
func (f heldFixture) committed(id string) bool {
	ctx := context.Background()
	err := f.s.View(ctx, func(tx refund.Tx) error { _, err := tx.GetEvent(ctx, f.o.MerchantID, id); return err })
	if err != nil && refund.ErrorCode(err) != refund.EEventNotFound {
		f.t.Fatal(err)
	}
	return err == nil
}

// TestHeldWritesNeverOutliveTheirUpdate: the writes an Update holds for
// its next round trip (see pipe) commit with it or not at all. A refusal
// checked in the server (an idempotency key in use, a stale refund
// version, a vanished key) may arrive with a later statement or with the
// COMMIT; whatever fn does with it (returns it, swallows it, never reads
// again), nothing of that Update commits, alone or in a group commit
// whose other Updates do commit. An fn that fails after holding writes
// takes them with it.
func TestHeldWritesNeverOutliveTheirUpdate(t *testing.T) {
	f := newHeldFixture(t)
	s, o, at, key, committed := f.s, f.o, f.at, f.key, f.committed
	ctx := context.Background()
	r := &refund.Refund{ID: "re_1", MerchantID: o.MerchantID, OrderID: o.ID, CaptureID: "txn_1", Amount: 10, Currency: "SAR",
		Status: refund.StatusPending, Surface: "native", Version: 1, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
	if err := s.Update(ctx, func(tx refund.Tx) error {
		if err := tx.InsertIdempotency(ctx, key("taken")); err != nil {
			return err
		}
		return tx.CreateRefund(ctx, r)
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	// write holds an event and returns its id.
	write := func(tx refund.Tx) (string, error) {
		n++
		id := fmt.Sprintf("evt_%d", n)
		return id, f.event(tx, id)
	}
	read := func(tx refund.Tx) error { _, err := tx.GetOrderForRefund(ctx, o.MerchantID, o.ID); return err }
	stale := *r // version 1; the refund is at 1 until an update below commits
	stale.Version = 7
	refusals := []struct {
		name   string
		refuse func(tx refund.Tx) error
		code   string
	}{
		{"key in use", func(tx refund.Tx) error { return tx.InsertIdempotency(ctx, key("taken")) }, refund.EIdempotencyKeyInUse},
		{"stale refund", func(tx refund.Tx) error { c := stale; return tx.UpdateRefund(ctx, &c) }, refund.EConflict},
		{"no such refund", func(tx refund.Tx) error { c := stale; c.ID = "re_missing"; return tx.UpdateRefund(ctx, &c) }, refund.ERefundNotFound},
		{"vanished key", func(tx refund.Tx) error { return tx.UpdateIdempotency(ctx, key("missing")) }, refund.ENotFound},
		{"final move that does not fit", func(tx refund.Tx) error {
			return tx.AdjustBalances(ctx, refund.Balances{OrderID: o.ID, CaptureID: "txn_1", Amount: 1 << 40}, refund.Commit)
		}, refund.EInternal},
		{"final move of no such order", func(tx refund.Tx) error {
			return tx.AdjustBalances(ctx, refund.Balances{OrderID: "ord_missing", Amount: 10}, refund.Reverse)
		}, refund.EOrderNotFound},
	}
	after := []struct {
		name string
		then func(tx refund.Tx) error
	}{
		{"then nothing", func(refund.Tx) error { return nil }},
		{"then a read", read},
		{"then a read it swallows", func(tx refund.Tx) error { _ = read(tx); return nil }},
	}
	for _, rf := range refusals {
		for _, a := range after {
			t.Run(rf.name+"/"+a.name, func(t *testing.T) {
				var id string
				fn := func(tx refund.Tx) error {
					var err error
					if id, err = write(tx); err != nil {
						return err
					}
					if err := rf.refuse(tx); err != nil {
						return err
					}
					return a.then(tx)
				}
				if err := s.Update(ctx, fn); refund.ErrorCode(err) != rf.code {
					t.Errorf("alone: Update = %v, want %s", err, rf.code)
				}
				if committed(id) {
					t.Errorf("alone: the refused Update committed its event")
				}
				// In a group commit, between two Updates that commit.
				var ids [3]string
				errs := inBatch(s,
					func(tx refund.Tx) (err error) { ids[0], err = write(tx); return err },
					func(tx refund.Tx) error { err := fn(tx); ids[1] = id; return err },
					func(tx refund.Tx) (err error) { ids[2], err = write(tx); return err })
				if errs[0] != nil || errs[2] != nil || refund.ErrorCode(errs[1]) != rf.code {
					t.Errorf("in a batch: Updates = %v, want nil, %s, nil", errs, rf.code)
				}
				if !committed(ids[0]) || committed(ids[1]) || !committed(ids[2]) {
					t.Errorf("in a batch: committed %v %v %v, want true false true", committed(ids[0]), committed(ids[1]), committed(ids[2]))
				}
			})
		}
	}
	t.Run("a failed fn takes its held writes", func(t *testing.T) {
		var ids [4]string
		fail := errors.New("fn fails after holding a write")
		errs := inBatch(s,
			func(tx refund.Tx) (err error) { ids[0], err = write(tx); return err },
			func(tx refund.Tx) error {
				if err := read(tx); err != nil { // its savepoint has gone out
					return err
				}
				ids[1], _ = write(tx) // held
				return fail
			},
			func(tx refund.Tx) error {
				ids[2], _ = write(tx)
				panic("fn panics after holding a write")
			},
			func(tx refund.Tx) (err error) { ids[3], err = write(tx); return err })
		if errs[0] != nil || !errors.Is(errs[1], fail) || errs[2] == nil || errs[3] != nil {
			t.Errorf("Updates = %v", errs)
		}
		for i, want := range []bool{true, false, false, true} {
			if got := committed(ids[i]); got != want {
				t.Errorf("Update %d: event committed = %v, want %v", i, got, want)
			}
		}
	})
	if got := mustRefund(t, s, r.ID); got.Version != 1 {
		t.Errorf("the refund's version = %d after only refused updates, want 1", got.Version)
	}
}

func mustRefund(t *testing.T, s *Store, id string) *refund.Refund {
	t.Helper()
	var r *refund.Refund
	if err := s.View(context.Background(), func(tx refund.Tx) (err error) { r, err = tx.GetRefund(context.Background(), "", id); return err }); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRefusalSurvivesAHangUp: a refusal that arrives with the COMMIT of
// an Update whose caller has gone reaches it as the refusal, not as the
// caller's context error (which callers read as "may have committed").
func TestRefusalSurvivesAHangUp(t *testing.T) {
	f := newHeldFixture(t)
	s, key := f.s, f.key("k")
	ctx := context.Background()
	if err := s.Update(ctx, func(tx refund.Tx) error { return tx.InsertIdempotency(ctx, key) }); err != nil {
		t.Fatal(err)
	}
	gone, hangUp := context.WithCancel(ctx)
	err := s.Update(gone, func(tx refund.Tx) error {
		err := tx.InsertIdempotency(gone, key) // held: refused at the COMMIT
		hangUp()
		return err
	})
	if refund.ErrorCode(err) != refund.EIdempotencyKeyInUse {
		t.Errorf("Update = %v, want %s", err, refund.EIdempotencyKeyInUse)
	}
}

// TestUnknownReleaseFailsTheBatch: when an Update's RELEASE round trip
// fails on the client (the server may have run the RELEASE), rolling back
// to "its" savepoint could undo an earlier Update of the batch that was
// told it committed; the whole batch fails instead, and none of it
// commits.
func TestUnknownReleaseFailsTheBatch(t *testing.T) {
	f := newHeldFixture(t)
	s, o, event := f.s, f.o, f.event
	ctx := context.Background()
	errs := inBatch(s,
		func(tx refund.Tx) error { // its savepoint goes out, then it fails: ROLLBACK TO keeps the name
			if _, err := tx.GetOrderForRefund(ctx, o.MerchantID, o.ID); err != nil {
				return err
			}
			return errors.New("fails")
		},
		func(tx refund.Tx) error { return event(tx, "evt_told_nil") },
		func(rt refund.Tx) error {
			if err := event(rt, "evt_unknown"); err != nil {
				return err
			}
			// A held statement whose row fails to read on the client,
			// after the server has run it and the RELEASE.
			rt.(*tx).q.hold(held{op: "client", sql: "SELECT 1", scan: func(row pgx.Row) error {
				var n int
				if err := row.Scan(&n); err != nil {
					return err
				}
				return errors.New("client-side failure")
			}})
			return nil
		})
	for _, id := range []string{"evt_told_nil", "evt_unknown"} {
		committed := f.committed(id)
		told := errs[1] == nil
		if id == "evt_unknown" {
			told = errs[2] == nil
		}
		if committed != told {
			t.Errorf("%s: committed %v, but its Update was told %v", id, committed, errs)
		}
	}
	if errs[1] == nil || errs[2] == nil {
		t.Errorf("Updates = %v, want the batch failed", errs)
	}
}

// TestNumberingLocksTheChain: numbering a document holds the merchant's
// chain row until commit, so that a transaction numbering a credit note
// and one chaining another lock the merchant's rows in one order and
// never deadlock (see NextInvoiceNumber). A merchant's first number makes
// the row, and its chain still starts at 1.
func TestNumberingLocksTheChain(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	o := seed(t, s, 10000)
	nowait := func() error {
		var one int
		return s.pool.QueryRow(ctx, `SELECT 1 FROM invoice_chains WHERE merchant_id = $1 FOR NO KEY UPDATE NOWAIT`, o.MerchantID).Scan(&one)
	}
	if err := s.Update(ctx, func(tx refund.Tx) error {
		_, err := tx.NextInvoiceNumber(ctx, o.MerchantID, 2026)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := nowait(); err != nil {
		t.Fatalf("chain row after the first number: %v", err)
	}
	if err := s.Update(ctx, func(tx refund.Tx) error {
		icv, prev, err := tx.NextInvoiceChain(ctx, o.MerchantID)
		if err == nil && (icv != 1 || prev != refund.InitialInvoiceHash) {
			t.Errorf("first chain link = %d, %q; want 1 and the initial hash", icv, prev)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx refund.Tx) error {
		n, err := tx.NextInvoiceNumber(ctx, o.MerchantID, 2026)
		if err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("second number = %d, want 2", n)
		}
		var pe *pgconn.PgError
		if err := nowait(); !errors.As(err, &pe) || pe.Code != "55P03" {
			t.Errorf("chain row while numbering: %v, want it locked (55P03)", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOpenKnowsInvoicingMerchants: a node that opens the store takes the
// invoice chains of merchants that already invoice first from its first
// batch (batchMerchants), not only once it has seen them invoice.
func TestOpenKnowsInvoicingMerchants(t *testing.T) {
	url := mustSchema(t)
	s := mustOpenURL(t, url)
	ctx := t.Context()
	o := seed(t, s, 10000)
	if err := s.Update(ctx, func(tx refund.Tx) error {
		_, _, err := tx.NextInvoiceChain(ctx, o.MerchantID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	other := mustOpenURL(t, url)
	keyed := func(merchantID string) []*commitReq {
		return []*commitReq{{ctx: refund.WithOrderKey(ctx, merchantID, o.ID)}}
	}
	if got := other.batchMerchants(keyed(o.MerchantID)); !slices.Equal(got, []string{o.MerchantID}) {
		t.Fatalf("a new node's batch for an invoicing merchant takes chains %v, want [%s]", got, o.MerchantID)
	}
	if got := other.batchMerchants(keyed("mer_never_invoiced")); len(got) != 0 {
		t.Fatalf("a batch for a merchant that never invoiced takes chains %v, want none", got)
	}
}

// TestPooledSchemaComesBackEmpty holds pgtest's pool (pgtest.Migrated,
// which the conformance suite runs on) to what a fresh schema gives: the
// schema a test handed back holds none of its rows, its sequences start
// again, and its migrations are still recorded.
func TestPooledSchemaComesBackEmpty(t *testing.T) {
	var filled string
	t.Run("Fill", func(t *testing.T) {
		filled = pgtest.Migrated(t, poolSize, migrate)
		s := mustOpenURL(t, filled)
		storetest.SeedInvoices(t, s, "mer_1", 20)
		rows := schemaRows(t, s)
		if rows["merchants"] != 1 || rows["orders"] != 20 || rows["invoices"] != 20 {
			t.Fatalf("rows after seeding: %v", rows)
		}
		if used := usedSequences(t, s); len(used) == 0 {
			t.Fatal("seeding used no sequence")
		}
	})
	// The pool hands out the schema given back last, and no other test
	// runs between these two (this test is not parallel).
	again := pgtest.Migrated(t, poolSize, migrate)
	if searchPath(t, again) != searchPath(t, filled) {
		t.Fatalf("the pool handed out %s, not %s given back just before", searchPath(t, again), searchPath(t, filled))
	}
	s := mustOpenURL(t, again)
	for table, n := range schemaRows(t, s) {
		if table != "schema_migrations" && n != 0 {
			t.Errorf("%s holds %d rows of the test before", table, n)
		}
	}
	if used := usedSequences(t, s); len(used) != 0 {
		t.Errorf("sequences not restarted: %v", used)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if n := schemaRows(t, s)["schema_migrations"]; n != len(ms) {
		t.Errorf("schema_migrations holds %d versions, want %d", n, len(ms))
	}
}

// TestPooledSchemaLeftOpenIsNotReused: a schema a store was left open on
// is dropped, not handed to the next test, whose rows that store would
// otherwise write into.
func TestPooledSchemaLeftOpenIsNotReused(t *testing.T) {
	var left *Store
	var url string
	t.Run("LeaveOpen", func(t *testing.T) {
		url = pgtest.Migrated(t, poolSize, migrate)
		var err error
		if left, err = Open(context.Background(), url); err != nil {
			t.Fatal(err)
		}
	})
	defer left.Close()
	again := pgtest.Migrated(t, poolSize, migrate)
	if searchPath(t, again) == searchPath(t, url) {
		t.Fatalf("the pool handed out %s, which a store still has open", searchPath(t, again))
	}
	err := left.Update(t.Context(), func(tx refund.Tx) error {
		return tx.CreateMerchant(t.Context(), &refund.Merchant{ID: "mer_left", Name: "Left", CreatedAt: time.Unix(1700000000, 0)})
	})
	if err == nil {
		t.Fatal("the store left open wrote into its dropped schema")
	}
}

// schemaRows counts the rows of each table in s's schema.
func schemaRows(t *testing.T, s *Store) map[string]int {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("tables: %v, %v", tables, err)
	}
	counts := map[string]int{}
	for _, table := range tables {
		var n int
		if err := s.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[table] = n
	}
	return counts
}

// usedSequences names the sequences of s's schema that have handed out a
// value since they were created or restarted.
func usedSequences(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT sequencename FROM pg_sequences
		WHERE schemaname = current_schema() AND last_value IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	used, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return used
}

// searchPath is the schema a pgtest URL names.
func searchPath(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("search_path")
}

// TestClaimDeliveriesProbesSecrets holds a claim of deliveries that leaves
// out those whose secret the claimer cannot open (unopenedSQL) to a walk
// of webhook_deliveries_due probing each candidate's endpoint and notify
// secret by key, as a generic plan, on a few thousand endpoints and
// merchants, analyzed. As anti joins, the planner scanned every endpoint
// and notify secret on each claim and compared each due delivery with all
// of them.
func TestClaimDeliveriesProbesSecrets(t *testing.T) {
	s := mustOpenURL(t, mustSchema(t))
	ctx := t.Context()
	for _, q := range []string{
		`INSERT INTO merchants (id, name, created_at) SELECT 'm' || i, 'n', now() FROM generate_series(1, 1000) i`,
		`INSERT INTO webhook_endpoints (id, merchant_id, url, secret, created_at, updated_at, previous_secret, previous_secret_until)
			SELECT 'we' || i, 'm' || (i % 1000 + 1), 'https://x', CASE i % 3 WHEN 0 THEN 'whsec_a' WHEN 1 THEN 'sealed:k1:x' ELSE 'sealed:k2:x' END,
				now(), now(), CASE WHEN i % 5 = 0 THEN 'sealed:k2:q' ELSE '' END, CASE WHEN i % 5 = 0 THEN now() + interval '1 hour' END
			FROM generate_series(1, 3000) i`,
		`INSERT INTO notify_secrets (merchant_id, secret, updated_at)
			SELECT 'm' || i, CASE WHEN i % 2 = 0 THEN 'whsec_a' ELSE 'sealed:k2:x' END, now() FROM generate_series(1, 1000) i`,
		`INSERT INTO events (id, merchant_id, type, created_at) SELECT 'ev' || i, 'm' || (i % 1000 + 1), 'refund.succeeded', now()
			FROM generate_series(1, 20000) i`,
		`INSERT INTO webhook_deliveries (id, merchant_id, event_id, endpoint_id, url, status, next_attempt_at, version, created_at, updated_at)
			SELECT 'wd' || i, 'm' || (i % 1000 + 1), 'ev' || (i % 20000 + 1), CASE WHEN i % 4 = 0 THEN NULL ELSE 'we' || ((i % 1000 + 1) + 1000 * (i % 3)) END,
				'https://x', CASE WHEN i % 50 = 0 THEN 'pending' ELSE 'succeeded' END, now() - i * interval '1 second', 1, now(), now()
			FROM generate_series(1, 100000) i`,
		`ANALYZE`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "RESET ALL; DEALLOCATE ALL")
	if _, err := conn.Exec(ctx, "PREPARE claim_deliveries (timestamptz, text[], text[], bigint, text, text[]) AS "+claimDeliveriesSQL(true)); err != nil {
		t.Fatal(err)
	}
	for _, opens := range []string{`'{}'`, `'{sealed:k1:}'`} {
		rows, err := conn.Query(ctx, "EXPLAIN EXECUTE claim_deliveries (now(), '{}', '{}', 100, 'sealed:', "+opens+")")
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if strings.Contains(plan, "Seq Scan") || strings.Contains(plan, "Join") || !strings.Contains(plan, "webhook_deliveries_due") {
			t.Errorf("opening %s, the claim is planned as\n%s", opens, plan)
		}
	}
}

// genericPlanning is a connection of s that plans as a prepared statement
// does after five runs (generic plans), table analyzed first; reset and
// released when t ends.
func genericPlanning(t *testing.T, s *Store, table string) *pgxpool.Conn {
	t.Helper()
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "RESET ALL; DEALLOCATE ALL")
		conn.Release()
	})
	for _, q := range []string{"ANALYZE " + table, "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// TestDeleteExpiredSparesAKeyTakenOverMeanwhile: the expiry sweep picked
// an expired key, then waited for its row while a retry took it over (a
// lease running again); PostgreSQL checks only the outer statement's
// conditions again once the lock is had, so the sweep deleted the key its
// retry held, and a new request could insert it afresh beside it.
func TestDeleteExpiredSparesAKeyTakenOverMeanwhile(t *testing.T) {
	s := mustOpen(t)
	ctx := t.Context()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	err := s.Update(ctx, func(tx refund.Tx) error {
		if err := tx.CreateMerchant(ctx, &refund.Merchant{ID: "mer_1", Name: "M", CreatedAt: now.Add(-48 * time.Hour)}); err != nil {
			return err
		}
		return tx.InsertIdempotency(ctx, &refund.IdempotencyRecord{MerchantID: "mer_1", Key: "k", RequestHash: "h",
			LockedUntil: now.Add(-24 * time.Hour), CreatedAt: now.Add(-25 * time.Hour), ExpiresAt: now.Add(-time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer retry.Rollback(context.WithoutCancel(ctx))
	if _, err := retry.Exec(ctx, `UPDATE idempotency_keys SET locked_until = $1 WHERE merchant_id = 'mer_1' AND idempotency_key = 'k'`,
		now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	swept := make(chan int, 1)
	go func() {
		var n int
		err := s.Update(ctx, func(tx refund.Tx) (err error) {
			n, err = tx.DeleteExpiredIdempotency(ctx, now, 10)
			return err
		})
		if err != nil {
			t.Error(err)
		}
		swept <- n
	}()
	// The sweep waits for the row the retry holds.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM idempotency_keys%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep never waited for the retry's row")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := retry.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := <-swept; n != 0 {
		t.Fatalf("the sweep deleted %d keys; want the one a retry took over meanwhile kept", n)
	}
}
