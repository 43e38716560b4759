package bench_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/refundd/refundd/bench"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// A short run of each shape and loop against a real server: the report is
// filled in and the end-of-run invariant check passes.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{Addr: "127.0.0.1:0", DB: "sqlite:" + filepath.Join(t.TempDir(), "b.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(context.Background()) })
	_, key, err := srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Bench"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  bench.Config
	}{
		{"SpreadClosed", bench.Config{Shape: "spread", Clients: 4, Orders: 20}},
		{"HotClosed", bench.Config{Shape: "hot", Clients: 4}},
		{"SpreadOpen", bench.Config{Shape: "spread", Rate: 100, Orders: 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Target, cfg.Key, cfg.Duration, cfg.Warmup, cfg.Verify = srv.URL(), key, 500*time.Millisecond, 0, true
			if cfg.Rate > 0 {
				// Open loop: requests start on a schedule and a report needs
				// some to finish inside the window, which a loaded machine
				// (CI runs packages in parallel) can make slow to begin.
				cfg.Duration = 3 * time.Second
			}
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Refunds == 0 || rep.Throughput <= 0 || rep.P50 <= 0 || rep.P99 < rep.P50 || rep.Max < rep.P99 {
				t.Fatalf("implausible report: %+v", rep)
			}
			if rep.InvariantsOK == nil || !*rep.InvariantsOK || rep.Checked < rep.Refunds {
				t.Fatalf("invariants: %+v", rep)
			}
		})
	}
	c, err := bench.RunCeiling(ctx, bench.Config{Clients: 4, Duration: 300 * time.Millisecond})
	if err != nil || c <= 0 {
		t.Fatalf("ceiling: %v %v", c, err)
	}
}
