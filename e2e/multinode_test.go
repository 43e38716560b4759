package e2e

import (
	"context"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	multiClients   = flag.Int("multinode.clients", 24, "concurrent clients in the multi-node run")
	multiPerClient = flag.Int("multinode.refunds", 100, "refunds each client sends in the multi-node run")
)

// TestMultiNode runs three refundd nodes on one PostgreSQL database and one
// sandbox acquirer service, and spreads thousands of concurrent partial
// refunds over a few shared orders through all three. The orders cannot
// hold them all, so the guarded reservation is contended across nodes. The
// acquirer drops some answers after executing, so refunds are settled by
// status checks that any node may lease. Afterwards: per order refunded +
// pending <= captured; every refund is final; the acquirer executed each
// succeeded refund exactly once and no failed one.
func TestMultiNode(t *testing.T) {
	db := postgresDB(t)
	const orders, captured, maxAmount = 3, 100_000, 400

	acqAddr := freeAddr(t)
	start(t, "acquirer", acqAddr, "/v1/sandbox/refunds",
		"sandbox", "serve", "--addr", acqAddr, "--db", "sqlite:"+filepath.Join(t.TempDir(), "acquirer.db"),
		"--drop-rate", "0.05", "--log", "text")
	acquirer := "http://" + acqAddr

	key := newMerchant(t, db)
	var nodes []string
	for range 3 {
		addr := freeAddr(t)
		start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url,
			"--processor", acquirer, "--processor-timeout", "1s", "--lease", "2s", "--log", "text")
		nodes = append(nodes, "http://"+addr)
	}
	ids := createOrders(t, nodes[0], key, orders, captured)

	lr := runLoad(context.Background(), nodes, key, ids, *multiClients, *multiPerClient, maxAmount)
	waitFinal(t, nodes[1], key, 60*time.Second)
	checks := checkInvariants(t, nodes[2], key, []string{acquirer}, ids, lr, captured)
	retries := 0
	for _, n := range nodes {
		retries += batchRetries(t, n)
	}
	t.Logf("multi-node run: 3 nodes, %d refund requests, %d acknowledged, %d checks passed=%v; outcomes %v; %d batches run again",
		*multiClients**multiPerClient, len(lr.acked), checks, !t.Failed(), lr.outcomes, retries)
	// A batch runs its Updates in the order of their orders
	// (store/postgres: inOrderOfOrders); run as they came, this test had
	// 157-179 deadlocks, a second's stall each. A few may still come from
	// rows the sort does not order (a refund's own, an Idempotency-Key's).
	if retries > 10 {
		t.Errorf("%d batches run again: the nodes deadlock on the orders' rows", retries)
	}
	if lr.outcomes["amount_exceeds_refundable"] == 0 {
		t.Error("no request was refused for exceeding the order: the orders were never contended to the limit")
	}
}

// batchRetries reads how many batches of writes node ran again (a
// deadlock, mostly) from its /metrics.
func batchRetries(t *testing.T, node string) int {
	t.Helper()
	resp, err := http.Get(node + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "refundd_store_batch_retries_total "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatalf("%s/metrics has no refundd_store_batch_retries_total", node)
	return 0
}
