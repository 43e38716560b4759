package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/refundd/refundd/store/sqlite/sqlitetest"
)

// answerLost makes the database refuse to store the answer of a request
// with Idempotency-Key key, as a node stopping after the request's
// transaction committed and before its answer was stored leaves it, until
// the returned func lifts it: a trigger on the key's row, so that the
// server runs as it does, on either store.
type answerLost func(t *testing.T, url, key string) (lift func())

var stopsBeforeItsAnswer = []struct {
	name string
	url  func(t *testing.T) string
	lose answerLost
}{
	{"SQLite", func(t *testing.T) string { return sqlitetest.URL(t) }, func(t *testing.T, url, key string) func() {
		i := slices.IndexFunc(sql.Drivers(), func(d string) bool { return d == "sqlite3" || d == "sqlite" })
		if i < 0 {
			t.Fatalf("no SQLite driver among %v", sql.Drivers())
		}
		db, err := sql.Open(sql.Drivers()[i], "file:"+strings.TrimPrefix(url, "sqlite:"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Exec(`CREATE TRIGGER answer_lost BEFORE UPDATE OF reply_status ON idempotency_keys
			WHEN NEW.reply_status <> 0 AND NEW.idempotency_key = '` + key + `' BEGIN SELECT RAISE(ABORT, 'the node stopped'); END`); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := db.Exec(`DROP TRIGGER answer_lost`); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{"PostgreSQL", func(t *testing.T) string { return pgSchema(t, 0) }, func(t *testing.T, url, key string) func() {
		ctx := context.Background()
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		if _, err := pool.Exec(ctx, `CREATE FUNCTION answer_lost() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN RAISE EXCEPTION 'the node stopped'; END $$`); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `CREATE TRIGGER answer_lost BEFORE UPDATE ON idempotency_keys FOR EACH ROW
			WHEN (NEW.reply_status <> 0 AND NEW.idempotency_key = '`+key+`') EXECUTE FUNCTION answer_lost()`); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := pool.Exec(ctx, `DROP TRIGGER answer_lost ON idempotency_keys`); err != nil {
				t.Fatal(err)
			}
		}
	}},
}

// A reconciliation's answer was stored after its transaction committed: a
// node stopping between the two left what it corrected applied and no
// answer under its Idempotency-Key, and a retry once the key's lease ran
// out reconciled the report again, the refund it corrected now matched,
// so the operator never saw the correction. Its results are kept with the
// key in its transaction: the retry answers the first run's answer, the
// correction in it, marked replayed, and corrects nothing again.
func TestReconcile_NodeStoppedBeforeItsAnswer(t *testing.T) {
	for _, b := range stopsBeforeItsAnswer {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			s := mustStart(t, onDB(url))
			order := s.mustOrder(cardOrder("0051", 10_000)) // declined by the sandbox
			r := s.do("POST", "/v1/refunds", s.key, map[string]any{"order_id": order, "amount": 4000})
			if r.status != http.StatusCreated || r.str("status") != "failed" {
				t.Fatalf("refund: %d %s", r.status, r.raw)
			}
			report := "refund_id,amount,currency,status,date\n" + r.str("id") + ",40.00,SAR,approved,2026-03-01\n"
			send := func() reply {
				return s.do("POST", "/v1/reconciliations", s.key, report, "Content-Type", "text/csv", "Idempotency-Key", "recon-stops")
			}
			lift := b.lose(t, url, "recon-stops")
			first := send()
			if first.status != 200 || !strings.Contains(first.raw, `"corrected":true`) {
				t.Fatalf("first run: %d %s; want the refund corrected", first.status, first.raw)
			}
			lift()
			if busy := send(); busy.status != http.StatusConflict || busy.str("error", "code") != "idempotency_key_in_use" {
				t.Fatalf("a retry within the lease: %d %s", busy.status, busy.raw)
			}
			s.clock.Advance(2 * time.Minute)
			retry := send()
			if retry.status != 200 || retry.raw != first.raw || retry.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("the retry after the lease: %d %s (replayed %q); want the first answer %s", retry.status, retry.raw,
					retry.header.Get("Idempotent-Replayed"), first.raw)
			}
			// Its answer is stored now: replayed as any other.
			if again := send(); again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("a retry once answered: %d %s", again.status, again.raw)
			}
			if ev := s.do("GET", "/v1/events?type=refund.succeeded", s.key, nil).get("data").([]any); len(ev) != 1 {
				t.Fatalf("%d refund.succeeded events, want 1", len(ev))
			}
		})
	}
}
