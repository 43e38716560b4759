// Package worker runs refundd's background work: it moves refunds whose
// request gave up (timeout, crash, queued) to a final state, reports
// invoices to ZATCA from the reporting queue, and keeps the idempotency
// table trimmed. Every node runs one; the store's leases make
// sure no refund is worked on by two nodes at once.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/refundd/refundd/refund"
)

// Config of a Worker.
type Config struct {
	Interval  time.Duration // pause between passes that found nothing (default 500ms)
	Batch     int           // refunds claimed per pass (default 50)
	Parallel  int           // processor calls in flight per pass (default 8)
	Housekeep time.Duration // how often expired idempotency keys are deleted (default 1h)
	Log       *slog.Logger
}

// Worker polls the service for due refunds.
type Worker struct {
	svc    *refund.Service
	cfg    Config
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a stopped worker.
func New(svc *refund.Service, cfg Config) *Worker {
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Housekeep <= 0 {
		cfg.Housekeep = time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Worker{svc: svc, cfg: cfg}
}

// RunOnce does one pass and returns how many refunds and documents to
// report to ZATCA it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	n, err := w.svc.ProcessDue(ctx, w.cfg.Batch, w.cfg.Parallel)
	// Reporting goes on even when refunds could not be claimed this pass.
	m, rerr := w.svc.ReportInvoices(ctx, w.cfg.Batch)
	return n + m, errors.Join(err, rerr)
}

// Start runs passes in the background until Stop. Starting a started
// worker does nothing.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		return nil
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go w.loop(ctx, w.done)
	return nil
}

func (w *Worker) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	lastHousekeep := time.Time{}
	for {
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.cfg.Log.Error("worker pass failed", "err", err)
		}
		if time.Since(lastHousekeep) >= w.cfg.Housekeep {
			lastHousekeep = time.Now()
			if n, err := w.svc.Housekeep(ctx); err != nil && ctx.Err() == nil {
				w.cfg.Log.Error("housekeeping failed", "err", err)
			} else if n > 0 {
				w.cfg.Log.Info("expired idempotency keys deleted", "count", n)
			}
		}
		wait := w.cfg.Interval
		if n >= w.cfg.Batch {
			wait = 0 // a full batch: there is likely more
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Stop stops the loop and waits for the pass in progress; leases of refunds
// it did not finish simply run out and another node takes them. Safe to
// call twice and on a worker never started.
func (w *Worker) Stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.cancel = nil
	w.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
