package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/refundd/refundd/refund"
)

// TestJoin checks which held writes share a statement and how that
// statement reads: the other parts in a WITH, the one whose row is read
// last, every part's parameters numbered in the order of its arguments.
func TestJoin(t *testing.T) {
	scan := func(pgx.Row) error { return nil }
	ins := func(table string, n int) held {
		var ps []string
		args := make([]any, n)
		for i := range n {
			ps = append(ps, fmt.Sprintf("$%d", i+1))
			args[i] = table
		}
		return held{op: "insert " + table, sql: "INSERT INTO " + table + " VALUES (" + strings.Join(ps, ", ") + ")", args: args}
	}
	returning := func(table string, n int) held {
		h := ins(table, n)
		h.sql += " RETURNING id"
		h.scan = scan
		return h
	}
	type call struct {
		table string // "" : held with later, not joined
		h     held
	}
	for _, tc := range []struct {
		name  string
		calls []call
		want  []string // each statement held, in order
	}{
		{"Alone", []call{{"a", ins("a", 2)}}, []string{"INSERT INTO a VALUES ($1, $2)"}},
		{"TwoTables", []call{{"a", ins("a", 2)}, {"b", ins("b", 1)}},
			[]string{"WITH j0 AS (INSERT INTO a VALUES ($1, $2)), j1 AS (INSERT INTO b VALUES ($3)) SELECT"}},
		{"OneTableTwice", []call{{"a", ins("a", 1)}, {"b", ins("b", 1)}, {"a", ins("a", 1)}, {"c", ins("c", 1)}},
			[]string{"WITH j0 AS (INSERT INTO a VALUES ($1)), j1 AS (INSERT INTO b VALUES ($2)) SELECT",
				"WITH j0 AS (INSERT INTO a VALUES ($1)), j1 AS (INSERT INTO c VALUES ($2)) SELECT"}},
		{"ReadRowFirst", []call{{"a", returning("a", 2)}, {"b", ins("b", 1)}, {"c", ins("c", 1)}},
			[]string{"WITH j0 AS (INSERT INTO b VALUES ($3)), j1 AS (INSERT INTO c VALUES ($4)) INSERT INTO a VALUES ($1, $2) RETURNING id"}},
		{"ReadRowLast", []call{{"b", ins("b", 1)}, {"a", returning("a", 2)}, {"c", ins("c", 1)}},
			[]string{"WITH j0 AS (INSERT INTO b VALUES ($1)), j1 AS (INSERT INTO c VALUES ($4)) INSERT INTO a VALUES ($2, $3) RETURNING id"}},
		{"TwoRowsRead", []call{{"a", returning("a", 1)}, {"b", returning("b", 1)}},
			[]string{"INSERT INTO a VALUES ($1) RETURNING id", "INSERT INTO b VALUES ($1) RETURNING id"}},
		{"NotAcrossAnotherStatement", []call{{"a", ins("a", 1)}, {"", ins("x", 1)}, {"b", ins("b", 1)}},
			[]string{"INSERT INTO a VALUES ($1)", "INSERT INTO x VALUES ($1)", "INSERT INTO b VALUES ($1)"}},
		{"AWithStaysAlone", []call{{"a", ins("a", 1)}, {"b", held{op: "w", sql: "WITH u AS (SELECT 1) INSERT INTO b SELECT * FROM u"}}, {"c", ins("c", 1)}},
			[]string{"INSERT INTO a VALUES ($1)", "WITH u AS (SELECT 1) INSERT INTO b SELECT * FROM u", "INSERT INTO c VALUES ($1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pipe{}
			var args []any
			for _, c := range tc.calls {
				if c.table == "" {
					p.later(c.h.op, c.h.sql, c.h.args...)
				} else {
					p.join(c.table, c.h)
				}
				args = append(args, c.h.args...)
			}
			var got []string
			var gotArgs []any
			for _, h := range p.pending {
				got = append(got, h.sql)
				if n := strings.Count(h.sql, "$"); n != len(h.args) {
					t.Errorf("%q has %d parameters and %d arguments", h.sql, n, len(h.args))
				}
				gotArgs = append(gotArgs, h.args...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("held\n%q\nwant\n%q", got, tc.want)
			}
			if !slices.Equal(gotArgs, args) {
				t.Errorf("arguments %v, want %v", gotArgs, args)
			}
		})
	}
}

func TestNumberedFrom(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		off  int
		want string
	}{
		{"SELECT $1, $2", 0, "SELECT $1, $2"},
		{"SELECT $1, $12::text[], $2", 10, "SELECT $11, $22::text[], $12"},
		{"SELECT '$1', $1, 'it''s $2', $2", 3, "SELECT '$1', $4, 'it''s $2', $5"},
		{"SELECT $$", 1, "SELECT $$"},
	} {
		if got := numberedFrom(tc.sql, tc.off); got != tc.want {
			t.Errorf("numberedFrom(%q, %d) = %q, want %q", tc.sql, tc.off, got, tc.want)
		}
	}
}

// TestJoinedWrites runs joined writes through the server: a table's rows
// keep the order they were written in (transitions are listed by their
// identity), the statement's foreign keys are checked after all of its
// parts, and a part that fails fails its Update: nothing of it commits.
func TestJoinedWrites(t *testing.T) {
	s := mustOpen(t)
	o := seed(t, s, 30000)
	ctx := t.Context()
	at := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	r := &refund.Refund{ID: "re_1", MerchantID: o.MerchantID, OrderID: o.ID, Seq: 1, Amount: 100, Currency: "SAR",
		Status: refund.StatusPending, NextAttemptAt: at, Version: 1, CreatedAt: at, UpdatedAt: at}
	tr := func(from, to refund.Status) refund.Transition {
		return refund.Transition{RefundID: r.ID, From: from, To: to, Cause: string(to), At: at}
	}
	ev := func(id string) *refund.Event {
		return &refund.Event{ID: id, MerchantID: o.MerchantID, Type: "refund.updated", RefundID: r.ID, OrderID: o.ID,
			Data: []byte(`{}`), CreatedAt: at}
	}
	want := []refund.Transition{tr("", refund.StatusPending), tr(refund.StatusPending, refund.StatusProcessing),
		tr(refund.StatusProcessing, refund.StatusRequiresReview), tr(refund.StatusRequiresReview, refund.StatusProcessing),
		tr(refund.StatusProcessing, refund.StatusSucceeded)}
	err := s.Update(ctx, func(rt refund.Tx) error {
		tx := rt.(*tx)
		for _, step := range []func() error{
			// After a reservation the refund's insert is held and joins
			// the first transition and an event in one statement: the
			// transition's key to the refund holds.
			func() error {
				_, err := tx.ReserveRefund(ctx, refund.Balances{OrderID: o.ID, Amount: r.Amount})
				return err
			},
			func() error { return tx.CreateRefund(ctx, r) },
			func() error { return tx.InsertTransition(ctx, want[0]) },
			func() error { return tx.InsertEvent(ctx, ev("evt_1")) },
			func() error { return tx.InsertTransition(ctx, want[1]) },
			func() error { return tx.InsertEvent(ctx, ev("evt_2")) },
			func() error {
				return tx.InsertAudit(ctx, &refund.AuditEntry{ID: "aud_1", MerchantID: o.MerchantID, Action: "refund.create",
					ObjectType: "refund", ObjectID: r.ID, At: at})
			},
			func() error { return tx.InsertTransition(ctx, want[2], want[3]) },
			func() error { return tx.InsertTransition(ctx, want[4]) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		if n := len(tx.q.pending); n != 4 { // BEGIN went with the reservation
			return fmt.Errorf("%d statements held, want 4: %v", n, tx.q.pending)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Number == 0 {
		t.Fatal("the refund's number did not come back from its joined statement")
	}
	var got []refund.Transition
	err = s.View(ctx, func(tx refund.Tx) (err error) {
		got, err = tx.ListTransitions(ctx, r.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].At = got[i].At.UTC()
	}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions\n%v\nwant\n%v", got, want)
	}
	events := func() int {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE refund_id = $1`, r.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := events(); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}

	// An event joined with a transition of a refund that does not exist:
	// the statement fails on the transition's key, and the event is not
	// written either.
	err = s.Update(ctx, func(tx refund.Tx) error {
		if err := tx.InsertEvent(ctx, ev("evt_3")); err != nil {
			return err
		}
		return tx.InsertTransition(ctx, refund.Transition{RefundID: "re_missing", To: refund.StatusPending, At: at})
	})
	if err == nil || !strings.Contains(err.Error(), "insert event, insert transition") || sqlstate(err) != "23503" {
		t.Fatalf("Update = %v, want the joined statement's foreign key violation", err)
	}
	if n := events(); n != 2 {
		t.Fatalf("%d events after the failed Update, want 2", n)
	}
}

// TestTransactionsNumberOnce numbers transactions on one order from many
// Updates on two nodes at once. A third wrote the order's row first with an
// answered guarded update (a reservation), a third with a held one (a
// release, which goes with the insert's round trip); those insert without
// locking the order again. The rest lock it first. Either way each number
// is handed out once.
func TestTransactionsNumberOnce(t *testing.T) {
	url := mustSchema(t)
	nodes := []*Store{mustOpenURL(t, url), mustOpenURL(t, url)}
	o := seed(t, nodes[0], 30000)
	const n = 36
	ctx := context.Background()
	err := nodes[0].Update(ctx, func(tx refund.Tx) error {
		return tx.AdjustBalances(ctx, refund.Balances{OrderID: o.ID, Amount: n}, refund.Reserve) // for the releases
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- nodes[i%2].Update(ctx, func(rt refund.Tx) error {
				tx := rt.(*tx)
				if op := []refund.BalanceOp{refund.Reserve, refund.Release, 0}[i%3]; op != 0 {
					if err := tx.AdjustBalances(ctx, refund.Balances{OrderID: o.ID, Amount: 1}, op); err != nil {
						return err
					}
					if !slices.Contains(tx.ordersLocked, o.ID) {
						return fmt.Errorf("the order's guarded update (%v) did not note its lock", op)
					}
				}
				return tx.InsertTransaction(ctx, &refund.Transaction{ID: fmt.Sprintf("txn_r%d", i), OrderID: o.ID,
					Type: refund.TxRefund, Status: refund.TxSucceeded, Amount: 1, RefundID: fmt.Sprintf("re_%d", i), CreatedAt: time.Now()})
			})
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, err := nodes[0].pool.Query(t.Context(), `SELECT seq FROM transactions WHERE order_id = $1 ORDER BY seq`, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	for i, seq := range seqs {
		if seq != i+1 {
			t.Fatalf("seqs %v, want 1..%d", seqs, n+1)
		}
	}
	if len(seqs) != n+1 {
		t.Fatalf("%d transactions, want %d", len(seqs), n+1)
	}
}

// TestJoinRefusesWhatCannotJoin: a write with a refusal, or numbered
// otherwise than its arguments, is a programming error, not a statement.
func TestJoinRefusesWhatCannotJoin(t *testing.T) {
	for _, h := range []held{
		{op: "refused", sql: "INSERT INTO a VALUES ($1)", args: []any{1}, refused: func(string) error { return nil }},
		{op: "short", sql: "INSERT INTO a VALUES ($1, $2)", args: []any{1}},
		{op: "long", sql: "INSERT INTO a VALUES ($1)", args: []any{1, 2}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s joined", h.op)
				}
			}()
			(&pipe{}).join("a", h)
		}()
	}
}

// TestBatchesTakeOrdersInOneOrder runs, on two nodes at once, a batch
// reserving on orders 1 then 2 and a batch reserving on 2 then 1, each
// Update on its first order holding the row until the other batch holds
// its own or waits for it. Run as they came, each batch would hold one row
// and wait for the other's: a deadlock, broken only after
// deadlock_timeout, and a batch run again. Run in the order of their
// orders (inOrderOfOrders), one batch waits for the other and neither
// runs again.
func TestBatchesTakeOrdersInOneOrder(t *testing.T) {
	url := mustSchema(t)
	nodes := []*Store{mustOpenURL(t, url), mustOpenURL(t, url)}
	o1 := seed(t, nodes[0], 30000)
	o2 := *o1
	o2.ID, o2.Reference = "ord_2", "ORD-2"
	o2.Transactions = []refund.Transaction{{ID: "txn_2", Type: refund.TxCapture, Status: refund.TxSucceeded, Amount: o2.Amount, CreatedAt: o2.CreatedAt}}
	ctx := context.Background()
	if err := nodes[0].Update(ctx, func(tx refund.Tx) error { return tx.CreateOrder(ctx, &o2) }); err != nil {
		t.Fatal(err)
	}

	// holding[i] closes once node i's batch holds its first order's row.
	holding := []chan struct{}{make(chan struct{}), make(chan struct{})}
	var once [2]sync.Once
	// waitForOther returns once the other batch holds its first row too,
	// or waits for a row this connection (pid) holds.
	waitForOther := func(i int, pid uint32) error {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(30 * time.Second) // the other batch failed before it took any row
		for {
			select {
			case <-holding[1-i]:
				return nil
			case <-tick.C:
			case <-deadline:
				return errors.New("the other batch neither holds its first order nor waits for this one")
			}
			var waited bool
			err := nodes[i].pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))`,
				int64(pid)).Scan(&waited)
			if err != nil || waited {
				return err
			}
		}
	}
	var runs atomic.Int32 // Updates run, again ones included
	reserve := func(o *refund.Order, node int, first bool) *commitReq {
		return &commitReq{ctx: refund.WithOrderKey(ctx, o.MerchantID, o.ID), done: make(chan struct{}), fn: func(rt refund.Tx) error {
			runs.Add(1)
			tx := rt.(*tx)
			if err := tx.AdjustBalances(ctx, refund.Balances{OrderID: o.ID, Amount: 1}, refund.Reserve); err != nil {
				return err
			}
			if !first {
				return nil
			}
			var pid uint32
			if err := tx.q.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil { // sends the reservation
				return err
			}
			once[node].Do(func() { close(holding[node]) })
			return waitForOther(node, pid)
		}}
	}
	batches := [][]*commitReq{
		{reserve(o1, 0, true), reserve(&o2, 0, false)},
		{reserve(&o2, 1, true), reserve(o1, 1, false)},
	}
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Go(func() { nodes[i].commitBatch(b) })
	}
	wg.Wait()
	for _, b := range batches {
		for _, r := range b {
			if r.err != nil {
				t.Fatal(r.err)
			}
		}
	}
	if got := runs.Load(); got != 4 {
		t.Errorf("%d Updates run, want 4: a batch ran again (a deadlock)", got)
	}
	for i, n := range nodes {
		if got := n.Counts().Retries; got != 0 {
			t.Errorf("node %d counts %d batches run again, want none", i, got)
		}
	}
	for _, id := range []string{o1.ID, o2.ID} {
		var pending int64
		if err := nodes[0].pool.QueryRow(ctx, `SELECT pending_refund_amount FROM orders WHERE id = $1`, id).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending != 2 {
			t.Errorf("order %s: %d pending, want 2 (one reservation from each batch)", id, pending)
		}
	}
}
