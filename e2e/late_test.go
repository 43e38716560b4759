package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestLateExecution is the first finding of the exactly-once review, end to
// end: an acquirer that executes every refund late and never answers the
// request, and refundd with two attempts. The refund must wait for review
// with its amount reserved (never fail and release it), a second full
// refund of the order must be refused meanwhile, the late execution must
// make it succeeded after a sync, and the acquirer must have executed it
// exactly once (counted from its append-only execution log).
func TestLateExecution(t *testing.T) {
	db := sqliteDB(t)
	const lateMS = 4000
	acqAddr := freeAddr(t)
	// --void=false: this acquirer cannot void a key, as most cannot; with
	// voids refundd would void the refund instead of waiting for review.
	start(t, "acquirer", acqAddr, "/v1/sandbox/refunds",
		"sandbox", "serve", "--addr", acqAddr, "--db", "sqlite:"+filepath.Join(t.TempDir(), "acquirer.db"),
		"--late-rate", "1", "--late-ms", "4000", "--void=false", "--log", "text")
	acquirer := "http://" + acqAddr

	key := newMerchant(t, db)
	addr := freeAddr(t)
	start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url,
		"--processor", acquirer, "--processor-timeout", "500ms", "--lease", "2s",
		"--max-attempts", "2", "--retry-backoff", "100ms", "--log", "text")
	node := "http://" + addr
	order := createOrders(t, node, key, 1, 10_000)[0]
	ctx := context.Background()
	began := time.Now()

	status, body, err := call(ctx, "POST", node+"/v1/refunds", key, map[string]any{"order_id": order}, "Idempotency-Key", "late-1")
	if err != nil || status != 201 {
		t.Fatalf("refund: %d %v %v", status, body, err)
	}
	id := str(body, "id")
	refundStatus := func() string {
		t.Helper()
		status, body, err := call(ctx, "GET", node+"/v1/refunds/"+id, key, nil)
		if err != nil || status != 200 {
			t.Fatalf("get refund: %d %v %v", status, body, err)
		}
		return str(body, "status")
	}
	// Two unanswered submissions, then review: well before the late
	// execution.
	deadline := time.Now().Add(lateMS * time.Millisecond)
	for refundStatus() == "processing" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := refundStatus(); got != "requires_review" {
		t.Fatalf("refund is %s after two unanswered attempts, want requires_review", got)
	}
	if time.Since(began) >= lateMS*time.Millisecond {
		t.Fatal("the late execution may already have happened: the test proved nothing")
	}
	status, body, _ = call(ctx, "POST", node+"/v1/refunds", key, map[string]any{"order_id": order})
	if status != 422 || str(body, "error", "code") != "amount_exceeds_refundable" {
		t.Fatalf("a second full refund while the first waits for review: %d %v", status, body)
	}
	if n := executions(t, acquirer, id); n != 0 {
		t.Fatalf("executed %d times before its time", n)
	}

	// After the late execution a sync settles it.
	for time.Since(began) < (lateMS+500)*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
	}
	status, body, err = call(ctx, "POST", node+"/v1/refunds/"+id+"/sync", key, nil)
	if err != nil || status != 200 || str(body, "status") != "succeeded" {
		t.Fatalf("sync after the late execution: %d %v %v", status, body, err)
	}
	status, body, _ = call(ctx, "POST", node+"/v1/refunds", key, map[string]any{"order_id": order})
	if status != 422 || str(body, "error", "code") != "amount_exceeds_refundable" {
		t.Fatalf("a second full refund after the first succeeded: %d %v", status, body)
	}
	if n := executions(t, acquirer, id); n != 1 {
		t.Fatalf("the acquirer executed the refund %d times, want 1", n)
	}
	t.Logf("late execution: requires_review after 2 attempts, succeeded after sync at %s, executed once", time.Since(began).Round(time.Millisecond))
}

// executions counts the acquirer's execution-log rows for one key.
func executions(t *testing.T, acquirer, key string) int {
	t.Helper()
	n := 0
	for _, e := range executionLog(t, acquirer) {
		if e.IdempotencyKey == key {
			n++
		}
	}
	return n
}
