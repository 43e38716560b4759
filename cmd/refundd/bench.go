package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/bench"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// runBench drives a running refundd (--target, --key) or one it starts in
// this process on --db (default: a fresh SQLite file in a temp dir).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	var cfg bench.Config
	db := fs.String("db", "", "start refundd in this process on this database (default: a fresh temporary SQLite file)")
	fs.StringVar(&cfg.Target, "target", "", "base URL of a running refundd (with --key)")
	fs.StringVar(&cfg.Key, "key", "", "merchant API key for --target")
	fs.StringVar(&cfg.Surface, "surface", "native", "API surface to drive: native, gateway, sgate, upayments, paylink or techrar")
	fs.StringVar(&cfg.Partner, "partner", "", "paylink with --target: ID:KEY of a partner linked to the merchant")
	fs.StringVar(&cfg.Lookup, "lookup", "", "paylink with --target: the merchant in Paylink's path, key/value (accountNo/A-1)")
	fs.Int64Var(&cfg.AppID, "app-id", 0, "techrar with --target: the merchant's app id")
	fs.StringVar(&cfg.Shape, "shape", "spread", "spread (each request another order) or hot (every refund on one order, kept for the whole run)")
	fs.IntVar(&cfg.Clients, "clients", 32, "closed loop: concurrent clients")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: requests per second (latency counted from the planned send time)")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up time")
	fs.IntVar(&cfg.Orders, "orders", 2000, "spread: orders in the pool")
	fs.BoolVar(&cfg.Invoiced, "invoiced", false, "orders with a line: each gets a tax invoice and each refund a credit note")
	ceiling := fs.Bool("ceiling", false, "also measure a trivial in-process JSON handler and print the ratio")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured run (in-process server and generator) to this file")
	fs.BoolVar(&cfg.Trace, "trace", false, "split each refund's latency into the server's phases (queueing, transactions, processor call; "+
		"with --target the server must run with --server-timing)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.Verify = true
	if cfg.Target == "" {
		stop, err := benchServer(ctx, *db, &cfg)
		if err != nil {
			return err
		}
		defer stop()
	} else if cfg.Key == "" {
		return usageError("bench --target needs --key")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		// Only the measured drive: not setup, warm-up or verification.
		cfg.Measure = func() func() {
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(stderr, "bench: cpu profile: %v\n", err)
				return func() {}
			}
			return pprof.StopCPUProfile
		}
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *ceiling {
		c, err := bench.RunCeiling(ctx, cfg)
		if err != nil {
			return err
		}
		rep.Ceiling, rep.Ratio = c, rep.Throughput/c
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	bench.Table(stdout, rep)
	if rep.InvariantsOK != nil && !*rep.InvariantsOK {
		return fmt.Errorf("invariants violated")
	}
	return nil
}

// benchServer starts refundd in this process for a bench run.
func benchServer(ctx context.Context, db string, cfg *bench.Config) (func(), error) {
	var tmp string
	if db == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "refundd-bench-"); err != nil {
			return nil, err
		}
		db = "sqlite:" + filepath.Join(tmp, "bench.db")
	}
	srv, err := server.Open(ctx, server.Config{Addr: "127.0.0.1:0", DB: db, ServerTiming: cfg.Trace})
	if err != nil {
		return nil, err
	}
	cleanup := func() {
		srv.Stop(context.Background())
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	// The account number names the merchant in Paylink's path, and the
	// partner refunds there for it.
	m, key, err := srv.Service.CreateMerchant(ctx, refund.MerchantInput{Name: "Bench Merchant", AccountNo: "BENCH-1"})
	var partner *refund.Partner
	var partnerKey string
	if err == nil {
		partner, partnerKey, err = srv.Service.CreatePartner(ctx, "Bench Partner", []string{m.ID})
	}
	if err == nil {
		err = srv.Start(ctx)
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	cfg.Target, cfg.Key = srv.URL(), key
	cfg.Partner, cfg.Lookup, cfg.AppID = partner.ID+":"+partnerKey, "accountNo/"+m.AccountNo, m.AppID
	// In one process the server's memory is this process's memory (the
	// generator's share is small next to it).
	cfg.RSS = selfRSS
	return cleanup, nil
}

// selfRSS reads this process's resident set size from /proc.
func selfRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
