package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/processor/sandbox/service"
)

// runSandboxServe runs the sandbox acquirer as its own HTTP service with a
// persistent ledger; `refundd serve --processor http://ADDR` reaches it.
func runSandboxServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sandbox serve", stderr)
	addr := fs.String("addr", env("REFUNDD_SANDBOX_ADDR", "127.0.0.1:8081"), "listen address")
	db := fs.String("db", env("REFUNDD_SANDBOX_DB", "sqlite:sandbox.db"), "ledger file: sqlite:PATH")
	settle := fs.Duration("settle-delay", 2*time.Second, "how long wallet (stcpay) refunds stay pending")
	var f service.Faults
	fs.Int64Var(&f.LatencyMS, "latency-ms", 0, "fault: added latency of every answer, in milliseconds")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "fault: share of calls answered 503 without executing (0..1)")
	fs.Float64Var(&f.DropRate, "drop-rate", 0, "fault: share of calls executed whose answer is dropped (0..1)")
	lateRate := fs.Float64("late-rate", 0, "share of refunds (0..1) executed late: never answered, \"not found\" until --late-ms after the request, then executed once")
	lateMS := fs.Int64("late-ms", 5000, "how long after the request a late refund executes, in milliseconds")
	notifyURL := fs.String("notify-url", "", "send signed notifications (refund succeeded, failed, reversed; chargebacks) to this URL, e.g. refundd's /v1/processor/notifications")
	notifySecret := fs.String("notify-secret", env("REFUNDD_SANDBOX_NOTIFY_SECRET", ""), "whsec_... secret that signs the notifications (refundd's --processor-webhook-secret)")
	anomalyRate := fs.Float64("anomaly-rate", 0, "share (0..1) of the settlement report's rows corrupted on purpose (amount off, row missing), plus unknown rows")
	voids := fs.Bool("void", true, "accept voids of unexecuted keys (POST /v1/sandbox/refunds/{key}/void); false answers 501, as most acquirers would")
	idempotent := fs.Bool("idempotent", true, "deduplicate submissions by key; false executes an approved key sent again once more, as a processor without idempotent submission (give refundd's account for it --option idempotent=false)")
	logFormat := fs.String("log", env("REFUNDD_LOG", "json"), "log format: json or text")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *lateRate < 0 || *lateRate > 1 || *lateRate != *lateRate {
		return usageError("--late-rate must be between 0 and 1")
	}
	if *lateMS < 0 {
		return usageError("--late-ms must be 0 or more")
	}
	if *settle < 0 {
		return usageError("--settle-delay must not be negative")
	}
	log, err := logger(*logFormat, stderr)
	if err != nil {
		return err
	}
	if *anomalyRate < 0 || *anomalyRate > 1 || *anomalyRate != *anomalyRate {
		return usageError("--anomaly-rate must be between 0 and 1")
	}
	if (*notifyURL == "") != (*notifySecret == "") {
		return usageError("--notify-url and --notify-secret go together")
	}
	path, ok := strings.CutPrefix(*db, "sqlite:")
	if !ok || path == "" {
		return usageError(fmt.Sprintf("--db %q: the sandbox ledger is a SQLite file, sqlite:PATH", *db))
	}
	if err := f.Validate(); err != nil {
		return usageError(err.Error())
	}

	journal, err := service.OpenJournal(ctx, path)
	if err != nil {
		return err
	}
	defer journal.Close()
	ledger, err := journal.Load(ctx)
	if err != nil {
		return err
	}
	execLog, err := journal.LoadLog(ctx)
	if err != nil {
		return err
	}
	cfg := sandbox.Config{SettleDelay: *settle, Journal: journal, Ledger: ledger, Log: execLog,
		LateRate: *lateRate, LateDelay: time.Duration(*lateMS) * time.Millisecond, ExecuteResubmissions: !*idempotent}
	opts := []service.Option{service.WithAnomalyRate(*anomalyRate)}
	if *notifyURL != "" {
		n, err := service.NewNotifier(*notifyURL, *notifySecret, log)
		if err != nil {
			return usageError("--notify-secret: " + err.Error())
		}
		cfg.OnFinal = n.Refund
		opts = append(opts, service.WithNotifier(n))
	}
	acq := sandbox.New(cfg)
	if !*voids {
		opts = append(opts, service.WithoutVoids())
	}
	svc, err := service.New(acq, f, log, opts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("sandbox server stopped", "err", err)
		}
	}()
	// Late refunds execute, and wallet refunds settle, on the acquirer's
	// own clock, notified as they do: not at the next call about the key.
	due := make(chan struct{})
	go func() {
		defer close(due)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				acq.RunDue()
			}
		}
	}()
	defer func() { <-due }() // before the journal closes
	log.Info("sandbox acquirer serving", "url", "http://"+ln.Addr().String(), "ledger", path, "entries", len(ledger),
		"latency_ms", f.LatencyMS, "error_rate", f.ErrorRate, "drop_rate", f.DropRate, "late_rate", *lateRate,
		"late_ms", *lateMS, "voids", *voids)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}
