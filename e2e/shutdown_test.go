package e2e

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM while a refund request is waiting on
// the processor: refundd stops accepting connections, still answers the
// request in flight, and exits 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	db := sqliteDB(t)
	key := newMerchant(t, db)
	addr := freeAddr(t)
	// Card 0099 never answers a submission: the call runs into the 2s
	// processor timeout, which keeps the request in flight long enough.
	node := start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url,
		"--processor-timeout", "2s", "--log", "text")
	base := "http://" + addr
	status, order, err := call(context.Background(), "POST", base+"/v1/orders", key, map[string]any{
		"currency": "SAR", "amount": 5000, "payment_method": "card",
		"source": map[string]any{"scheme": "visa", "last_digits": "0099"}})
	if err != nil || status != 201 {
		t.Fatalf("create order: %d %v", status, err)
	}

	type answer struct {
		status int
		body   map[string]any
		err    error
	}
	inflight := make(chan answer, 1)
	go func() {
		s, b, err := call(context.Background(), "POST", base+"/v1/refunds", key,
			map[string]any{"order_id": str(order, "id"), "amount": 1200})
		inflight <- answer{s, b, err}
	}()
	// The refund row exists (processing) before the processor is called:
	// once it is listed, the request is waiting on the processor.
	deadline := time.Now().Add(10 * time.Second)
	for len(listAll(t, base, key, "/v1/refunds?status=processing")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the refund request never reached the processor")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := node.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while the old request is still running.
	refused := false
	for range 100 {
		if _, _, err := call(context.Background(), "GET", base+"/healthz", key, nil); err != nil {
			refused = true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !refused {
		t.Error("refundd kept accepting connections after SIGTERM")
	}

	a := <-inflight
	if a.err != nil || a.status != 201 || a.body["status"] != "processing" {
		t.Fatalf("in-flight request: status %d, body %v, err %v; want 201 processing", a.status, a.body, a.err)
	}
	select {
	case err := <-node.done:
		var exit *exec.ExitError
		if errors.As(err, &exit) || err != nil {
			t.Fatalf("refundd exited with %v after SIGTERM\n%s", err, node.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("refundd did not exit within 30s of SIGTERM")
	}
	node.cmd = nil // already reaped
	t.Logf("SIGTERM: in-flight refund answered 201 %v, new connections refused, exit status 0", a.body["status"])
}
