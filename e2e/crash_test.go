package e2e

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	crashKills   = flag.Int("crash.kills", 4, "SIGKILLs per crash run (CI keeps it short; try -crash.kills=30)")
	crashClients = flag.Int("crash.clients", 8, "concurrent clients sending refunds during a crash run")
)

// TestCrashRecovery kills refundd with SIGKILL at random moments under
// refund load, restarts it each time, and then checks from outside that
// every acknowledged refund exists, every refund reached a final state, the
// acquirer executed each succeeded refund exactly once and no other, and
// each order's refunded amount is what the acquirer paid out for it. Half
// the orders go to an acquirer that deduplicates by key, half to one that
// executes a resubmitted key again (through an account marked
// idempotent=false): there a blind resubmission shows as a key executed
// twice.
func TestCrashRecovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		db   func(*testing.T) database
	}{{"SQLite", sqliteDB}, {"PostgreSQL", postgresDB}} {
		t.Run(tc.name, func(t *testing.T) { crashRun(t, tc.db(t)) })
	}
}

func crashRun(t *testing.T, db database) {
	const orders, captured, maxAmount = 4, 60_000, 1_500
	// The acquirers misbehave too: slow answers, refusals, and refunds
	// they execute but whose answer they drop.
	acquirer := serveAcquirer(t, "acquirer")
	forgetful := serveAcquirer(t, "forgetful", "--idempotent=false")

	key, merchant := newMerchantID(t, db)
	secretKey := filepath.Join(t.TempDir(), "secret-key")
	if err := os.WriteFile(secretKey, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, nil, "processor", "add", "--db", db.url, "--secret-key-file", secretKey, "--merchant", merchant,
		"--name", "forgetful", "--kind", "acquirer", "--url", forgetful, "--option", "idempotent=false")
	addr := freeAddr(t)
	node := start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url,
		"--processor", acquirer, "--secret-key-file", secretKey,
		"--processor-timeout", "1s", "--lease", "3s", "--review-poll", "1s", "--log", "text")
	base := "http://" + addr
	ids := append(createOrders(t, base, key, orders/2, captured), createOrdersOn(t, base, key, "forgetful", orders/2, captured)...)

	ctx, stop := context.WithCancel(context.Background())
	result := make(chan *loadResult, 1)
	go func() { result <- runLoad(ctx, []string{base}, key, ids, *crashClients, 0, maxAmount) }()

	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for range *crashKills {
		time.Sleep(time.Duration(150+rnd.IntN(600)) * time.Millisecond)
		node.kill()
		node.restart("/readyz")
	}
	time.Sleep(300 * time.Millisecond)
	stop()
	lr := <-result

	waitFinal(t, base, key, 90*time.Second)
	checks := checkInvariants(t, base, key, []string{acquirer, forgetful}, ids, lr, captured)
	t.Logf("crash run on %s: %d kills, %d refunds acknowledged, %d checks passed=%v; outcomes %v",
		db.kind, *crashKills, len(lr.acked), checks, !t.Failed(), lr.outcomes)
	if len(lr.acked) == 0 {
		t.Fatal("no refund was acknowledged: the run proved nothing")
	}
}

// serveAcquirer starts a sandbox acquirer service with the crash runs'
// faults, and the extra flags, and returns its base URL.
func serveAcquirer(t *testing.T, name string, flags ...string) string {
	t.Helper()
	addr := freeAddr(t)
	start(t, name, addr, "/v1/sandbox/refunds", append([]string{
		"sandbox", "serve", "--addr", addr, "--db", "sqlite:" + filepath.Join(t.TempDir(), name+".db"),
		"--latency-ms", "5", "--error-rate", "0.1", "--drop-rate", "0.1", "--log", "text"}, flags...)...)
	return "http://" + addr
}
