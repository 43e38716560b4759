package e2e

import (
	"context"
	"flag"
	"math/rand/v2"
	"path/filepath"
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
// each order's refunded amount is what the acquirer paid out for it.
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
	acqAddr := freeAddr(t)
	// The acquirer misbehaves too: slow answers, refusals, and refunds it
	// executes but whose answer it drops.
	start(t, "acquirer", acqAddr, "/v1/sandbox/refunds",
		"sandbox", "serve", "--addr", acqAddr, "--db", "sqlite:"+filepath.Join(t.TempDir(), "acquirer.db"),
		"--latency-ms", "5", "--error-rate", "0.1", "--drop-rate", "0.1", "--log", "text")
	acquirer := "http://" + acqAddr

	key := newMerchant(t, db)
	addr := freeAddr(t)
	node := start(t, "refundd", addr, "/readyz", "serve", "--addr", addr, "--db", db.url,
		"--processor", acquirer, "--processor-timeout", "1s", "--lease", "3s", "--log", "text")
	base := "http://" + addr
	ids := createOrders(t, base, key, orders, captured)

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
	checks := checkInvariants(t, base, key, acquirer, ids, lr, captured)
	t.Logf("crash run on %s: %d kills, %d refunds acknowledged, %d checks passed=%v; outcomes %v",
		db.kind, *crashKills, len(lr.acked), checks, !t.Failed(), lr.outcomes)
	if len(lr.acked) == 0 {
		t.Fatal("no refund was acknowledged: the run proved nothing")
	}
}
